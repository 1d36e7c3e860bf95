"""OpenAI-compatible backend against a real HTTP server on 127.0.0.1 (http.server in a thread, scripted per test).

    .venv/bin/python -m pytest tests/models/test_openai.py -q
"""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from taskalign.domain import render_tool_call
from taskalign.errors import UserError
from taskalign.models import GenerationConfig, load_model
from taskalign.models.openai_compat import OpenAIModel


def completion(content=None, tool_calls=None, finish_reason="stop"):
    message = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7}}


class FakeServer:
    """Answers /v1/models and /v1/chat/completions; `plan` holds (status, body) answers used before `respond`."""

    def __init__(self):
        self.plan, self.requests, self.delay_s = [], [], 0.0
        self.auth, self.models_status = [], 200  # Authorization headers seen; what GET /v1/models answers
        self.inflight = self.max_inflight = 0
        self.lock = threading.Lock()
        self.respond = lambda body: (200, completion(f"echo: {body['messages'][-1]['content']}"))

    def chat(self, body):
        with self.lock:
            self.requests.append(body)
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
            planned = self.plan.pop(0) if self.plan else None
        time.sleep(self.delay_s)
        with self.lock:
            self.inflight -= 1
        return planned or self.respond(body)


def _handler(fake: FakeServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def _send(self, status, body):
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path != "/v1/models":
                return self._send(404, "{}")
            self._send(fake.models_status, {"data": [{"id": "taskmaster"}]})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.auth.append(self.headers.get("Authorization"))
            self._send(*fake.chat(body)) if self.path == "/v1/chat/completions" else self._send(404, "{}")

    return Handler


@pytest.fixture
def server():
    fake = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    yield fake
    httpd.shutdown()
    httpd.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def model(server, **kwargs) -> OpenAIModel:
    kwargs = {"backoff_s": 0.01, **kwargs}
    return OpenAIModel(server.url, "taskmaster", **kwargs)


def convo(text):
    return [{"role": "system", "content": "You are TaskMaster."}, {"role": "user", "content": text}]


def test_plain_replies_in_order_with_usage_and_tools_sent(server):
    llm = load_model(f"openai:{server.url}", model_name="taskmaster")
    replies = llm.generate([convo(f"message {i}") for i in range(5)], GenerationConfig(max_new_tokens=33))
    assert [r.text for r in replies] == [f"echo: message {i}" for i in range(5)]
    assert all(r.error is None and r.prompt_tokens == 11 and r.completion_tokens == 7 for r in replies)
    assert replies[0].finish_reason == "stop" and replies[0].tool_calls == []
    body = server.requests[0]
    assert body["model"] == "taskmaster" and body["max_tokens"] == 33 and body["temperature"] == 0.0
    assert {t["function"]["name"] for t in body["tools"]} >= {"create_task", "list_tasks"}
    llm.close()


def test_structured_tool_calls_become_the_wire_format(server):
    calls = [{"id": "c1", "type": "function", "function": {"name": "create_task", "arguments": '{"title": "Buy milk"}'}},
             {"id": "c2", "type": "function", "function": {"name": "list_tasks", "arguments": {"status": "open"}}},
             {"id": "c3", "type": "function", "function": {"name": "delete_task", "arguments": "{oops"}}]
    server.respond = lambda body: (200, completion("On it.", calls, "tool_calls"))
    [reply] = model(server).generate([convo("add milk")])
    assert reply.text == "\n".join(["On it.", render_tool_call("create_task", {"title": "Buy milk"}),
                                    render_tool_call("list_tasks", {"status": "open"}),
                                    render_tool_call("delete_task", {"_unparsed": "{oops"})])
    assert [(c.name, c.valid) for c in reply.tool_calls] == [("create_task", True), ("list_tasks", True),
                                                             ("delete_task", False)]
    assert reply.finish_reason == "tool_calls"


def test_a_tool_round_in_the_history_goes_as_structured_calls_and_results(server):
    call = render_tool_call("list_tasks", {"status": "open"})
    history = [{"role": "system", "content": "You are TaskMaster."}, {"role": "user", "content": "Show my tasks."},
               {"role": "assistant", "content": "Sure. " + call},
               {"role": "tool", "content": '{"tasks": [{"id": "T-1", "notes": "do X"}]}'},
               {"role": "user", "content": "Handle the open items."}]
    [reply] = model(server).generate([history])
    assert reply.error is None
    sent = server.requests[0]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "user"]
    assert sent[2]["content"] == "Sure." and len(sent[2]["tool_calls"]) == 1
    structured = sent[2]["tool_calls"][0]
    assert structured["function"]["name"] == "list_tasks"
    assert json.loads(structured["function"]["arguments"]) == {"status": "open"}
    assert sent[3]["tool_call_id"] == structured["id"] and sent[3]["content"] == history[3]["content"]
    # An assistant reply whose call got no tool answer (the model's own earlier turn) goes as text, as before.
    plain = [history[0], history[1], {"role": "assistant", "content": call}, {"role": "user", "content": "thanks"}]
    model(server).generate([plain])
    assert server.requests[1]["messages"] == plain


def test_transient_429_and_500_are_retried_then_succeed(server):
    server.plan = [(429, {"error": "slow down"}), (500, {"error": "boom"})]
    [reply] = model(server, retries=3).generate([convo("hi")])
    assert reply.error is None and reply.text == "echo: hi"
    assert len(server.requests) == 3


def test_backoff_grows_between_retries(server):
    server.plan = [(503, "{}")] * 2
    start = time.perf_counter()
    [reply] = model(server, retries=2, backoff_s=0.2).generate([convo("hi")])
    assert reply.error is None
    assert time.perf_counter() - start >= 0.2 + 0.4  # backoff_s * 2**k for k = 0, 1


def test_persistent_500_is_an_error_reply_not_an_empty_success(server):
    server.respond = lambda body: (500, {"error": "model crashed"})
    [reply] = model(server, retries=2).generate([convo("hi")])
    assert reply.text == "" and reply.finish_reason == "error"
    assert reply.error.startswith(f"{server.url}/chat/completions answered HTTP 500")
    assert "model crashed" in reply.error
    assert len(server.requests) == 3


@pytest.mark.parametrize("status,body,error", [(401, {"error": "bad key"}, "HTTP 401"),
                                               (200, "not json", "malformed response"),
                                               (200, {"choices": []}, "malformed response"),
                                               (200, completion(""), "empty reply")])
def test_bad_answers_are_error_replies_without_retrying_them(server, status, body, error):
    server.respond = lambda _: (status, body)
    [reply] = model(server, retries=2).generate([convo("hi")])
    assert reply.text == "" and error in reply.error
    assert len(server.requests) == 1


def test_timeout_is_an_error_reply(server):
    server.delay_s = 1.0
    [reply] = model(server, retries=0, timeout_s=0.2).generate([convo("hi")])
    assert "Timeout" in reply.error and reply.text == ""


def test_concurrency_is_bounded(server):
    server.delay_s = 0.15
    replies = model(server, concurrency=3).generate([convo(f"m{i}") for i in range(10)])
    assert [r.text for r in replies] == [f"echo: m{i}" for i in range(10)]
    assert server.max_inflight == 3  # parallel, but never more than asked


def test_400_about_tools_is_resent_without_tools(server):
    server.respond = lambda body: (400, {"error": "tools are not supported by this model"}) if "tools" in body \
        else (200, completion("ok without tools"))
    llm = model(server, retries=0)  # the resend must not use up a retry
    [reply] = llm.generate([convo("hi")])
    assert reply.text == "ok without tools"
    assert ["tools" in b for b in server.requests] == [True, False]
    llm.generate([convo("again")])
    assert "tools" not in server.requests[-1] and len(server.requests) == 3  # remembered: no second 400


def test_openai_needs_a_model_name(server):
    with pytest.raises(UserError, match="--model-name"):
        load_model(f"openai:{server.url}")


def test_unreachable_endpoint_is_a_quick_user_error():
    start = time.perf_counter()
    url = f"http://127.0.0.1:{closed_port()}/v1"
    with pytest.raises(UserError, match=f"Cannot reach {url} .*start the server or fix the URL in --model"):
        load_model(f"openai:{url}", model_name="x")
    assert time.perf_counter() - start < 5


def test_refused_key_is_a_user_error_before_any_request(server, monkeypatch):
    server.models_status = 401
    monkeypatch.delenv("TASKALIGN_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UserError, match="refused the API key .*set TASKALIGN_API_KEY or OPENAI_API_KEY"):
        load_model(f"openai:{server.url}", model_name="taskmaster")
    assert server.requests == []


@pytest.mark.parametrize("env,sent", [({"TASKALIGN_API_KEY": "sk-ta", "OPENAI_API_KEY": "sk-oa"}, "Bearer sk-ta"),
                                      ({"OPENAI_API_KEY": "sk-oa"}, "Bearer sk-oa"), ({}, None)])
def test_api_key_comes_from_taskalign_then_openai_variable(server, monkeypatch, env, sent):
    for name in ("TASKALIGN_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    llm = model(server)
    llm.generate([convo("hi")])
    assert server.auth == [sent]
