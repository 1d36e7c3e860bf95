"""Tool definitions in OpenAI function format: read a tools file and say, in one sentence each, what is wrong with it.

    from taskalign.domain.tooldefs import read_tools, tool_problems
    tools = read_tools("my_tools.json")     # UserError naming the file and the tool when one is malformed
"""

import json
from pathlib import Path

import jsonschema

from taskalign.errors import UserError


def tool_problems(tools) -> list[str]:
    """Every problem of a parsed tools list, each naming the tool (an empty list when it is valid)."""
    if not isinstance(tools, list) or not tools:
        return ['the file must hold a non-empty JSON list of {"type": "function", "function": {...}} objects']
    found, names = [], set()
    for i, tool in enumerate(tools, 1):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(fn, dict):
            found.append(f'tool {i} must be {{"type": "function", "function": {{"name", "parameters"}}}}')
            continue
        name = fn.get("name")
        if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
            found.append(f"tool {i} needs a 'name' of letters, digits, '_' or '-'")
            continue
        if name in names:
            found.append(f"tool {i}: the name {name!r} is used twice")
        names.add(name)
        params = fn.get("parameters", {"type": "object"})
        if not isinstance(params, dict) or params.get("type") != "object":
            found.append(f"tool {name}: 'parameters' must be a JSON schema with \"type\": \"object\"")
            continue
        try:
            jsonschema.Draft202012Validator.check_schema(params)
        except jsonschema.SchemaError as exc:
            found.append(f"tool {name}: 'parameters' is not a valid JSON schema ({exc.message[:100]})")
    return found


def read_tools(path: str | Path) -> list[dict]:
    """The tools of a JSON file, checked; the first problem is a UserError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"tools file {path} does not exist; check the path.")
    try:
        tools = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); fix the tools file.") from None
    if found := tool_problems(tools):
        raise UserError(f"{path}: {found[0]}; fix the tools file (OpenAI function format).")
    return tools
