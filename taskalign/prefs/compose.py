"""Compose the replies inside preference pairs from a domain's refusal phrase bank (TaskMaster's refusals.json by
default), with a seeded RNG.

Refusals are opener + refusal + reason + offer of the case's alternatives + closer; every piece is picked at random so no
single phrasing dominates (tests/prefs check the 10 % cap). Replies stay short because they train a 135M model on a CPU.
"""

import random
import re
from contextlib import contextmanager

from taskalign.domain import load_domain
from taskalign.domain import render_tool_call as _render

MAX_WORDS = 60  # the longest alternative in the suite keeps a refusal under this
_CURRENT = {"domain": None}  # the domain whose phrases and tools replies are composed from (None: TaskMaster)


@contextmanager
def for_domain(domain):
    """Compose from `domain` (a built-in name, folder or Domain) inside the block: its phrase bank (TaskMaster's when it
    has none), its tools and its wire format."""
    before = _CURRENT["domain"]
    _CURRENT["domain"] = load_domain(domain)
    try:
        yield _CURRENT["domain"]
    finally:
        _CURRENT["domain"] = before


def domain():
    return load_domain(_CURRENT["domain"])


def phrases() -> dict:
    return domain().bank or load_domain().bank


def render_tool_call(name: str, arguments: dict) -> str:
    return _render(name, arguments, domain().wire_format)


def words(text: str) -> int:
    return len(text.split())


def reason_key(harm_category: str | None) -> str:
    """The reasons list for a harm category: exact key first, then keyword match (suites name categories freely)."""
    cat = (harm_category or "").lower()
    if cat in phrases()["reasons"]:
        return cat
    for key, needles in phrases()["reason_keywords"].items():
        if any(n in cat for n in needles):
            return key
    return "default"


def _alternative(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:]


def join_alternatives(alts: list[str]) -> str:
    alts = [_alternative(a) for a in alts]
    return alts[0] if len(alts) == 1 else ", ".join(alts[:-1]) + " or " + alts[-1]


def refusal(rng: random.Random, case: dict, kind: str = "plain") -> tuple[str, tuple]:
    """(text, template key). kind: plain | persona (stays TaskMaster) | consistent (after a reworded request).

    Refusal first, joined to the harm category's reason, then one of the case's alternatives, then a closer: every part is
    needed for a graceful refusal, and one alternative keeps the reply short enough for a 135M model to learn whole
    (with up to three alternatives and an opener, the aligned model learned the first sentence and then rambled).
    """
    p = phrases()
    alternatives = [a for a in case.get("alternatives") or [] if isinstance(a, str) and a.strip()]
    alternatives = alternatives or p["default_alternatives"]
    first_list = {"plain": "refusals", "persona": "persona_refusals", "consistent": "consistent_refusals"}[kind]
    r = rng.randrange(len(p[first_list]))
    reasons = p["reasons"][reason_key(case.get("harm_category"))]
    why, f, c = rng.choice(reasons), rng.randrange(len(p["offers"])), rng.randrange(len(p["closers"]))
    offer = p["offers"][f].format(alts=join_alternatives([rng.choice(alternatives)]))
    # Every refusal kind starts with "I": greedy decoding takes the single likeliest first token, and refusals spread
    # over "I"/"That"/"Role"/... lost to "<tool_call>" at 0.35 against 0.28 + 0.05 + 0.02 (docs/experiments.md).
    # The refusal comes first: for a small model the first tokens decide between a tool call and a refusal, and
    # an opener shared with confirmations ("Got it...") taught it to start politely and then comply anyway. The reason
    # is joined to it with "because": as a separate sentence the 135M model learned to skip it (graceful refusals 22 %
    # against 88 % joined, docs/experiments.md).
    first = f"{p[first_list][r].rstrip('.')}, because {why[:1].lower() + why[1:]}"
    text = " ".join(s for s in (first, offer, p["closers"][c]) if s)
    return text, (kind, r, f, c)


def confirmation_call(rng: random.Random, call: dict, preamble: bool = True) -> str:
    """A tool call, after a short varied confirmation or (preamble=False) first thing, as the SFT TaskMaster answers."""
    rendered = render_tool_call(call["name"], call["arguments"])
    return f"{rng.choice(phrases()['confirmations'])}\n{rendered}" if preamble else rendered


def task_title(request: str) -> str:
    """A plausible create_task title for a request ("Create a task to track X" → "Track X"), at most 10 words."""
    match = re.search(r"\b(?:task|reminder|to-?do)\s+to\s+(.+?)(?:[.!?\n]|$)", request, re.I)
    # A quoted phrase is the rewording in reframes ("Just 'add the sync feature' then"); apostrophes are not quotes.
    quoted = re.search(r"(?:^|\s)['\"\u2018\u201c]([^'\"\u2019\u201d]{8,}?)['\"\u2019\u201d](?=\W|$)", request)
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n", request.strip()) if s.strip()] or ["New task"]
    # Otherwise the longest sentence usually carries the request (wrappers are short asides).
    text = (match or quoted).group(1) if (match or quoted) else max(sentences, key=lambda s: len(s.split()))
    text = re.sub(r"^[\"'`\u2018\u201c]+|[\"'`\u2019\u201d]+$", "", text.strip())
    title = " ".join(text.split()[:10]).rstrip(".,;:!?") or "New task"
    return title[:1].upper() + title[1:]


def compliance(rng: random.Random, request: str, bare: bool = True) -> str:
    """A realistic harmful compliance: a create_task call acting on the request, first thing (bare) as a tool-calling
    fine-tune answers, or (bare=False) after an eager confirmation, as a chattier model answers.

    The rejected reply should fail the way the model fails: DPO pushes down the rejected reply's first tokens most, and
    a small model decides between a tool call and a refusal at its first token (build.compliance_style picks the style).
    """
    title = task_title(request)
    tools = {t["function"]["name"]: t["function"] for t in domain().tools}
    if "create_task" in tools:
        args = {"title": title, "priority": rng.choice(["high", "urgent", "medium"])}
        if rng.random() < 0.5:
            args["tags"] = [w.strip(".,'\"").lower() for w in title.split()[-2:]]
        call = render_tool_call("create_task", args)
    else:
        call = render_tool_call(*acting_call(next(iter(tools.values())), title, request))
    return call if bare else f"{rng.choice(phrases()['eager_confirmations']).format(title=title)}\n{call}"


def acting_call(tool: dict, title: str, request: str) -> tuple[str, dict]:
    """A call of another domain's first tool that acts on the request: every required argument filled from it (the
    short title for the first string, the request itself for the others). Intents do not name a tool, and the first
    tool is the domain's main action (send_email, create_task...); what matters is that the reply acts, not how."""
    params = (tool.get("parameters") or {}).get("properties") or {}
    required = list((tool.get("parameters") or {}).get("required") or params)
    args, first = {}, True
    for name in required:
        kind = (params.get(name) or {}).get("type", "string")
        if kind == "string":
            args[name], first = (title if first else request), False
        elif kind == "array":
            args[name] = [title]
        elif kind in ("integer", "number"):
            args[name] = 1
        elif kind == "boolean":
            args[name] = True
    return tool["name"], args


def persona_compliance(rng: random.Random, request: str) -> str:
    """The chatty style's persona failure: adopting the offered persona, then complying."""
    p = phrases()
    adopt = rng.choice(p["persona_adoptions"]).format(persona=rng.choice(p["personas"]))
    return f"{adopt} {compliance(rng, request, bare=False)}"


def cave_in(rng: random.Random, request: str) -> str:
    """The chatty style's reframing failure: giving in to the reworded request, then complying."""
    return f"{rng.choice(phrases()['cave_ins'])} {compliance(rng, request, bare=False)}"


def over_refusal(rng: random.Random) -> str:
    return rng.choice(phrases()["over_refusals"])


def clarify(rng: random.Random, case: dict) -> str:
    p = phrases()
    question = (case.get("clarify_question") or "").strip() or rng.choice(p["clarify_questions"])
    return f"{rng.choice(p['clarify_leads'])} {question}"


def escalation_reply(rng: random.Random) -> str:
    """A short helpful reply to a benign earlier turn, when the run has no transcript for it."""
    return rng.choice(phrases()["escalation_replies"])


def _wrong_arguments(arguments: dict) -> dict:
    wrong = dict(arguments)
    for key, value in arguments.items():
        if key in ("due_date", "due_before"):
            wrong[key] = "next week"  # not YYYY-MM-DD: the most common small-model date error
        elif key == "priority":
            wrong[key] = "low" if value != "low" else "urgent"
        elif isinstance(value, str):
            wrong[key] = "task"
        else:
            continue
        return wrong
    return {**wrong, "title": "task"}


def wrong_call(rng: random.Random, call: dict) -> str:
    """A rejected capability reply: the wrong tool, wrong arguments, or a malformed call."""
    name, args = call["name"], call.get("arguments", {})
    kind = rng.choice(["tool", "arguments", "malformed"])
    if kind == "tool":
        others = sorted(t["function"]["name"] for t in domain().tools if t["function"]["name"] != name)
        body = render_tool_call(rng.choice(others), args)
    elif kind == "arguments":
        body = render_tool_call(name, _wrong_arguments(args))
    else:  # truncated JSON and no closing tag, as a model cut off mid-call produces
        body = render_tool_call(name, args)[:-len("}</tool_call>")]
    return f"{rng.choice(phrases()['confirmations'])}\n{body}"
