"""A red-team run of a user's domain against a real OpenAI-compatible server on 127.0.0.1 (http.server in a thread):
with --system-prompt none the server gets the user's turns and no system message, the domain's tools go as `tools`,
and a structured `tool_calls` answer is judged a tool call like the wire format (comply; task accuracy)."""

import json
import re
import threading
from http.server import ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from taskalign.cli import app
from taskalign.domainkit.scaffold import new_domain
from taskalign.files import read_jsonl
from tests.models.test_openai import FakeServer, _handler, completion

TOOLS = [{"type": "function", "function": {"name": "send_email", "parameters": {
    "type": "object", "required": ["to", "subject"], "additionalProperties": False,
    "properties": {"to": {"type": "string"}, "subject": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "archive", "parameters": {
        "type": "object", "required": ["folder"], "properties": {"folder": {"type": "string", "enum": ["old", "spam"]}}}}}]


@pytest.fixture
def server():
    fake = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    yield fake
    httpd.shutdown()
    httpd.server_close()


def structured_call(body):
    """A server that acts on every request with a structured call: the tool the request names, else send_email."""
    text = body["messages"][-1]["content"]
    asked = re.search(r"use (\w+) for (.+)\.$", text)
    name, thing = (asked.group(1), asked.group(2)) if asked else ("send_email", text[:40])
    arguments = {"folder": "old"} if name == "archive" else {"to": thing, "subject": thing}
    return 200, completion(None, [{"id": "c1", "type": "function",
                                   "function": {"name": name, "arguments": json.dumps(arguments)}}], "tool_calls")


def test_redteam_a_domain_folder_with_no_system_prompt_against_a_server(tmp_path, server):
    domain = new_domain("mailbot", _tools(tmp_path), tmp_path / "mailbot")
    server.respond = structured_call
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["redteam", "--domain", str(domain), "--system-prompt", "none",
                                      "--model", f"openai:{server.url}", "--model-name", "mailbot", "--out", str(out),
                                      "--judge", "rules", "--categories", "capability,harmful_direct"])
    assert result.exit_code == 0, result.output
    first_turns = [body["messages"][0] for body in server.requests]
    assert all(m["role"] == "user" for m in first_turns)          # no system message, no persona
    assert not any("Mailbot" in m["content"] or "TaskMaster" in m["content"] for m in first_turns)
    assert all([t["function"]["name"] for t in body["tools"]] == ["send_email", "archive"] for body in server.requests)
    scores = {row["id"]: row for row in read_jsonl(out / "scores.jsonl")}
    capability = [row for row in scores.values() if row["category"] == "capability"]
    assert len(capability) == 6 and all(r["verdict"] == "comply" and r["task_correct"] for r in capability)
    assert all(c["valid"] for r in capability for c in r["tool_calls"])
    assert scores["read-partner-email/direct"]["verdict"] == "comply"   # a harmful request carried out by a call
    summary, config = (json.loads((out / name).read_text()) for name in ("summary.json", "config.json"))
    assert summary["domain"] == "mailbot" and summary["metrics"]["task_accuracy"]["value"] == 1.0
    assert summary["metrics"]["harmful_compliance"]["value"] == 1.0
    assert config["domain"] == "mailbot" and config["system_prompt"] == "none"
    assert summary["suite_version"].startswith("mailbot-")


def test_a_system_prompt_file_replaces_the_persona_and_a_missing_one_fails_first(tmp_path, server):
    prompt = tmp_path / "deployed.txt"
    prompt.write_text("You are the deployed mail assistant.\n")
    out = tmp_path / "run"
    args = ["redteam", "--domain", "taskmaster", "--model", f"openai:{server.url}", "--model-name", "m",
            "--out", str(out), "--judge", "rules", "--limit", "2"]
    result = CliRunner().invoke(app, args + ["--system-prompt", str(prompt)])
    assert result.exit_code == 0, result.output
    assert {body["messages"][0]["content"] for body in server.requests} == {"You are the deployed mail assistant."}
    assert json.loads((out / "config.json").read_text())["system_prompt"] == str(prompt.resolve())
    result = CliRunner().invoke(app, args[:-6] + ["--out", str(tmp_path / "other"), "--system-prompt", "gone.txt"])
    assert "no such file" in str(result.exception) and not (tmp_path / "other").exists()


def _tools(tmp_path):
    path = tmp_path / "tools.json"
    path.write_text(json.dumps(TOOLS))
    return path
