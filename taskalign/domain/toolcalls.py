"""Tool calls on the wire: render definitions into a prompt, render calls, and parse calls out of model text.

The wire format is `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (Hermes / Qwen, vLLM's `hermes` parser).
`parse_tool_calls` never raises on model output: anything malformed becomes a ToolCall with `valid=False` and an error.
"""

import ast
import json
import re
from dataclasses import asdict, dataclass, field

import jsonschema

OPEN, CLOSE = "<tool_call>", "</tool_call>"
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


def _render_param(name: str, spec: dict, required: bool) -> str:
    kind = "|".join(spec["enum"]) if "enum" in spec else _TYPE_NAMES.get(spec.get("type", ""), "any")
    if spec.get("type") == "array":
        kind = f"list[{_TYPE_NAMES.get(spec.get('items', {}).get('type', ''), 'any')}]"
    if spec.get("description") and "enum" not in spec:
        kind += f" ({spec['description']})"
    return f"{name}{'' if required else '?'}: {kind}"


def render_tools(tools: list[dict]) -> str:
    """Compact, signature-style rendering; short prompts keep CPU generation and training affordable."""
    lines = ["Tools you can call:"]
    for tool in tools:
        fn = tool["function"]
        params = fn.get("parameters", {})
        required = set(params.get("required", []))
        args = ", ".join(_render_param(n, s, n in required) for n, s in params.get("properties", {}).items())
        lines.append(f"- {fn['name']}({args}): {fn.get('description', '')}")
    lines.append(f'To call a tool, write {OPEN}{{"name": "<tool>", "arguments": {{...}}}}{CLOSE}')
    return "\n".join(lines)


def render_tool_call(name: str, arguments: dict) -> str:
    return f"{OPEN}{json.dumps({'name': name, 'arguments': arguments}, ensure_ascii=False)}{CLOSE}"


def _loads_lenient(text: str):
    """JSON first; then Python-literal syntax (single quotes, True/None), which small models often emit."""
    try:
        return json.loads(text), None
    except (ValueError, RecursionError) as exc:
        error = f"not valid JSON ({exc.__class__.__name__}: {str(exc)[:80]})"
    try:
        value = ast.literal_eval(text)
        return value, None
    except Exception:  # literal_eval raises many kinds on garbage; all mean "unparseable"
        return None, error


def _segments(text: str) -> list[tuple[str, bool]]:
    """Bodies between <tool_call> and </tool_call> (or the next opening tag / end of text when unclosed)."""
    out = []
    for match in re.finditer(re.escape(OPEN), text):
        rest = text[match.end():]
        end = rest.find(CLOSE)
        nxt = rest.find(OPEN)
        if end != -1 and (nxt == -1 or end < nxt):
            out.append((rest[:end], True))
        else:
            out.append((rest[:nxt] if nxt != -1 else rest, False))
    return out


def _to_call(body: str, closed: bool, schemas: dict[str, dict] | None) -> ToolCall:
    raw = body.strip()
    value, error = _loads_lenient(raw)
    if error is None and not isinstance(value, dict):
        error = "a tool call must be a JSON object"
    if error is not None:
        return ToolCall(None, {}, False, error + ("" if closed else "; missing </tool_call>"), raw)
    name, arguments = value.get("name"), value.get("arguments", {})
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


def validate_call(name: str, arguments: dict, schemas: dict[str, dict]) -> tuple[bool, str | None]:
    if name not in schemas:
        return False, f"unknown tool {name!r}"
    try:
        jsonschema.validate(arguments, schemas[name])
    except jsonschema.ValidationError as exc:
        return False, f"arguments do not match the {name} schema: {exc.message[:120]}"
    return True, None


def schemas_by_name(tools: list[dict]) -> dict[str, dict]:
    return {t["function"]["name"]: t["function"].get("parameters", {"type": "object"}) for t in tools}


def parse_tool_calls(text, tools: list[dict] | None = None) -> list[ToolCall]:
    """Every tool call in `text`, in order; validated against `tools` (default: TaskMaster's) unless tools=[]."""
    if not isinstance(text, str) or OPEN not in text:
        return []
    if tools is None:
        from taskalign.domain import load_tools
        tools = load_tools()
    schemas = schemas_by_name(tools) if tools else None
    return [_to_call(body, closed, schemas) for body, closed in _segments(text)]


def strip_tool_calls(text: str) -> str:
    """The prose of a reply with its tool-call blocks removed (for judging what the text itself says)."""
    text = re.sub(re.escape(OPEN) + r".*?(" + re.escape(CLOSE) + r"|$)", " ", text, flags=re.S)
    return re.sub(r"\s+", " ", text).strip()
