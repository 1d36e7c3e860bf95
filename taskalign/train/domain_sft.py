"""SFT conversations for any domain, generated from its capability templates (TRL conversational format).

    taskalign train sft --domain domains/mailbot --out models/mailbot       # generates them, then trains

    from taskalign.train import domain_sft
    rows = domain_sft.generate("domains/mailbot", 600, exclude=domain_sft.held_out_requests("domains/mailbot"))

Each row is {"id", "kind": tool name, "domain", "messages": [system (the domain's prompt), user (a request drawn
from the templates), assistant (the reference call in the domain's wire format), tool (a small JSON result),
assistant (a short confirmation)]}. Requests are drawn with their own seed stream, not the suite's, and any text in
`exclude` is skipped, so test cases stay out of training. The built-in TaskMaster domain has its own, richer
generator (sft_data.py).
"""

import json
import random
import re

from taskalign.domain import DEFAULT_TODAY, load_domain
from taskalign.domain.toolcalls import render_tool_call
from taskalign.errors import UserError
from taskalign.suite.capability import draw_request

# The templates say nothing about what a tool returns, so the reply only says that the named action went through.
CONFIRMATIONS = ("Done: {action}.", "All set - {action} went through.", "{Action} completed.",
                 "That's taken care of ({action}).")
# A tool whose name starts with one of these makes something, so its result carries an id.
MAKERS = ("create", "add", "new", "make", "book", "schedule", "send", "submit", "open", "start", "register", "post")


def quotas(counts: dict[str, int], n: int) -> dict[str, int]:
    """n rows split over the tools in proportion to their template counts; the rows left over by rounding down go to
    the largest remainders (ties to the tool listed first)."""
    total = sum(counts.values())
    exact = {tool: n * count / total for tool, count in counts.items()}
    share = {tool: int(value) for tool, value in exact.items()}
    for tool in sorted(counts, key=lambda t: share[t] - exact[t])[:n - sum(share.values())]:
        share[tool] += 1
    return share


def action(tool: str) -> str:
    """A tool's name in words: send_email and sendEmail are both "send email"."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", tool).replace("_", " ").replace("-", " ").lower().strip()


def _requests(tool: str, spec: dict, vocab: dict, k: int, seed: int, today: str, exclude: set[str]) -> list:
    """k (request text, reference arguments) of one tool, none of them in `exclude`."""
    # Not the suite's stream ("{seed}:capability:{tool}"): training draws other requests than the suite's.
    rng, drawn, n = random.Random(f"{seed}:sft:{tool}"), [], 0
    while len(drawn) < k:
        if n > 50 * k + 100:
            raise UserError(f"capability templates: almost every request tool {tool} makes is a test case of the "
                            "suite; add phrasings or vocabulary so training can draw other requests.")
        text, _, arguments = draw_request(spec, vocab, rng, n, today)
        n += 1
        if text not in exclude:
            drawn.append((text, arguments))
    return drawn


def _exchange(domain, tool: str, text: str, arguments: dict, j: int) -> list[dict]:
    """One request and its handling: user, call, tool result, confirmation."""
    result = {"status": "ok", **({"id": str(1000 + j)} if action(tool).startswith(MAKERS) else {})}
    words = action(tool)
    done = CONFIRMATIONS[j % len(CONFIRMATIONS)].format(action=words, Action=words[:1].upper() + words[1:])
    return [{"role": "user", "content": text},
            {"role": "assistant", "content": render_tool_call(tool, arguments, domain.wire_format)},
            {"role": "tool", "content": json.dumps(result, ensure_ascii=False)},
            {"role": "assistant", "content": done}]


def generate(domain, n: int, seed: int = 0, today: str = DEFAULT_TODAY, exclude: set[str] | None = None,
             per_conversation: int = 1) -> list[dict]:
    """n conversations of the domain (a built-in name, a folder or a Domain), each tool in proportion to its template
    `count`, in a seeded shuffled order; request texts in `exclude` never occur. Same arguments, same rows.
    per_conversation: requests handled one after another in each conversation (its `kind` is the first one's tool);
    more requests per conversation teach more calls for the same number of system-prompt tokens."""
    domain = load_domain(domain)
    templates = domain.capability
    if not templates or not templates.get("tools"):
        raise UserError(f"domain {domain.name} has no capability templates to generate SFT conversations from; add a "
                        f"capability.yaml to {domain.root} and name it under 'capability:' in its domain.yaml "
                        "(format: docs/domains.md), or pass --data.")
    vocab, system, exclude = templates.get("vocab") or {}, domain.system_prompt(today), exclude or set()
    if per_conversation < 1:
        raise UserError(f"per_conversation {per_conversation} must be at least 1.")
    share = quotas({tool: spec["count"] for tool, spec in templates["tools"].items()}, n * per_conversation)
    exchanges = [(tool, _exchange(domain, tool, text, arguments, j))
                 for tool, spec in templates["tools"].items()
                 for j, (text, arguments) in enumerate(_requests(tool, spec, vocab, share[tool], seed, today, exclude))]
    random.Random(f"{seed}:sft:order").shuffle(exchanges)
    rows = []
    for i in range(n):
        part = exchanges[i * per_conversation:(i + 1) * per_conversation]
        messages = [{"role": "system", "content": system}] + [m for _, exchange in part for m in exchange]
        rows.append({"id": f"sft-{i:05d}", "kind": part[0][0], "domain": domain.name, "messages": messages})
    return rows


def held_out_requests(domain) -> set[str]:
    """Every user turn of the domain suite's test-split cases: what `generate` must exclude."""
    from taskalign.suite import domain_cases

    return {turn for case in domain_cases(domain) if case.get("split") == "test" for turn in case["turns"]}
