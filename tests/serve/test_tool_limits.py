"""The model's tool calls meet the same field limits as REST, and bad arguments become tool errors, never a 500."""

import json

import pytest
from pydantic import ValidationError

from taskalign.domain import load_tools, parse_tool_calls
from taskalign.serve.schemas import TaskCreate
from taskalign.serve.tools import ARGUMENTS, HANDLERS, execute_calls
from tests.serve.conftest import CALL, client

# (create_task arguments, accepted?) — the same cases go through REST and through a tool call.
CREATE_CASES = [
    ({"title": "t" * 200}, True),
    ({"title": "t" * 201}, False),
    ({"title": "t" * 100_000}, False),
    ({"title": "ok", "notes": "n" * 4000}, True),
    ({"title": "ok", "notes": "n" * 500_000}, False),
    ({"title": "ok", "tags": ["x" * 50] * 20}, True),
    ({"title": "ok", "tags": ["x" * 51]}, False),
    ({"title": "ok", "tags": ["x"] * 21}, False),
    ({"title": "ok", "tags": [""]}, False),
    ({"title": "ok", "subtasks": ["s"] * 51}, False),
    ({"title": "ok", "subtasks": ["s" * 201]}, False),
    ({"title": "bad \ud800 x"}, False),
    ({"title": "ok", "notes": "\udfff"}, False),
]


def _run(store, *calls):
    return execute_calls(store, "alice", parse_tool_calls("".join(CALL(name, args) for name, args in calls)))


def _rest_accepts(http, arguments: dict) -> bool:
    try:
        TaskCreate.model_validate(arguments)  # what POST /v1/tasks validates its body with
    except ValidationError:
        schema_ok = False
    else:
        schema_ok = True
    # json.dumps writes a lone surrogate as a \\ud800 escape: valid JSON text that the server must refuse (400 or 422)
    reply = http.post("/v1/tasks", content=json.dumps(arguments), headers={"Content-Type": "application/json"})
    assert reply.status_code in ((201,) if schema_ok else (400, 422)), (arguments, reply.text)
    return schema_ok


def test_tool_calls_and_rest_accept_exactly_the_same_task_fields(serve):
    url, keys, store = serve([{"reply": "hi"}])
    with client(url, keys["bob"]) as http:
        for arguments, accepted in CREATE_CASES:
            assert _rest_accepts(http, arguments) is accepted, arguments
            [row] = _run(store, ("create_task", arguments))
            assert row["ok"] is accepted, (arguments, row["error"])
            assert accepted or row["error"].startswith("invalid arguments: ")
    accepted = sum(ok for _, ok in CREATE_CASES)
    assert len(store.list_tasks("alice")) == accepted and len(store.list_tasks("bob")) == accepted


def test_over_limit_errors_name_the_field_and_the_limit(serve):
    _, _, store = serve([{"reply": "hi"}])
    store.create_task("alice", {"title": "Pay rent"})
    rows = _run(store, ("create_task", {"title": "t" * 100_000}),
                ("update_task", {"task": "Pay rent", "notes": "n" * 4001}),
                ("list_tasks", {"tag": "x" * 51}), ("complete_task", {"task": "t" * 201}))
    assert [r["error"] for r in rows] == [
        "invalid arguments: title: String should have at most 200 characters",
        "invalid arguments: notes: String should have at most 4000 characters",
        "invalid arguments: tag: String should have at most 50 characters",
        "invalid arguments: task: String should have at most 200 characters"]
    assert store.get_task("alice", store.list_tasks("alice")[0]["id"])["notes"] is None


def test_lone_surrogates_in_any_argument_are_refused_and_echoed_escaped(serve):
    _, _, store = serve([{"reply": "hi"}])
    store.create_task("alice", {"title": "Pay rent"})
    rows = _run(store, ("update_task", {"task": "Pay rent", "title": "x\ud800"}), ("complete_task", {"task": "\udc00"}),
                ("list_tasks", {"tag": "\ud800"}), ("delete_task", {"task": "Pay rent\udfff"}))
    assert not any(r["ok"] for r in rows)
    assert all("text must be valid UTF-8 (no lone surrogates)" in r["error"] for r in rows)
    assert rows[0]["arguments"] == {"task": "Pay rent", "title": "x\\ud800"}  # printable, so the response can carry it
    assert [(t["title"], t["status"]) for t in store.list_tasks("alice")] == [("Pay rent", "open")]


# The model writes JSON text; a \ud800 escape in it decodes to a lone surrogate inside the arguments.
SURROGATE = '<tool_call>{"name": "create_task", "arguments": {"title": "bad \\ud800 x"}}</tool_call>'
REPLIES = [
    {"match": "huge", "reply": CALL("create_task", {"title": "t" * 100_000, "notes": "n" * 500_000})},
    {"match": "surrogate", "reply": "Sure. " + SURROGATE},
    {"match": "mixed", "reply": CALL("create_task", {"title": "t" * 201}) + CALL("create_task", {"title": "Fine"})},
]


@pytest.mark.parametrize("stream", [False, True])
def test_agent_chat_reports_bad_tool_calls_and_stores_only_good_ones(serve, stream):
    url, keys, store = serve(REPLIES)
    with client(url, keys["alice"]) as http:
        for ask in ("huge", "surrogate", "mixed"):
            r = http.post("/v1/chat/completions", json={"stream": stream,
                                                          "messages": [{"role": "user", "content": ask}]})
            assert r.status_code == 200, (ask, r.text[:300])
            assert "invalid arguments" in r.text
    assert [t["title"] for t in store.list_tasks("alice")] == ["Fine"]


def test_plain_chat_returns_a_surrogate_argument_as_json_escapes(serve):
    url, keys, _ = serve(REPLIES, mode="plain")
    with client(url, keys["alice"]) as http:
        r = http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "surrogate"}]})
    assert r.status_code == 200, r.text
    [call] = r.json()["choices"][0]["message"]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"title": "bad \ud800 x"}


def test_every_tool_has_a_handler_and_an_argument_schema():
    names = {tool["function"]["name"] for tool in load_tools()}
    assert set(ARGUMENTS) == set(HANDLERS) == names
    for tool in load_tools():  # every argument the model may send is one the REST schema knows
        assert set(tool["function"]["parameters"]["properties"]) <= set(ARGUMENTS[tool["function"]["name"]].model_fields)
