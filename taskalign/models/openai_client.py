"""One client for OpenAI-compatible endpoints (vLLM, Ollama, llama.cpp server, OpenAI, `taskalign serve`), shared by
the model backend (openai_compat.py) and the LLM judge (judge/llm.py); also taskalign's cache root.

    client = OpenAIClient("http://127.0.0.1:8000/v1", flag="--model")
    client.check()                                        # one-sentence UserError when nothing answers there
    response = client.post("/chat/completions", body)     # 200 response, or RequestFailed naming the URL
The API key comes from TASKALIGN_API_KEY, else OPENAI_API_KEY. 408/409/429/5xx answers and network errors are retried
with exponential backoff (backoff_s, 2 * backoff_s, ...); other answers are final.
"""

import os
import time
from pathlib import Path

import httpx

from taskalign.errors import UserError

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


def cache_root() -> Path:
    """Where taskalign keeps models and judge verdicts: $TASKALIGN_HOME, else $XDG_CACHE_HOME/taskalign, else
    ~/.cache/taskalign."""
    if os.environ.get("TASKALIGN_HOME"):
        return Path(os.environ["TASKALIGN_HOME"])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "taskalign"


def api_key() -> str | None:
    return os.environ.get("TASKALIGN_API_KEY") or os.environ.get("OPENAI_API_KEY")


class RequestFailed(Exception):
    """A request that failed for good; `response` is the server's last answer (None after a network error)."""

    def __init__(self, message: str, response: httpx.Response | None = None):
        super().__init__(message)
        self.response = response


class OpenAIClient:
    """`flag` is the command-line option that holds the URL, named in errors so the user knows what to fix."""

    def __init__(self, base_url: str, flag: str, timeout_s: float = 120.0, retries: int = 3, backoff_s: float = 1.0,
                 max_connections: int = 8):
        self.base_url, self.flag = base_url.rstrip("/"), flag
        self.retries, self.backoff_s = retries, backoff_s
        key = api_key()
        self.http = httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {key}"} if key else {},
                                 timeout=timeout_s, limits=httpx.Limits(max_connections=max_connections))

    def check(self) -> None:
        """Fail early, in one sentence, when nothing listens at the URL or the server refuses the key."""
        try:
            response = self.http.get("/models", timeout=10)
        except httpx.TransportError as exc:
            raise UserError(f"Cannot reach {self.base_url} ({exc.__class__.__name__}); start the server or fix the "
                            f"URL in {self.flag}.") from None
        if response.status_code in (401, 403):
            raise UserError(f"{self.base_url} refused the API key (HTTP {response.status_code}); set TASKALIGN_API_KEY "
                            "or OPENAI_API_KEY to a key it accepts.")

    def post(self, path: str, body: dict) -> httpx.Response:
        """The 200 response to POST `path`, after up to `retries` retries of transient failures; else RequestFailed."""
        url = self.base_url + path
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self.http.post(path, json=body)
            except httpx.HTTPError as exc:
                failure = RequestFailed(f"request to {url} failed: {exc.__class__.__name__}: {exc}")
                continue
            if response.status_code == 200:
                return response
            failure = RequestFailed(f"{url} answered HTTP {response.status_code}: {response.text[:200]}", response)
            if response.status_code not in RETRY_STATUS:
                break
        raise failure

    def close(self) -> None:
        self.http.close()
