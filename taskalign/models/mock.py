"""Scripted replies for tests and demos: `--model mock:replies.jsonl`.

Each line is {"reply": "..."} plus `id` (matches a case id / generation key, optionally with `turn`), or `match`
(a substring of the last user message, case-insensitive), or neither (the default reply). `"error": "..."` scripts a
failure; `"delay_s": 0.2` scripts latency. Unmatched conversations get the default reply, or an error reply when the file has none.
"""

import time
from pathlib import Path

from taskalign.errors import UserError
from taskalign.files import read_rows
from taskalign.models.base import ChatModel, GenerationConfig, Reply


class MockModel(ChatModel):
    def __init__(self, path: str | Path):
        self.spec = f"mock:{path}"
        self.by_id, self.by_match, self.default = {}, [], None
        self.calls = 0
        for lineno, row in _read_rows(Path(path)):
            if problem := _row_problem(row):
                raise UserError(f"{path} line {lineno}: {problem}.")
            if "id" in row:
                self.by_id[(str(row["id"]), row.get("turn"))] = row
            elif "match" in row:
                self.by_match.append((str(row["match"]).lower(), row))
            else:
                self.default = row

    def _lookup(self, conversation: list[dict], key: str | None) -> dict | None:
        turn = sum(1 for m in conversation if m["role"] == "user")
        for k in ((key, turn), (key, None)):
            if k in self.by_id:
                return self.by_id[k]
        last_user = next((m["content"] for m in reversed(conversation) if m["role"] == "user"), "").lower()
        return next((row for needle, row in self.by_match if needle in last_user), self.default)

    def generate(self, conversations, config=GenerationConfig(), keys=None):
        keys = keys or [None] * len(conversations)
        replies = []
        for conversation, key in zip(conversations, keys):
            self.calls += 1
            start = time.perf_counter()
            row = self._lookup(conversation, key)
            time.sleep((row or {}).get("delay_s", 0))  # scripted latency, for concurrency and resume tests
            if row is None:
                replies.append(Reply.failed(f"mock has no reply for {key or 'this conversation'}"))
            elif row.get("error"):
                replies.append(Reply.failed(str(row["error"])))
            else:
                text = str(row["reply"])
                replies.append(Reply.from_text(text, completion_tokens=len(text.split()),
                                               latency_s=time.perf_counter() - start, finish_reason="stop"))
        return replies


def _row_problem(row: dict) -> str | None:
    if "reply" not in row and "error" not in row:
        return "a mock row needs a 'reply' or an 'error' key"
    delay = row.get("delay_s", 0)
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 3600:
        return f"'delay_s' must be a number of seconds from 0 to 3600, not {delay!r}"
    return None


def _read_rows(path: Path):
    if not path.is_file():
        raise UserError(f"Mock reply file {path} does not exist; pass mock:<path to a JSONL file>.")
    return read_rows(path, "mock reply")
