"""`Idempotency-Key` on POST /v1/tasks: a retry returns the first task, per owner, even after a crash between the
commit and the response (a real SIGKILL of a server process)."""

import signal
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from taskalign.serve import store as store_module
from taskalign.serve.store import Store
from tests.serve.conftest import client, free_port, mock_file, server_process

BODY = {"title": "Pay rent", "due_date": "2026-04-01", "tags": ["home"]}


def _post(http, body, key):
    return http.post("/v1/tasks", json=body, headers={"Idempotency-Key": key})


def test_a_repeated_key_returns_the_first_task(serve):
    url, keys, store = serve([{"reply": "hi"}])
    with client(url, keys["alice"]) as http:
        first = _post(http, BODY, "k-1")
        again = _post(http, dict(reversed(BODY.items())), "k-1")  # the same fields in another order
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert _post(http, BODY, "k-2").json()["id"] != first.json()["id"]
        assert http.post("/v1/tasks", json=BODY).status_code == 201  # no key: every request creates
    assert len(store.list_tasks("alice")) == 3


def test_the_same_key_with_another_body_is_a_conflict(serve):
    url, keys, store = serve([{"reply": "hi"}])
    with client(url, keys["alice"]) as http:
        _post(http, BODY, "k-1")
        clash = _post(http, {**BODY, "title": "Pay the rent"}, "k-1")
    assert clash.status_code == 409
    assert clash.json()["error"]["message"] == "this Idempotency-Key was already used with a different body"
    assert [t["title"] for t in store.list_tasks("alice")] == ["Pay rent"]


def test_keys_are_per_owner(serve):
    url, keys, store = serve([{"reply": "hi"}])
    with client(url, keys["alice"]) as alice, client(url, keys["bob"]) as bob:
        mine, theirs = _post(alice, BODY, "shared"), _post(bob, {"title": "Other"}, "shared")
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert [t["title"] for t in store.list_tasks("bob")] == ["Other"]
    assert store.get_task("bob", mine.json()["id"]) is None


def test_concurrent_requests_with_one_key_create_one_task(serve):
    url, keys, store = serve([{"reply": "hi"}])
    with client(url, keys["alice"]) as http, ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: _post(http, BODY, "k-once"), range(8)))
    assert {r.status_code for r in replies} == {201} and len({r.json()["id"] for r in replies}) == 1
    assert len(store.list_tasks("alice")) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\tkey"])
def test_malformed_keys_are_rejected(serve, key):
    url, keys, store = serve([{"reply": "hi"}])
    with client(url, keys["alice"]) as http:
        assert _post(http, BODY, key).status_code == 422
    assert store.list_tasks("alice") == []


def test_a_database_from_before_idempotency_keys_is_migrated(tmp_path, monkeypatch):
    db = tmp_path / "tasks.sqlite"
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:2])
    old = Store(db)
    task = old.create_task("alice", {"title": "Old task"})
    assert old.schema_version() == 2
    old.close()
    monkeypatch.undo()
    new = Store(db)
    assert new.schema_version() == 3 and new.get_task("alice", task["id"])["title"] == "Old task"
    assert new.create_task_once("alice", BODY, "k")[0]["id"] == new.create_task_once("alice", BODY, "k")[0]["id"]


# Runs `taskalign serve` with the store's keyed create patched to SIGKILL the process once it has committed: the
# client never gets the response, which is exactly the case a retry must not turn into a second task.
CRASH_AFTER_COMMIT = """
import os, signal, sys
from taskalign.serve.store import Store
create = Store.create_task_once
def create_then_die(self, *args, **kwargs):
    create(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
Store.create_task_once = create_then_die
sys.argv[0] = "taskalign"
from taskalign.cli import main
main()
"""


def test_a_retry_after_a_kill_between_commit_and_response_returns_the_stored_task(tmp_path):
    mock, db, port = mock_file(tmp_path / "m.jsonl", [{"reply": "hi"}]), tmp_path / "tasks.sqlite", free_port()
    key = Store(db).add_key("alice")
    url, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}
    proc = server_process(tmp_path, mock, db, port, python=("-c", CRASH_AFTER_COMMIT))
    try:
        with pytest.raises(httpx.HTTPError):  # the connection drops: no response, no status
            httpx.post(f"{url}/v1/tasks", json=BODY, headers={**auth, "Idempotency-Key": "retry-me"}, timeout=30)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        proc.kill()
    [saved] = Store(db).list_tasks("alice")  # committed, never acknowledged
    proc = server_process(tmp_path, mock, db, port)
    try:
        with httpx.Client(base_url=url, headers=auth, timeout=30) as http:
            retry = _post(http, BODY, "retry-me")
            listed = http.get("/v1/tasks").json()["data"]
    finally:
        proc.terminate()
        proc.wait(10)
    assert retry.status_code == 201 and retry.json() == saved
    assert [t["id"] for t in listed] == [saved["id"]]
