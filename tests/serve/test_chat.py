"""The OpenAI-compatible chat endpoint, driven with the official `openai` client against a real server."""

import json

import httpx
import openai
import pytest

from taskalign.domain import load_tools
from taskalign.serve.app import Limits
from tests.serve.conftest import CALL, client

REPLIES = [
    {"match": "buy milk", "reply": "Sure! " + CALL("create_task", {"title": "Buy milk", "priority": "high"})},
    {"match": "broken", "reply": CALL("create_task", {"title": 5})},
    {"match": "explode", "error": "CUDA out of memory"},
    # the model wrote the closing tag inside an argument string, unescaped
    {"match": "parser", "reply": 'Done. <tool_call>{"name": "create_task", "arguments": {"title": "Fix the '
                                 '</tool_call> parser"}}</tool_call>'},
    {"reply": "Hello! How can I help with your tasks?"},
]


def oai(url, key):
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=30)


def test_plain_mode_returns_tool_calls(serve):
    url, keys, store = serve(REPLIES, mode="plain")
    out = oai(url, keys["alice"]).chat.completions.create(
        model="taskmaster", messages=[{"role": "user", "content": "Buy milk tomorrow"}], tools=load_tools())
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Sure!"
    [call] = choice.message.tool_calls
    assert call.function.name == "create_task"
    assert json.loads(call.function.arguments) == {"title": "Buy milk", "priority": "high"}
    assert store.list_tasks("alice") == []  # plain mode executes nothing


def test_closing_tag_inside_an_argument_stays_in_the_call(serve):
    url, keys, _ = serve(REPLIES, mode="plain")
    out = oai(url, keys["alice"]).chat.completions.create(
        model="taskmaster", messages=[{"role": "user", "content": "a task for the parser"}])
    message = out.choices[0].message
    assert message.content == "Done."  # nothing of the call leaks into the visible text
    [call] = message.tool_calls
    assert call.function.name == "create_task"
    assert json.loads(call.function.arguments) == {"title": "Fix the </tool_call> parser"}


def test_plain_mode_keeps_invalid_calls_as_text_and_accepts_tool_history(serve):
    url, keys, _ = serve(REPLIES, mode="plain")
    api = oai(url, keys["alice"])
    out = api.chat.completions.create(model="taskmaster", messages=[{"role": "user", "content": "broken one"}])
    assert out.choices[0].finish_reason == "stop" and not out.choices[0].message.tool_calls
    assert "<tool_call>" in out.choices[0].message.content
    with pytest.raises(openai.BadRequestError, match="invalid function parameters schema"):
        api.chat.completions.create(model="taskmaster", messages=[{"role": "user", "content": "hi"}], tools=[
            {"type": "function", "function": {"name": "f", "parameters": {"type": 5}}}])  # plain mode uses them
    history = [{"role": "user", "content": "buy milk"},
               {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
                   "name": "create_task", "arguments": '{"title": "Buy milk"}'}}]},
               {"role": "tool", "tool_call_id": "c1", "content": '{"ok": true}'},
               {"role": "user", "content": "thanks"}]
    assert api.chat.completions.create(model="taskmaster", messages=history).choices[0].message.content.startswith("Hello")


def test_agent_mode_executes_on_the_callers_tasks(serve):
    url, keys, store = serve(REPLIES, mode="agent")
    out = oai(url, keys["alice"]).chat.completions.create(
        model="taskmaster", messages=[{"role": "user", "content": "please buy milk"}])
    assert out.choices[0].finish_reason == "stop"
    assert "created 'Buy milk'" in out.choices[0].message.content
    extra = out.model_extra["taskalign"]
    assert extra["mode"] == "agent" and extra["tool_calls"][0]["ok"]
    [task] = store.list_tasks("alice")
    assert task["title"] == "Buy milk" and task["id"] == extra["tool_calls"][0]["result"]["task"]["id"]
    assert store.list_tasks("bob") == []


def test_streaming_matches_the_full_reply(serve):
    url, keys, _ = serve(REPLIES, mode="plain")
    stream = oai(url, keys["alice"]).chat.completions.create(
        model="taskmaster", messages=[{"role": "user", "content": "hi"}], stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "Hello! How can I help with your tasks?"
    assert chunks[-1].choices[0].finish_reason == "stop"
    calls = list(oai(url, keys["alice"]).chat.completions.create(
        model="taskmaster", messages=[{"role": "user", "content": "buy milk"}], stream=True))
    assert any(c.choices[0].delta.tool_calls for c in calls) and calls[-1].choices[0].finish_reason == "tool_calls"


def test_model_failure_is_a_clean_500_and_changes_nothing(serve):
    url, keys, store = serve(REPLIES, mode="agent")
    with pytest.raises(openai.InternalServerError) as info:
        oai(url, keys["alice"]).chat.completions.create(
            model="taskmaster", messages=[{"role": "user", "content": "explode"}])
    assert info.value.body["type"] == "model_error" and "out of memory" in info.value.body["message"]
    assert store.list_tasks("alice") == []


def test_limits_and_models(serve):
    url, keys, _ = serve(REPLIES, limits=Limits(max_tokens=64, max_messages=3))
    api = oai(url, keys["alice"])
    assert [m.id for m in api.models.list().data] == ["taskmaster"]
    with pytest.raises(openai.BadRequestError, match="limit of 64"):
        api.chat.completions.create(model="t", messages=[{"role": "user", "content": "hi"}], max_tokens=65)
    with pytest.raises(openai.BadRequestError, match="limit of 3"):
        api.chat.completions.create(model="t", messages=[{"role": "user", "content": "hi"}] * 4)
    with pytest.raises(openai.AuthenticationError):
        oai(url, "wrong").chat.completions.create(model="t", messages=[{"role": "user", "content": "hi"}])
    bad_tools = {"messages": [{"role": "user", "content": "hi"}],
                 "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": 5}}}]}
    agent = client(url, keys["alice"]).post("/v1/chat/completions", json=bad_tools)
    assert agent.status_code == 200  # agent mode always uses TaskMaster's own tools, so the client's are never read
    assert agent.json()["choices"][0]["message"]["content"].startswith("Hello")
    assert httpx.get(f"{url}/").text.startswith("<!doctype html>")


def test_taskalign_openai_backend_reads_the_served_model(serve, monkeypatch):
    """`taskalign redteam --model openai:<this server>/v1` sees the same tool calls the model emitted."""
    from taskalign.models import GenerationConfig, load_model

    url, keys, _ = serve(REPLIES, mode="plain")
    monkeypatch.setenv("TASKALIGN_API_KEY", keys["alice"])
    remote = load_model(f"openai:{url}/v1", "taskmaster")
    [reply] = remote.generate([[{"role": "user", "content": "buy milk"}]], GenerationConfig(max_new_tokens=32))
    remote.close()
    assert reply.error is None and reply.finish_reason == "tool_calls"
    assert [(c.name, c.arguments, c.valid) for c in reply.tool_calls] == [
        ("create_task", {"title": "Buy milk", "priority": "high"}, True)]
