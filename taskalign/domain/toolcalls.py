"""Tool calls on the wire: render definitions into a prompt, render calls, and parse calls out of model text.

Two wire formats, named by a domain's `wire_format`: `tool_call`, the default, is
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (Hermes / Qwen, vLLM's `hermes` parser); `python_tag` is
Llama 3's `<|python_tag|>{"name": ..., "parameters": {...}}` (optionally ended by `<|eom_id|>`, several calls joined by
`;`). Parsing reads both in every reply, so a call is judged by the same rule whichever format the model used.
`parse_tool_calls` never raises on model output: anything malformed becomes a ToolCall with `valid=False` and an error.
`split_tool_calls` also returns the reply's own text without the call blocks (what a chat client shows).
"""

import ast
import json
import re
from dataclasses import asdict, dataclass, field

import jsonschema

OPEN, CLOSE = "<tool_call>", "</tool_call>"
PYTHON_TAG, PYTHON_ENDS = "<|python_tag|>", ("<|eom_id|>", "<|eot_id|>")
WIRE_FORMATS = ("tool_call", "python_tag")
_TYPE_NAMES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "array": "list", "object": "dict"}


@dataclass
class ToolCall:
    name: str | None
    arguments: dict = field(default_factory=dict)
    valid: bool = True
    error: str | None = None
    raw: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _param_kind(spec: dict) -> str:
    if "enum" in spec:
        return "|".join(spec["enum"])
    if spec.get("type") == "array":
        return f"list of {_TYPE_NAMES.get(spec.get('items', {}).get('type', ''), 'any')}"
    return spec.get("description") or _TYPE_NAMES.get(spec.get("type", ""), "any")


def render_tools(tools: list[dict], wire_format: str = "tool_call") -> str:
    """Signatures plus one line of value formats. Every prompt token costs CPU time in generation and training (the
    system prompt is most of each sequence), so this is as short as a small model can still follow."""
    shape = (f'{PYTHON_TAG}{{"name": ..., "parameters": {{...}}}}' if wire_format == "python_tag"
             else f'{OPEN}{{"name": ..., "arguments": {{...}}}}{CLOSE}')
    lines = [f"Call a tool as {shape}. Tools:"]
    kinds: dict[str, str] = {}
    for tool in tools:
        fn = tool["function"]
        params = fn.get("parameters", {})
        required = set(params.get("required", []))
        lines.append(f"{fn['name']}({', '.join(n + ('' if n in required else '?') for n in params.get('properties', {}))})")
        for name, spec in params.get("properties", {}).items():
            if _param_kind(spec) not in ("str", "short title", "list of str") and _param_kind(spec) not in kinds.values():
                kinds[name] = _param_kind(spec)
    lines.append(". ".join(f"{name}: {kind}" for name, kind in kinds.items()) + ".")
    return "\n".join(lines)


def render_tool_call(name: str, arguments: dict, wire_format: str = "tool_call") -> str:
    if wire_format == "python_tag":
        body = json.dumps({"name": name, "parameters": arguments}, ensure_ascii=False)
        return PYTHON_TAG + body.replace(PYTHON_TAG, "\\u003c|python_tag|>")
    body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    # A tag inside an argument string would end the call early for regex-based parsers (vLLM's hermes); JSON escapes
    # keep the value identical while hiding the tag. The tags can only occur inside strings in json.dumps output.
    body = body.replace(CLOSE, "<\\/tool_call>").replace(OPEN, "\\u003ctool_call>")
    return f"{OPEN}{body}{CLOSE}"


def _loads_lenient(text: str):
    """JSON first; then Python-literal syntax (single quotes, True/None), which small models often emit."""
    try:
        return json.loads(text), None
    except (ValueError, RecursionError) as exc:
        error = f"not valid JSON ({exc.__class__.__name__}: {str(exc)[:80]})"
    try:
        value = ast.literal_eval(text)
    except Exception:  # literal_eval raises many kinds on garbage; all mean "unparseable"
        return None, error
    try:  # Python literals may hold sets, bytes or int keys; keep only what JSON can carry into transcripts
        return json.loads(json.dumps(value)), None
    except (TypeError, ValueError, RecursionError):
        return None, "uses values JSON cannot represent (sets, bytes, complex numbers)"


def has_tool_call(text) -> bool:
    """Does the text open a tool call in either wire format?"""
    return isinstance(text, str) and (OPEN in text or PYTHON_TAG in text)


def _segments(text: str) -> list[tuple[str, bool, int, int]]:
    """(body, closed, start, end) of each call, in order, in either wire format; text[start:end] is the whole block
    including its tags."""
    out, pos = [], 0
    while True:
        i, j = text.find(OPEN, pos), text.find(PYTHON_TAG, pos)
        if i == -1 and j == -1:
            return out
        pos = _python_tag_segments(text, j, out) if j != -1 and (i == -1 or j < i) else _tool_call_segment(text, i, out)


def _next_tag(text: str, start: int) -> int:
    found = [k for k in (text.find(OPEN, start), text.find(PYTHON_TAG, start)) if k != -1]
    return min(found, default=len(text))


def _python_tag_segments(text: str, i: int, out: list) -> int:
    """<|python_tag|> then one JSON object, or several joined by ';', then an optional end token; returns where the
    block ends. A body that is no JSON object runs to the next tag or end token (and is reported as invalid)."""
    begin, block_start = _SPACE.match(text, i + len(PYTHON_TAG)).end(), i
    while True:
        try:
            _, end = _DECODER.raw_decode(text, begin) if text.startswith("{", begin) else (None, None)
        except (ValueError, RecursionError):
            end = None
        if end is None:
            stop = min([_next_tag(text, begin)] + [k for k in (text.find(e, begin) for e in PYTHON_ENDS) if k != -1])
            out.append((text[begin:stop], True, block_start, stop))
            return _end_token(text, stop)
        after = _SPACE.match(text, end).end()
        following = _SPACE.match(text, after + 1).end()
        if text.startswith(";", after) and text.startswith("{", following):
            out.append((text[begin:end], True, block_start, following))
            begin = block_start = following
            continue
        stop = _end_token(text, after)
        out.append((text[begin:end], True, block_start, stop if stop > after else end))
        return max(stop, end)


def _end_token(text: str, pos: int) -> int:
    """pos moved past a Llama end-of-message token that starts there, if one does."""
    return next((pos + len(e) for e in PYTHON_ENDS if text.startswith(e, pos)), pos)


def _tool_call_segment(text: str, i: int, out: list) -> int:
    """The text between <tool_call> and </tool_call> (or up to the next opening tag / end of text when unclosed);
    returns where the block ends."""
    start = i + len(OPEN)
    stop = _json_body_end(text, start)
    if stop is not None:  # a complete JSON object then the closing tag: tags inside its strings are content
        out.append((text[start:stop], True, i, stop + len(CLOSE)))
        return stop + len(CLOSE)
    end, nxt = text.find(CLOSE, start), _next_tag(text, start)
    if end != -1 and end < nxt:
        out.append((text[start:end], True, i, end + len(CLOSE)))
        return end + len(CLOSE)
    out.append((text[start:nxt], False, i, nxt))
    return nxt


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"\s*")


def _json_body_end(text: str, start: int) -> int | None:
    """Index of the </tool_call> that follows a JSON object starting at `start`, or None when there is none."""
    begin = _SPACE.match(text, start).end()
    if not text.startswith("{", begin):
        return None
    try:
        _, end = _DECODER.raw_decode(text, begin)
    except (ValueError, RecursionError):
        return None
    end = _SPACE.match(text, end).end()
    return end if text.startswith(CLOSE, end) else None


def _to_call(body: str, closed: bool, schemas: dict[str, dict] | None) -> ToolCall:
    raw = body.strip()
    value, error = _loads_lenient(raw)
    if error is None and not isinstance(value, dict):
        error = "a tool call must be a JSON object"
    if error is not None:
        return ToolCall(None, {}, False, error + ("" if closed else "; missing </tool_call>"), raw)
    # Llama 3 names the arguments "parameters".
    name, arguments = value.get("name"), value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):  # OpenAI-style string-encoded arguments
        arguments, _ = _loads_lenient(arguments)
    if not isinstance(name, str) or not isinstance(arguments, dict):
        return ToolCall(name if isinstance(name, str) else None, {}, False, "needs a string 'name' and object 'arguments'", raw)
    call = ToolCall(name, arguments, True, None, raw)
    if schemas is not None:
        call.valid, call.error = validate_call(name, arguments, schemas)
    if call.valid and not closed:
        call.valid, call.error = False, "missing </tool_call>"
    return call


# "format": "date" means a real calendar date: 2024-02-30 matches the pattern but is no day.
DATES = jsonschema.FormatChecker(["date"])


def validate_call(name: str, arguments: dict, schemas: dict[str, dict]) -> tuple[bool, str | None]:
    if name not in schemas:
        return False, f"unknown tool {name!r}"
    try:
        jsonschema.validate(arguments, schemas[name], format_checker=DATES)
    except jsonschema.ValidationError as exc:
        return False, f"arguments do not match the {name} schema: {exc.message[:120]}"
    return True, None


def schemas_by_name(tools: list[dict]) -> dict[str, dict]:
    return {t["function"]["name"]: t["function"].get("parameters", {"type": "object"}) for t in tools}


def _calls(segments: list[tuple[str, bool, int, int]], tools: list[dict] | None) -> list[ToolCall]:
    if tools is None:
        from taskalign.domain import load_tools
        tools = load_tools()
    schemas = schemas_by_name(tools) if tools else None
    return [_to_call(body, closed, schemas) for body, closed, _, _ in segments]


def _outside(text: str, segments) -> list[str]:
    """The pieces of `text` between the given call blocks."""
    kept, pos = [], 0
    for _, _, start, end in segments:
        kept.append(text[pos:start])
        pos = end
    return kept + [text[pos:]]


def parse_tool_calls(text, tools: list[dict] | None = None) -> list[ToolCall]:
    """Every tool call in `text`, in order; validated against `tools` (default: TaskMaster's) unless tools=[]."""
    if not has_tool_call(text):
        return []
    return _calls(_segments(text), tools)


def split_tool_calls(text, tools: list[dict] | None = None, keep_invalid: bool = False) -> tuple[str, list[ToolCall]]:
    """(the reply's text with its call blocks cut out and ends stripped, parse_tool_calls(text, tools)).
    keep_invalid: an invalid call's block stays in the text, so the reader still sees what the model wrote."""
    if not isinstance(text, str):
        return "", []
    segments = _segments(text) if has_tool_call(text) else []
    calls = _calls(segments, tools) if segments else []
    cut = [seg for seg, call in zip(segments, calls) if call.valid or not keep_invalid]
    return "".join(_outside(text, cut)).strip(), calls


def strip_tool_calls(text: str) -> str:
    """The prose of a reply with its tool-call blocks removed (for judging what the text itself says)."""
    if not isinstance(text, str):
        return ""
    return re.sub(r"\s+", " ", " ".join(_outside(text, _segments(text)))).strip()
