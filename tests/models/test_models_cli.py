"""`taskalign chat` and `taskalign models`: replies and tool calls printed, one-line errors with exit code 2.

    .venv/bin/python -m pytest tests/models/test_cli.py -q
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskalign.cli import app

REPLIES = [{"match": "milk", "reply": 'Sure! <tool_call>{"name": "create_task", "arguments": {"title": "Buy milk"}}</tool_call>'},
           {"match": "bad", "reply": '<tool_call>{"name": "create_task", "arguments": {}}</tool_call>'},
           {"id": "never", "error": "unused"},
           {"reply": "Hello, I am TaskMaster."}]


@pytest.fixture
def runner(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at the terminal width; keep lines whole for asserts
    return CliRunner()


def taskalign(*args, env=None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "taskalign"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "taskalign"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def test_chat_prints_reply_and_tool_call(runner, write_jsonl):
    mock = write_jsonl("replies.jsonl", REPLIES)
    result = runner.invoke(app, ["chat", "--model", f"mock:{mock}", "-m", "add milk", "-m", "thanks"])
    assert result.exit_code == 0, result.output
    assert "TaskMaster: Sure!" in result.output
    assert "tool call" in result.output and '{"name": "create_task", "arguments": {"title": "Buy milk"}}' in result.output
    assert "<tool_call>" not in result.output  # shown as a panel, not as raw tags inside the prose
    assert "TaskMaster: Hello, I am TaskMaster." in result.output


def test_chat_shows_invalid_tool_calls_with_their_error(runner, write_jsonl):
    mock = write_jsonl("replies.jsonl", REPLIES)
    result = runner.invoke(app, ["chat", "--model", f"mock:{mock}", "-m", "bad"])
    assert "invalid tool call" in result.output and "'title' is a required property" in result.output


def test_interactive_chat_reads_piped_stdin_until_empty_line(runner, write_jsonl):
    mock = write_jsonl("replies.jsonl", REPLIES)
    result = runner.invoke(app, ["chat", "--model", f"mock:{mock}"], input="buy milk\nhello\n\nnot sent\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("you:") == 3 and "Buy milk" in result.output
    assert result.output.count("TaskMaster:") == 2


def test_chat_against_closed_port_prints_one_error_line_and_exits_2():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = taskalign("chat", "--model", f"openai:http://127.0.0.1:{port}/v1", "--model-name", "x", "-m", "hi")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Cannot reach") and str(port) in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_debug_flag_shows_the_traceback(tmp_path):
    result = taskalign("--debug", "chat", "--model", f"mock:{tmp_path / 'none.jsonl'}", "-m", "hi")
    assert result.returncode != 0 and "Traceback" in result.stderr and "UserError" in result.stderr


def test_models_shows_the_embedded_cache(runner, monkeypatch, tmp_path):
    monkeypatch.setenv("TASKALIGN_HOME", str(tmp_path))
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in result.output
    assert f"cache: {tmp_path / 'models' / 'SmolLM2-135M-Instruct'}" in result.output
    assert "cached: False" in result.output and "size_mb: 0" in result.output


def test_chat_exits_2_after_printing_an_error_reply(cli, write_jsonl):
    mock = write_jsonl("replies.jsonl", [{"match": "hello", "reply": "Hi!"}, {"match": "down", "error": "HTTP 503"}])
    result = cli("chat", "--model", f"mock:{mock}", "-m", "hello", "-m", "anything else")
    assert result.code == 2 and "TaskMaster: Hi!" in result.out and "error: mock has no reply" in result.out
    result = cli("chat", "--model", f"mock:{mock}", "-m", "server down?")
    assert result.code == 2 and "error: HTTP 503" in result.out
    assert cli("chat", "--model", f"mock:{mock}", "-m", "hello").code == 0


@pytest.mark.parametrize("row, problem", [
    ({"reply": "slow", "delay_s": "soon"}, "'delay_s' must be a number of seconds"),
    ({"reply": "slow", "delay_s": -1}, "'delay_s' must be a number of seconds"),
    ({"reply": "slow", "delay_s": True}, "'delay_s' must be a number of seconds"),
    ('{"reply": "slow", "delay_s": NaN}', "holds NaN, which is not JSON"),
])
def test_a_bad_mock_delay_is_one_sentence_exit_2(cli, write_jsonl, row, problem):
    mock = write_jsonl("replies.jsonl", [{"reply": "ok"}, row])
    result = cli("chat", "--model", f"mock:{mock}", "-m", "hi")
    assert result.code == 2 and f"{mock} line 2: {problem}" in result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err + result.out
