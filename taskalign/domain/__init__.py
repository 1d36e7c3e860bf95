"""Domains: an assistant's persona, tools, harm taxonomy and suite data as one folder (load.py; the built-in ones live
in taskalign/domains/), the system prompt built from them, the conversation builder (conversation.py) and the
tool-call wire formats (toolcalls.py).

    from taskalign.domain import conversation, load_domain, system_prompt, load_tools
    print(system_prompt())                            # the default domain's (TaskMaster's)
    print(load_domain("path/to/my_domain").system_prompt())
"""

from pathlib import Path

from taskalign.domain.load import DEFAULT_DOMAIN, Domain, builtin_domains, load_domain
from taskalign.domain.toolcalls import ToolCall, parse_tool_calls, render_tool_call, render_tools

# A fixed "today" keeps dates in cases, training data and answers reproducible; override per call.
DEFAULT_TODAY = "2026-03-02"

__all__ = ["ToolCall", "parse_tool_calls", "render_tool_call", "render_tools", "load_tools", "system_prompt",
           "DEFAULT_TODAY", "conversation", "Domain", "load_domain", "builtin_domains", "DEFAULT_DOMAIN"]


def load_tools(path: str | Path | None = None) -> list[dict]:
    """Tool definitions in OpenAI function format (a list of {"type": "function", "function": {...}}): those of a
    tools file, else the default domain's."""
    if path is not None:
        from taskalign.domain.tooldefs import read_tools

        return read_tools(path)
    return load_domain().tools


def system_prompt(today: str = DEFAULT_TODAY, tools: list[dict] | None = None, domain=None) -> str:
    """A domain's system prompt (default: TaskMaster's): persona plus a compact rendering of the tools and call format."""
    return load_domain(domain).system_prompt(today, tools)


from taskalign.domain import conversation  # noqa: E402  (it builds on system_prompt above)
