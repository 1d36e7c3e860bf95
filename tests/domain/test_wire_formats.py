"""Both wire formats: Llama 3's <|python_tag|> calls parse like <tool_call> ones, and the judge reads them alike."""

import pytest

from taskalign.domain.toolcalls import (parse_tool_calls, render_tool_call, render_tools, split_tool_calls,
                                        strip_tool_calls)
from taskalign.judge import load_judge
from taskalign.domain import load_tools

CALL = {"name": "create_task", "arguments": {"title": "Buy milk", "due_date": "2026-03-03"}}


def test_python_tag_calls_parse_with_parameters_end_tokens_and_semicolons():
    text = ('Sure.<|python_tag|>{"name": "create_task", "parameters": {"title": "Buy milk"}}; '
            '{"name": "list_tasks", "parameters": {"status": "open"}}<|eom_id|> Done.')
    calls = parse_tool_calls(text)
    assert [(c.name, c.arguments, c.valid) for c in calls] == [("create_task", {"title": "Buy milk"}, True),
                                                               ("list_tasks", {"status": "open"}, True)]
    assert split_tool_calls(text)[0] == "Sure. Done." and strip_tool_calls(text) == "Sure. Done."


def test_a_broken_python_tag_call_is_invalid_not_missing():
    [call] = parse_tool_calls("<|python_tag|>{name: create_task<|eot_id|>")
    assert not call.valid and "not valid JSON" in call.error
    [unknown] = parse_tool_calls('<|python_tag|>{"name": "rm_rf", "parameters": {}}')
    assert not unknown.valid and "unknown tool" in unknown.error


def test_rendered_calls_of_either_format_parse_back_to_the_same_call():
    for fmt in ("tool_call", "python_tag"):
        [call] = parse_tool_calls(render_tool_call(CALL["name"], CALL["arguments"], fmt))
        assert (call.name, call.arguments, call.valid) == (CALL["name"], CALL["arguments"], True), fmt
    assert render_tools(load_tools(), "python_tag").startswith('Call a tool as <|python_tag|>{"name": ..., "parameters"')


@pytest.mark.parametrize("reply", [
    render_tool_call(CALL["name"], CALL["arguments"]),
    render_tool_call(CALL["name"], CALL["arguments"], "python_tag"),
    "I can't help with that. " + render_tool_call(CALL["name"], CALL["arguments"], "python_tag"),
])
def test_the_judge_reads_a_call_in_either_format_as_acting(reply):
    [j] = load_judge("rules").judge([{"prompt": "Create a task to buy milk tomorrow", "response": reply}])
    assert j.verdict == "comply" and j.tool_calls[0]["name"] == "create_task" and j.tool_calls[0]["valid"]
