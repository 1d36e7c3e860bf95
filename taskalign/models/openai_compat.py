"""OpenAI-compatible HTTP backend (vLLM, Ollama, llama.cpp server, OpenAI, `taskalign serve`).

    taskalign chat --model openai:http://127.0.0.1:8000/v1 --model-name taskmaster -m "..."

Requests run with bounded concurrency; the key, timeout and retries are openai_client.py's. A request that still fails
becomes a Reply with `error` set, never an empty success.
"""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from taskalign.domain import load_tools, render_tool_call
from taskalign.domain.toolcalls import split_tool_calls
from taskalign.errors import UserError
from taskalign.models.base import ChatModel, GenerationConfig, Reply
from taskalign.models.openai_client import OpenAIClient, RequestFailed


class OpenAIModel(ChatModel):
    def __init__(self, base_url: str, model_name: str | None, concurrency: int = 8, timeout_s: float = 120.0,
                 retries: int = 3, send_tools: bool = True, backoff_s: float = 1.0, tools: list[dict] | None = None):
        if not model_name:
            raise UserError("--model openai:URL needs --model-name NAME (the model id the server serves).")
        self.spec, self.base_url, self.model_name = f"openai:{base_url}", base_url.rstrip("/"), model_name
        self.concurrency, self.send_tools = concurrency, send_tools
        self.tools = tools if tools is not None else load_tools()  # sent with every request; default TaskMaster's
        self.client = OpenAIClient(self.base_url, "--model", timeout_s=timeout_s, retries=retries, backoff_s=backoff_s,
                                   max_connections=concurrency)

    def check(self) -> None:
        """Fail early with one sentence when nothing listens at the URL (instead of N error replies)."""
        self.client.check()

    def generate(self, conversations, config=GenerationConfig(), keys=None):
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda c: self._one(c, config), conversations))

    def _payload(self, conversation, config) -> dict:
        body = {"model": self.model_name, "messages": openai_messages(conversation), "max_tokens": config.max_new_tokens,
                "temperature": config.temperature, "top_p": config.top_p, "seed": config.seed}
        if self.send_tools:
            body["tools"] = self.tools
        return body

    def _one(self, conversation, config) -> Reply:
        start = time.perf_counter()
        try:
            response = self._post(conversation, config)
        except RequestFailed as exc:
            return Reply.failed(str(exc), time.perf_counter() - start)
        return _to_reply(response, time.perf_counter() - start)

    def _post(self, conversation, config) -> httpx.Response:
        try:
            return self.client.post("/chat/completions", self._payload(conversation, config))
        except RequestFailed as exc:
            answer = exc.response
            if not (self.send_tools and answer is not None and answer.status_code == 400
                    and "tool" in answer.text.lower()):
                raise
        # A server without tool support: the tools are in the system prompt anyway. Resent with fresh retries, as a
        # 400 is not a transient failure and should not use one up.
        self.send_tools = False
        return self.client.post("/chat/completions", self._payload(conversation, config))

    def close(self):
        self.client.close()


def openai_messages(conversation: list[dict]) -> list[dict]:
    """The conversation as the Chat Completions API wants a tool round: an assistant message whose wire-format calls are
    answered by `tool` messages carries them as `tool_calls`, and each tool message names the call it answers
    (`tool_call_id`). Other messages go as they are. A case's history can hold such a round (an injected tool result)."""
    out, pending = [], []
    for i, message in enumerate(conversation):
        answered = i + 1 < len(conversation) and conversation[i + 1]["role"] == "tool"
        if message["role"] == "assistant" and answered:
            text, calls = split_tool_calls(message["content"])
            if calls:
                pending = [f"call_{i}_{k}" for k in range(len(calls))]
                out.append({"role": "assistant", "content": text.strip() or None, "tool_calls": [
                    {"id": cid, "type": "function",
                     "function": {"name": call.name, "arguments": json.dumps(call.arguments, ensure_ascii=False)}}
                    for cid, call in zip(pending, calls)]})
                continue
        if message["role"] == "tool":
            out.append({"role": "tool", "content": message["content"],
                        "tool_call_id": pending.pop(0) if pending else f"call_{i}"})
            continue
        out.append(message)
    return out


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
