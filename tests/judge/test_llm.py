"""The LLM judge and the ensemble against a real HTTP server on 127.0.0.1 that answers like an OpenAI endpoint."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from taskalign.judge import load_judge


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, code: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(200, {"data": [{"id": "judge-model"}]})

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.hits.append(request)
        reply = request["messages"][-1]["content"]
        if "FLAKY" in reply and len([h for h in self.server.hits if "FLAKY" in h["messages"][-1]["content"]]) == 1:
            return self._send(500, {"error": "try again"})
        if "GARBLED" in reply:
            return self._send(200, {"choices": [{"message": {"role": "assistant", "content": "no idea"}}]})
        verdict = "refuse" if "can't" in reply else "clarify" if "?" in reply else "comply"
        answer = f'Here you go: {{"verdict": "{verdict}", "confidence": 0.9, "explanation": "canned"}}'
        self._send(200, {"choices": [{"message": {"role": "assistant", "content": answer}}]})


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.hits = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()


def test_llm_judge_verdicts_cache_and_retry(server, tmp_path, monkeypatch):
    monkeypatch.setenv("TASKALIGN_JUDGE_CACHE", str(tmp_path / "cache.sqlite"))
    url = f"llm:openai:http://127.0.0.1:{server.server_address[1]}/v1"
    judge = load_judge(url, model_name="judge-model")
    items = [{"prompt": "a", "response": "I can't do that."}, {"prompt": "b", "response": "Which one do you mean?"},
             {"prompt": "c", "response": "Sure. FLAKY"}]
    first = judge.judge(items)
    assert [j.verdict for j in first] == ["refuse", "clarify", "comply"]
    assert first[0].explanation.startswith("llm:") and len(server.hits) == 4  # one 500 was retried
    again = load_judge(url, model_name="judge-model").judge(items)  # a fresh judge, same cache file
    assert [j.verdict for j in again] == ["refuse", "clarify", "comply"] and len(server.hits) == 4


def test_ensemble_asks_llm_only_when_cross_judge_unsure(server, tmp_path, monkeypatch):
    from taskalign.judge.llm import EnsembleJudge, LLMJudge

    llm = LLMJudge(f"http://127.0.0.1:{server.server_address[1]}/v1", "judge-model", cache_path=tmp_path / "c.sqlite")
    items = [{"prompt": "a", "response": "I'm sorry, but I can't help with that."}]
    assert EnsembleJudge(llm, threshold=0.0).judge(items)[0].explanation.startswith("cross")
    assert server.hits == []
    assert EnsembleJudge(llm, threshold=1.01).judge(items)[0].explanation.startswith("llm")
    assert len(server.hits) == 1


def test_verdict_cache_lands_under_taskalign_home(server, tmp_path, monkeypatch):
    import sqlite3

    monkeypatch.delenv("TASKALIGN_JUDGE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TASKALIGN_HOME", str(tmp_path / "home"))
    judge = load_judge(f"llm:openai:http://127.0.0.1:{server.server_address[1]}/v1", model_name="judge-model")
    assert judge.judge([{"prompt": "a", "response": "I can't do that."}])[0].verdict == "refuse"
    with sqlite3.connect(tmp_path / "home" / "judge-cache.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM verdicts").fetchone() == (1,)
    assert not (tmp_path / "xdg").exists()


def test_an_answer_without_a_verdict_is_an_error_not_retried(server, tmp_path):
    from taskalign.judge.llm import LLMJudge

    llm = LLMJudge(f"http://127.0.0.1:{server.server_address[1]}/v1", "judge-model", cache_path=tmp_path / "c.sqlite")
    [j] = llm.judge([{"prompt": "a", "response": "GARBLED"}])
    assert j.verdict == "error" and "no usable verdict" in j.explanation and len(server.hits) == 1


def test_unreachable_endpoint_is_a_user_error():
    from taskalign.errors import UserError

    with pytest.raises(UserError, match=r"Cannot reach http://127.0.0.1:9/v1 .*fix the URL in --judge"):
        load_judge("llm:openai:http://127.0.0.1:9/v1", model_name="m")


def test_with_abstain_a_reply_the_llm_cannot_judge_is_uncertain(server, tmp_path):
    from taskalign.judge.llm import EnsembleJudge, LLMJudge

    llm = LLMJudge(f"http://127.0.0.1:{server.server_address[1]}/v1", "judge-model", cache_path=tmp_path / "c.sqlite")
    items = [{"prompt": "a", "response": "GARBLED reply"}, {"prompt": "b", "response": "Which one do you mean?"}]
    kept = EnsembleJudge(llm, threshold=1.01).judge(items)  # every verdict goes to the LLM; it fails on the first
    assert kept[0].verdict != "uncertain" and kept[1].verdict == "clarify"
    abstaining = EnsembleJudge(llm, threshold=1.01, abstain=True)
    first, second = abstaining.judge(items)
    assert first.verdict == "uncertain" and "no usable verdict" in first.explanation
    assert second.verdict == "clarify" and abstaining.abstain == 1.01
