"""The chat endpoint's logic: OpenAI messages → TaskMaster conversation → model (via the batcher) → OpenAI response.

Not run directly; `app.py` routes `POST /v1/chat/completions` here. In plain mode tool calls go back to the client as
OpenAI `tool_calls`; in agent mode they run against the caller's own tasks and the reply lists what was done.
"""

import json
import re
import secrets
import time

import jsonschema
from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool

from taskalign.domain import conversation, load_domain, render_tool_call
from taskalign.domain.toolcalls import render_tools, split_tool_calls
from taskalign.models import GenerationConfig
from taskalign.serve.schemas import ChatMessage, ChatRequest
from taskalign.serve.tools import describe, execute_calls, printable


def _text(message: ChatMessage) -> str:
    if isinstance(message.content, list):
        return "\n".join(part.text for part in message.content if part.text)
    return message.content or ""


def _arguments(raw: str) -> dict:
    try:
        value = json.loads(raw)
    except ValueError:
        return {"_unparsed": raw}
    return value if isinstance(value, dict) else {"_unparsed": raw}


def request_conversation(request: ChatRequest, tools: list[dict], domain=None) -> list[dict]:
    """Plain role/content messages; tool calls go back into the wire format; the domain's prompt (default
    TaskMaster's) with `tools` if the client sent no system message."""
    out = []
    for m in request.messages:
        content = _text(m)
        for call in m.tool_calls or []:
            content += ("\n" if content else "") + render_tool_call(call.function.name, _arguments(call.function.arguments))
        conversation.add(out, "system" if m.role == "developer" else m.role, content)
    if any(m["role"] == "system" for m in out):
        return out
    return conversation.start(load_domain(domain).system_prompt(tools=tools)) + out


def request_tools(request: ChatRequest, mode: str, domain=None) -> list[dict]:
    """Agent mode always uses TaskMaster's tools (the ones it can execute); plain mode the client's, if it sent any,
    else the domain's."""
    if mode == "agent" or not request.tools:
        return load_domain(domain).tools
    tools = [t.model_dump() for t in request.tools]
    try:
        for tool in tools:
            jsonschema.Draft202012Validator.check_schema(tool["function"]["parameters"])
        render_tools(tools)
    except Exception as exc:  # any malformed schema is the client's mistake, never a server error
        raise HTTPException(400, f"tools: invalid function parameters schema ({str(exc)[:120]})") from None
    return tools


def split_reply(text: str, tools: list[dict]) -> tuple[str, list]:
    """(prose with valid tool-call blocks removed, parsed calls); invalid blocks stay in the prose for the client."""
    try:
        return split_tool_calls(text, tools, keep_invalid=True)
    except Exception:  # a client schema jsonschema cannot apply: parse without validation
        return split_tool_calls(text, [], keep_invalid=True)


def _openai_call(call) -> dict:
    arguments = json.dumps(call.arguments, ensure_ascii=False)
    if printable(arguments) != arguments:  # lone surrogates: send them as \uXXXX escapes
        arguments = json.dumps(call.arguments)
    return {"id": "call_" + secrets.token_hex(8), "type": "function",
            "function": {"name": printable(call.name), "arguments": arguments}}


def checked_max_tokens(request: ChatRequest, limits) -> int:
    """The completion budget for this request; 400 when it or the message count is over the server's limits."""
    default = min(limits.default_max_tokens, limits.max_tokens)
    max_tokens = request.max_completion_tokens or request.max_tokens or default
    if max_tokens > limits.max_tokens:
        raise HTTPException(400, f"max_tokens {max_tokens} exceeds this server's limit of {limits.max_tokens}")
    if len(request.messages) > limits.max_messages:
        raise HTTPException(400, f"{len(request.messages)} messages exceed this server's limit of {limits.max_messages}")
    return max_tokens


async def complete(state, request: ChatRequest, owner: str) -> dict:
    """Run one chat completion end to end and return the OpenAI response object (plus a `taskalign` field)."""
    mode = state.mode
    tools = request_tools(request, mode, state.domain)
    messages = request_conversation(request, tools, state.domain)
    config = GenerationConfig(max_new_tokens=checked_max_tokens(request, state.limits),
                              temperature=request.temperature, top_p=request.top_p, seed=request.seed or 0)
    reply = await state.batcher.submit(messages, config)
    # In agent mode the executor checks arguments against the REST models (limits, real dates) and answers a bad
    # call with a tool error the user sees, so calls are parsed here without the looser tool schema.
    prose, calls = split_reply(reply.text, [] if mode == "agent" else tools)
    extra = {"mode": mode, "guard": None, "tool_calls": []}
    if state.guard is not None:
        decision = await run_in_threadpool(state.guard.check, messages, reply.text, calls)
        extra["guard"] = decision.to_dict()
        if decision.blocked:
            prose, calls = decision.refusal, []
    valid = [c for c in calls if c.valid]
    message = {"role": "assistant", "content": prose}
    finish = "length" if reply.finish_reason == "length" else "stop"
    if mode == "agent":
        results = await run_in_threadpool(execute_calls, state.store, owner, valid) if valid else []
        extra["tool_calls"] = [{**r, "summary": describe(r)} for r in results]
        message["content"] = "\n".join([prose] + [r["summary"] for r in extra["tool_calls"]]).strip()
    elif valid:
        message["tool_calls"], message["content"], finish = [_openai_call(c) for c in valid], prose or None, "tool_calls"
    return {"id": "chatcmpl-" + secrets.token_hex(12), "object": "chat.completion", "created": int(time.time()),
            "model": state.model_name, "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                      "total_tokens": reply.prompt_tokens + reply.completion_tokens},
            "taskalign": extra}


def stream_events(response: dict):
    """The finished response as OpenAI `chat.completion.chunk` server-sent events (content split into pieces)."""
    base = {k: response[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    choice, message = response["choices"][0], response["choices"][0]["message"]

    def event(delta: dict, finish=None, **more) -> str:
        chunk = base | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]} | more
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    yield event({"role": "assistant", "content": ""})
    for piece in re.findall(r"\S*\s*", message.get("content") or ""):
        if piece:
            yield event({"content": piece})
    for i, call in enumerate(message.get("tool_calls") or []):
        yield event({"tool_calls": [{"index": i, **call}]})
    yield event({}, choice["finish_reason"], usage=response["usage"], taskalign=response["taskalign"])
    yield "data: [DONE]\n\n"
