"""Fixtures for the serve tests: a real uvicorn server on 127.0.0.1 (in a thread, or a process to kill) with scripted
or tiny models."""

import json
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from taskalign.domain import render_tool_call
from taskalign.models import load_model
from taskalign.serve.app import Limits, create_app
from taskalign.serve.store import Store


@contextmanager
def running(app):
    """Serve `app` on a free loopback port until the block ends; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "server did not start within 10 s"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def mock_file(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


CALL = render_tool_call  # short alias for scripted replies


@pytest.fixture
def serve(tmp_path):
    """serve(rows or model, mode=..., guard=..., limits=...) -> (base_url, {owner: key}, store); stops at test end."""
    stack = []

    def start(model, mode="agent", guard=None, limits=Limits(), owners=("alice", "bob")):
        if isinstance(model, list):
            model = load_model(f"mock:{mock_file(tmp_path / f'mock{len(stack)}.jsonl', model)}")
        db = tmp_path / "tasks.sqlite"
        keys = {name: Store(db).add_key(name) for name in owners}
        app = create_app(model, db, guard=guard, mode=mode, limits=limits)
        ctx = running(app)
        url = ctx.__enter__()
        stack.append(ctx)
        return url, keys, app.state.serve.store

    yield start
    for ctx in reversed(stack):
        ctx.__exit__(None, None, None)


def client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_process(tmp_path, mock, db, port, python=("-m", "taskalign")) -> subprocess.Popen:
    """`taskalign serve` as a separate process (so a test can SIGKILL it); `python` replaces `-m taskalign`."""
    cmd = [sys.executable, *python, "serve", "--model", f"mock:{mock}", "--db", str(db), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "ab"))
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail("server subprocess did not start within 30 s: " + (tmp_path / "server.log").read_text()[-500:])
