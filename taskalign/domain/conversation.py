"""How every TaskMaster conversation is built: one system message, then the turns, as role/content messages.

    from taskalign.domain import conversation
    messages = conversation.for_case(case)             # the case's own `system`, else TaskMaster's prompt
    messages = conversation.for_case(case, system_for("none"))      # no system message (the server adds its own)
    conversation.add(messages, "user", "Buy milk tomorrow")
Red-teaming, preference pairs, the teacher, `taskalign chat`, the server and the SFT data all start here, so the model
sees the same prompt in training, evaluation and serving.
"""

from taskalign.domain import DEFAULT_TODAY, system_prompt


def message(role: str, content: str) -> dict:
    return {"role": role, "content": content}


def start(system: str | None = None, today: str = DEFAULT_TODAY, tools: list[dict] | None = None) -> list[dict]:
    """A new conversation: `system` as its system message, or TaskMaster's prompt (for `today`, `tools`) when empty."""
    return [message("system", system or system_prompt(today, tools))]


def for_case(case: dict, system: str | None = None) -> list[dict]:
    """A suite case's conversation before its first turn: its own `system`, else `system` ("" for no system message,
    for a server that injects its own), else TaskMaster's; then its `history` (an earlier exchange the case sets up,
    e.g. a tool result the model reads)."""
    if case.get("system"):
        messages = start(case["system"])
    else:
        messages = [] if system == "" else start(system)
    for m in case.get("history") or []:
        add(messages, m["role"], m["content"])
    return messages


def system_for(spec: str | None, domain=None) -> str:
    """The system prompt a `--system-prompt` value stands for: None is the domain's own prompt, "none" is no system
    message (""), anything else a file whose text is sent instead."""
    from pathlib import Path

    from taskalign.domain.load import load_domain
    from taskalign.errors import UserError

    if spec is None:
        return load_domain(domain).system_prompt()
    if spec == "none":
        return ""
    path = Path(spec)
    if not path.is_file():
        raise UserError(f"--system-prompt {spec}: no such file; pass a text file with the prompt, or 'none' to send no "
                        "system message.")
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise UserError(f"--system-prompt {spec} is empty; write the prompt into it, or pass 'none'.")
    return text


def add(messages: list[dict], role: str, content: str) -> list[dict]:
    """Append one message and return the same list, so a conversation can be built in one expression."""
    messages.append(message(role, content))
    return messages


def messages_problem(messages, field: str = "messages") -> str | None:
    """Why `messages` is not a non-empty list of {"role": str, "content": str} objects, or None when it is."""
    if not isinstance(messages, list) or not messages:
        return f"'{field}' must be a non-empty list of messages ({{\"role\": ..., \"content\": ...}} objects)"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            return f"{field}[{i}] must be an object with string 'role' and 'content', not {str(m)[:60]}"
    return None
