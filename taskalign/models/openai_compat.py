"""OpenAI-compatible HTTP backend (vLLM, Ollama, llama.cpp server, OpenAI, `taskalign serve`).

    taskalign chat --model openai:http://127.0.0.1:8000/v1 --model-name taskmaster -m "..."

Requests run with bounded concurrency, a timeout, and retries with exponential backoff on 429 / 5xx / network errors.
A request that still fails becomes a Reply with `error` set, never an empty success. The API key is read from
TASKALIGN_API_KEY or OPENAI_API_KEY.
"""

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from taskalign.domain import load_tools, render_tool_call
from taskalign.errors import UserError
from taskalign.models.base import ChatModel, GenerationConfig, Reply

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAIModel(ChatModel):
    def __init__(self, base_url: str, model_name: str | None, concurrency: int = 8, timeout_s: float = 120.0,
                 retries: int = 3, send_tools: bool = True, backoff_s: float = 1.0):
        if not model_name:
            raise UserError("--model openai:URL needs --model-name NAME (the model id the server serves).")
        self.spec, self.base_url, self.model_name = f"openai:{base_url}", base_url.rstrip("/"), model_name
        self.concurrency, self.retries, self.backoff_s = concurrency, retries, backoff_s
        self.send_tools = send_tools
        key = os.environ.get("TASKALIGN_API_KEY") or os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s,
                                   limits=httpx.Limits(max_connections=concurrency))

    def check(self) -> None:
        """Fail early with one sentence when nothing listens at the URL (instead of N error replies)."""
        try:
            self.client.get("/models", timeout=10)
        except httpx.TransportError as exc:
            raise UserError(f"Cannot reach {self.base_url} ({exc.__class__.__name__}); start the server or fix the URL.") from None

    def generate(self, conversations, config=GenerationConfig(), keys=None):
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda c: self._one(c, config), conversations))

    def _payload(self, conversation, config) -> dict:
        body = {"model": self.model_name, "messages": conversation, "max_tokens": config.max_new_tokens,
                "temperature": config.temperature, "top_p": config.top_p, "seed": config.seed}
        if self.send_tools:
            body["tools"] = load_tools()
        return body

    def _one(self, conversation, config) -> Reply:
        start = time.perf_counter()
        error = "no attempt made"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self._post(conversation, config)
            except httpx.HTTPError as exc:
                error = f"request failed: {exc.__class__.__name__}: {exc}"
                continue
            if response.status_code in RETRY_STATUS:
                error = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code != 200:
                return Reply.failed(f"HTTP {response.status_code}: {response.text[:200]}", time.perf_counter() - start)
            return _to_reply(response, time.perf_counter() - start)
        return Reply.failed(error, time.perf_counter() - start)

    def _post(self, conversation, config) -> httpx.Response:
        response = self.client.post("/chat/completions", json=self._payload(conversation, config))
        if response.status_code == 400 and self.send_tools and "tool" in response.text.lower():
            # A server without tool support: the tools are in the system prompt anyway. Resent at once, as it is
            # not a transient failure and should not use up a retry.
            self.send_tools = False
            response = self.client.post("/chat/completions", json=self._payload(conversation, config))
        return response

    def close(self):
        self.client.close()


def _to_reply(response: httpx.Response, latency: float) -> Reply:
    try:
        data = response.json()
        choice = data["choices"][0]
        message = choice["message"]
        text = message.get("content") or ""
        if not isinstance(text, str):
            raise TypeError("content is not a string")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return Reply.failed(f"malformed response: {response.text[:200]}", latency)
    # Structured tool calls are put back into the wire format so every judge reads one representation.
    for call in message.get("tool_calls") or []:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict):
            continue
        arguments = fn.get("arguments") or "{}"
        try:  # OpenAI sends a JSON string; some servers send the object itself
            arguments = arguments if isinstance(arguments, dict) else json.loads(arguments)
        except (TypeError, ValueError):
            arguments = {"_unparsed": arguments}  # kept so the judge reports an invalid call, not a missing one
        text += ("\n" if text else "") + render_tool_call(fn.get("name", ""), arguments)
    usage = data.get("usage") or {}
    if not text.strip():
        return Reply.failed("server returned an empty reply", latency)
    return Reply.from_text(text, prompt_tokens=usage.get("prompt_tokens", 0),
                           completion_tokens=usage.get("completion_tokens", 0), latency_s=latency,
                           finish_reason=choice.get("finish_reason"))
