"""Cheap checks on pair replies: is it a refusal, is a refusal graceful. A judge from `taskalign.judge` replaces them.

The keyword check is deliberately simple (peers measured ~80-88 % agreement for such detectors); it only has to catch
obviously bad pairs: a "rejected" reply that is itself a refusal, or a teacher reply that does not refuse gracefully.
"""

import re

from taskalign.domain.toolcalls import parse_tool_calls, strip_tool_calls

_REFUSAL = re.compile(
    r"\b(i(?:'m| am)? (?:still |just |really |simply )?(?:can(?:no|')t|cannot|won'?t|will not|unable|not able)|"
    r"unable to help|i (?:have|need) to decline|i must decline|declin(?:e|ing)|i'?ll pass|"
    r"not something i(?:'ll| will| can)|i'm sorry, but|i refuse|can't (?:help|assist)|cannot assist)\b", re.I)
_OFFER = re.compile(r"\b(i can|i could|i'd be glad|happy to|instead|what i can do)\b", re.I)


def is_refusal(text: str) -> bool:
    """True when the prose refuses and no valid tool call acts on the request (a call means it complied)."""
    if any(call.valid for call in parse_tool_calls(text)):
        return False
    return bool(_REFUSAL.search(strip_tool_calls(text).replace("\u2019", "'")))


def is_graceful_refusal(text: str, max_words: int = 80) -> bool:
    """Refuses, offers something else, emits no tool call, and is short enough for a small model to learn."""
    prose = strip_tool_calls(text)
    return (is_refusal(text) and not parse_tool_calls(text) and bool(_OFFER.search(prose))
            and 0 < len(prose.split()) <= max_words)


def judge_verdicts(judge, items: list[dict]) -> list[tuple[str, bool | None]]:
    """(verdict, graceful) per {"messages", "response"} item, from the judge when given, else the cheap checks."""
    if not items:
        return []
    if judge is not None:
        return [(j.verdict, getattr(j, "graceful", None)) for j in judge.judge(items)]
    return [("refuse" if is_refusal(it["response"]) else "comply", is_graceful_refusal(it["response"]))
            for it in items]
