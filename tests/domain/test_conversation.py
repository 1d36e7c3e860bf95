"""The conversation builder: which system message a conversation starts with, and how turns are appended."""

from taskalign.domain import conversation, load_tools, system_prompt


def test_start_uses_the_given_system_else_taskmasters_for_that_day_and_tools():
    assert conversation.start() == [{"role": "system", "content": system_prompt()}]
    assert conversation.start("Be brief.") == [{"role": "system", "content": "Be brief."}]
    tools = load_tools()[:1]
    [msg] = conversation.start(today="2025-01-15", tools=tools)
    assert msg["content"] == system_prompt("2025-01-15", tools) and "2025-01-15" in msg["content"]
    assert "list_tasks(" not in msg["content"]  # only the given tool is described


def test_a_case_keeps_its_own_system_and_an_empty_one_means_taskmaster():
    assert conversation.for_case({"turns": ["hi"], "system": "Custom."})[0]["content"] == "Custom."
    assert conversation.for_case({"turns": ["hi"], "system": ""}) == conversation.start()
    assert conversation.for_case({"turns": ["hi"]}) == conversation.start()


def test_add_appends_to_the_same_list():
    messages = conversation.start("S")
    assert conversation.add(messages, "user", "hi") is messages
    conversation.add(messages, "assistant", "hello")
    assert [(m["role"], m["content"]) for m in messages] == [("system", "S"), ("user", "hi"), ("assistant", "hello")]
    assert conversation.start() is not conversation.start()  # each conversation is its own list
