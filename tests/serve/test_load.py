"""Load and crash safety: 50 concurrent chat requests succeed and are batched; a SIGKILLed server loses no task
whose creation had returned 200."""

import asyncio
import os
import signal

import httpx

from taskalign.models import load_model
from taskalign.serve.store import Store
from tests.serve.conftest import CALL, free_port, mock_file, server_process

N = 50


def _rows():
    return [{"match": f"[req-{i:03d}]", "reply": CALL("create_task", {"title": f"load task {i:03d}"})} for i in range(N)]


async def _fire(url: str, key: str, n: int, on_done=None) -> list:
    """n concurrent chat requests; each result is (i, status or exception, body)."""
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        async def one(i):
            try:
                r = await http.post("/v1/chat/completions", json={
                    "messages": [{"role": "user", "content": f"make it [req-{i:03d}]"}], "max_tokens": 8})
                result = (i, r.status_code, r.json())
            except httpx.HTTPError as exc:
                result = (i, exc, None)
            if on_done:
                on_done(result)
            return result
        return await asyncio.gather(*(one(i) for i in range(n)))


def test_fifty_concurrent_agent_requests_all_land(serve):
    url, keys, store = serve(_rows(), mode="agent")
    results = asyncio.run(_fire(url, keys["alice"], N))
    assert all(status == 200 for _, status, _ in results)
    titles = sorted(t["title"] for t in store.list_tasks("alice"))
    assert titles == [f"load task {i:03d}" for i in range(N)]


def test_concurrent_requests_are_batched_on_the_tiny_model(serve, tiny_model_dir):
    url, keys, _ = serve(load_model(str(tiny_model_dir)), mode="plain")
    results = asyncio.run(_fire(url, keys["alice"], N))
    assert [s for _, s, _ in results] == [200] * N
    batches = httpx.get(f"{url}/health").json()["batches"]
    assert batches < N  # several requests shared one model.generate call


def test_sigkill_mid_load_loses_no_committed_task(tmp_path):
    mock, db, port = mock_file(tmp_path / "m.jsonl", _rows()), tmp_path / "tasks.sqlite", free_port()
    key = Store(db).add_key("alice")
    proc = server_process(tmp_path, mock, db, port)
    done = []

    def kill_after_some(result):
        done.append(result)
        if len(done) == 10:
            os.kill(proc.pid, signal.SIGKILL)

    try:
        results = asyncio.run(_fire(f"http://127.0.0.1:{port}", key, N, kill_after_some))
    finally:
        proc.kill()
        proc.wait(10)
    committed = [body["taskalign"]["tool_calls"][0]["result"]["task"]["id"] for _, s, body in results if s == 200]
    assert 10 <= len(committed) < N  # the kill really landed mid-load
    proc = server_process(tmp_path, mock, db, port)  # restart: recovery from the WAL happens on open
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}) as http:
            stored = {t["id"] for t in http.get("/v1/tasks").json()["data"]}
    finally:
        proc.terminate()
        proc.wait(10)
    assert set(committed) <= stored
