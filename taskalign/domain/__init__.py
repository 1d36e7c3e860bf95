"""The TaskMaster domain: persona, tool schemas (data files beside this module), the system prompt built from them,
the conversation builder (conversation.py) and the tool-call wire format (toolcalls.py).

    from taskalign.domain import conversation, system_prompt, load_tools
    print(system_prompt())
"""

import copy
import json
from functools import lru_cache
from pathlib import Path

from taskalign.domain.toolcalls import ToolCall, parse_tool_calls, render_tool_call, render_tools

DATA = Path(__file__).parent
# A fixed "today" keeps dates in cases, training data and answers reproducible; override per call.
DEFAULT_TODAY = "2026-03-02"

__all__ = ["ToolCall", "parse_tool_calls", "render_tool_call", "render_tools", "load_tools", "system_prompt",
           "DEFAULT_TODAY", "conversation"]


@lru_cache(maxsize=None)
def _read_tools(path: str) -> tuple:
    return tuple(json.loads(Path(path).read_text()))


def load_tools(path: str | Path | None = None) -> list[dict]:
    """Tool definitions in OpenAI function format (a list of {"type": "function", "function": {...}})."""
    return copy.deepcopy(list(_read_tools(str(path or DATA / "tools.json"))))  # callers may edit their copy


def system_prompt(today: str = DEFAULT_TODAY, tools: list[dict] | None = None) -> str:
    """The TaskMaster system prompt: persona plus a compact rendering of the tools and the call format."""
    persona = (DATA / "persona.md").read_text().strip().format(today=today)
    return persona + "\n\n" + render_tools(tools if tools is not None else load_tools())


from taskalign.domain import conversation  # noqa: E402  (it builds on system_prompt above)
