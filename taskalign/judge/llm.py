"""Optional LLM judge through any OpenAI-compatible endpoint, and the ensemble (classifier first, LLM where unsure).

    taskalign judge replies.jsonl --out judged.jsonl --judge llm:openai:http://127.0.0.1:8000/v1 --model-name big
The rubric is data (data/rubric.md). Verdicts are cached in SQLite keyed by hash(model, rubric, prompt, response), so
re-judging costs nothing. Key, retries and cache root are models/openai_client.py's. A reply the LLM cannot judge
(endpoint still failing after retries, or an answer without a usable verdict) gets verdict "error", never a refusal.
"""

import hashlib
import json
import os
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from taskalign.judge.base import UNCERTAIN, VERDICTS, Judge, prompt_text, render_reply
from taskalign.models.openai_client import OpenAIClient, RequestFailed, cache_root

RUBRIC = Path(__file__).parent / "data" / "rubric.md"


def default_cache() -> Path:
    """TASKALIGN_JUDGE_CACHE, else judge-cache.sqlite in taskalign's cache root (see openai_client.cache_root)."""
    return Path(os.environ.get("TASKALIGN_JUDGE_CACHE") or cache_root() / "judge-cache.sqlite")


class Cache:
    """A tiny SQLite key -> JSON store; one connection per call keeps it safe across threads."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(self.path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def get(self, key: str) -> dict | None:
        with sqlite3.connect(self.path) as db:
            row = db.execute("SELECT value FROM verdicts WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: dict) -> None:
        with sqlite3.connect(self.path) as db:
            db.execute("INSERT OR REPLACE INTO verdicts VALUES (?, ?)", (key, json.dumps(value)))


def parse_answer(text: str) -> dict:
    """The first JSON object in the model's answer, checked; raises ValueError when unusable."""
    match = re.search(r"\{.*\}", text or "", re.S)
    if not match:
        raise ValueError("no JSON object in the judge's answer")
    answer = json.loads(match.group(0))
    verdict = str(answer.get("verdict", "")).strip().lower()
    if verdict not in VERDICTS:
        raise ValueError(f"verdict {verdict!r} is not one of {VERDICTS}")
    confidence = answer.get("confidence", 0.8)
    confidence = min(max(float(confidence), 0.0), 1.0) if isinstance(confidence, (int, float)) else 0.8
    return {"verdict": verdict, "confidence": confidence, "explanation": str(answer.get("explanation", ""))[:300]}


class LLMJudge(Judge):
    sees_calls = True  # the rubric asks it to read the whole reply, tool calls included

    def __init__(self, base_url: str, model_name: str, cache_path: Path | None = None, retries: int = 3,
                 timeout_s: float = 60.0, concurrency: int = 8, backoff_s: float = 0.5):
        self.base_url, self.model_name = base_url.rstrip("/"), model_name
        self.name = f"llm:{model_name}"
        self.rubric = RUBRIC.read_text()
        self.cache = Cache(cache_path or default_cache())
        self.concurrency = concurrency
        self.client = OpenAIClient(self.base_url, "--judge", timeout_s=timeout_s, retries=retries, backoff_s=backoff_s,
                                   max_connections=concurrency)

    def _key(self, prompt: str, response: str) -> str:
        blob = json.dumps([self.model_name, self.rubric, prompt, response])
        return hashlib.sha256(blob.encode()).hexdigest()

    def _ask(self, prompt: str, response: str) -> dict:
        user = f"User request:\n{prompt}\n\nAssistant reply:\n{render_reply(response) or '(empty)'}"
        body = {"model": self.model_name, "temperature": 0, "max_tokens": 200,
                "messages": [{"role": "system", "content": self.rubric}, {"role": "user", "content": user}]}
        return parse_answer(self.client.post("/chat/completions", body).json()["choices"][0]["message"]["content"])

    def _one(self, item: dict) -> tuple[str, float, str]:
        prompt, response = prompt_text(item), str(item.get("response") or "")
        key = self._key(prompt, response)
        cached = self.cache.get(key)
        if cached is None:
            try:
                cached = self._ask(prompt, response)
            except RequestFailed as exc:
                return "error", 0.0, f"LLM judge failed: {exc}"
            except (ValueError, KeyError, IndexError, TypeError) as exc:  # answered, but not with a usable verdict
                return "error", 0.0, f"LLM judge gave no usable verdict ({exc.__class__.__name__}: {str(exc)[:120]})"
            self.cache.put(key, cached)
        return cached["verdict"], cached["confidence"], f"llm: {cached['explanation']}"

    def text_verdicts(self, items):
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(self._one, items))

    def check(self) -> None:
        self.client.check()


class EnsembleJudge(Judge):
    """The cross judge decides when it is confident; replies below `threshold` go to the LLM judge. With `abstain`,
    a reply the LLM cannot judge is `uncertain`; without, it keeps the cross judge's verdict."""

    sees_calls = True  # both judges read the reply's tool calls with the request

    def __init__(self, llm: LLMJudge, threshold: float = 0.8, base: Judge | None = None, abstain: bool = False):
        from taskalign.judge.cross import CrossJudge

        self.llm, self.threshold = llm, threshold
        self.abstain = threshold if abstain else None
        self.base = base or CrossJudge()
        self.name = f"ensemble:{llm.model_name}"

    def text_verdicts(self, items):
        verdicts = self.base.text_verdicts(items)
        unsure = [i for i, (_, conf, _) in enumerate(verdicts) if conf < self.threshold]
        for i, llm_verdict in zip(unsure, self.llm.text_verdicts([items[i] for i in unsure])):
            if llm_verdict[0] != "error":
                verdicts[i] = llm_verdict
            elif self.abstain is not None:
                verdicts[i] = (UNCERTAIN, verdicts[i][1], f"{verdicts[i][2]}; {llm_verdict[2]}")
        return verdicts
