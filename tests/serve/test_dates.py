"""Dates are real calendar dates in ASCII digits on every path: REST create and PATCH, `?due_before=`, tool calls."""

import pytest
from pydantic import ValidationError

from taskalign.domain import parse_tool_calls
from taskalign.serve.schemas import TaskCreate
from taskalign.serve.tools import execute_calls
from tests.serve.conftest import CALL, client

GOOD = ["2024-02-29", "2026-03-02", "0001-01-01", "9999-12-31"]
BAD = ["2024-13-45", "2024-02-30", "2023-02-29", "0000-00-00", "2024-00-10", "2024-04-31",
       "٢٠٢٤-٠١-٠١",  # Arabic-Indic digits: `\d` matches them, a calendar does not
       "２０２４-０１-０１",  # fullwidth digits
       "2024-01-01\n", " 2024-01-01", "20240101", "2024-W01-1", "2024-1-01", ""]


@pytest.mark.parametrize("day", GOOD)
def test_real_dates_are_accepted(day):
    assert TaskCreate(title="t", due_date=day).due_date == day


@pytest.mark.parametrize("day", BAD)
def test_impossible_or_non_ascii_dates_are_rejected_with_one_message(day):
    with pytest.raises(ValidationError, match="real calendar date as YYYY-MM-DD"):
        TaskCreate(title="t", due_date=day)


def test_rest_create_patch_and_filter_reject_bad_dates(serve):
    url, keys, store = serve([{"reply": "hi"}])
    with client(url, keys["alice"]) as http:
        task = http.post("/v1/tasks", json={"title": "Pay rent", "due_date": "2024-02-29"}).json()
        for day in BAD:
            created = http.post("/v1/tasks", json={"title": "x", "due_date": day})
            assert created.status_code == 422, (day, created.text)
            assert "due_date" in created.json()["error"]["message"]
            patched = http.patch(f"/v1/tasks/{task['id']}", json={"due_date": day})
            assert patched.status_code == 422, (day, patched.text)
            listed = http.get("/v1/tasks", params={"due_before": day})
            assert listed.status_code == 422, (day, listed.text)
            assert "due_before" in listed.json()["error"]["message"]
        assert len(http.get("/v1/tasks", params={"due_before": "2024-03-01"}).json()["data"]) == 1
    assert [(t["title"], t["due_date"]) for t in store.list_tasks("alice")] == [("Pay rent", "2024-02-29")]


def _run(store, *calls):
    """The calls run as agent mode runs them: parsed without the tool schema, checked by the executor."""
    return execute_calls(store, "alice", parse_tool_calls("".join(CALL(name, args) for name, args in calls), []))


@pytest.mark.parametrize("day", ["2024-02-30", "٢٠٢٤-٠١-٠١", "0000-00-00"])
def test_tool_calls_with_bad_dates_become_tool_errors(serve, day):
    _, _, store = serve([{"reply": "hi"}])
    task = store.create_task("alice", {"title": "Pay rent", "due_date": "2026-03-10"})
    rows = _run(store, ("create_task", {"title": "New", "due_date": day}),
                ("update_task", {"task": "Pay rent", "due_date": day}),
                ("list_tasks", {"due_before": day}),
                ("create_task", {"title": "Leap day", "due_date": "2028-02-29"}))
    assert [r["ok"] for r in rows] == [False, False, False, True]
    for row, field in zip(rows, ["due_date", "due_date", "due_before"]):
        assert row["error"] == f"invalid arguments: {field}: must be a real calendar date as YYYY-MM-DD (ASCII digits)"
    assert store.get_task("alice", task["id"])["due_date"] == "2026-03-10"
    assert [t["title"] for t in store.list_tasks("alice")] == ["Pay rent", "Leap day"]


def test_bad_date_in_agent_chat_is_a_reply_not_a_server_error(serve):
    url, keys, store = serve([{"reply": "On it. " + CALL("create_task", {"title": "Rent", "due_date": "2024-02-30"})}])
    with client(url, keys["alice"]) as http:
        r = http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "rent on feb 30"}]})
    assert r.status_code == 200, r.text
    [row] = r.json()["taskalign"]["tool_calls"]
    assert not row["ok"] and "real calendar date" in row["error"]
    assert "✗ create_task: invalid arguments: due_date" in r.json()["choices"][0]["message"]["content"]
    assert store.list_tasks("alice") == []
