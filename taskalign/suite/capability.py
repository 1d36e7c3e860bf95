"""Capability cases from a domain's capability templates (capability.yaml): ordinary requests, each with the call
it expects, drawn with a seeded RNG so the same templates and seed give the same cases.

    from taskalign.domain import load_domain
    from taskalign.suite.capability import capability_cases
    cases = capability_cases(load_domain("taskmaster").capability, seed=0)
The template format is documented at the top of taskalign/domains/taskmaster/capability.yaml and in docs/domains.md.
"""

import random
import re
from datetime import date, timedelta

from taskalign.errors import UserError

PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.]*)(?:\|(spoken|join))?\}")
DRAWS = ("choice", "sample", "day")


def _spoken(iso: str, style: int) -> str:
    """An explicit date, written three ways so the model must normalise the format but never compute a date."""
    d = date.fromisoformat(iso)
    return [iso, f"{d:%B} {d.day}, {d.year}", f"{d:%A}, {d.day} {d:%B} {d.year}"][style % 3]


def _pool(how: dict, key: str, vocab: dict) -> list:
    value = how[key]
    pool = value if isinstance(value, list) else vocab.get(value)
    if not isinstance(pool, list) or not pool:
        raise UserError(f"capability templates: {key} {value!r} is neither a vocab list nor a non-empty list; add it "
                        "under vocab.")
    return pool


def draw_slots(draw: dict, vocab: dict, rng: random.Random, today: str) -> dict:
    """One value per slot, drawn in the order the template lists them (the order fixes the generated cases)."""
    slots = {}
    for name, how in (draw or {}).items():
        if not isinstance(how, dict) or len(set(how) & set(DRAWS)) != 1:
            raise UserError(f"capability templates: slot {name!r} needs exactly one of {', '.join(DRAWS)}.")
        if "choice" in how:
            slots[name] = rng.choice(_pool(how, "choice", vocab))
        elif "sample" in how:
            slots[name] = sorted(rng.sample(_pool(how, "sample", vocab), int(how.get("k", 1))))
        else:
            low, high = how["day"]
            slots[name] = (date.fromisoformat(today) + timedelta(days=rng.randrange(low, high))).isoformat()
    return slots


def _lookup(slots: dict, path: str):
    value = slots
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise UserError(f"capability templates: placeholder {{{path}}} names no drawn value; draw it first.")
    return value


def fill(template, slots: dict, n: int):
    """A template value with its placeholders filled; a string that is one placeholder alone keeps the value's type."""
    if isinstance(template, dict):
        return {k: fill(v, slots, n) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, slots, n) for v in template]
    if not isinstance(template, str):
        return template
    whole = PLACEHOLDER.fullmatch(template)
    if whole and not whole.group(2):
        return _lookup(slots, whole.group(1))

    def one(match):
        value = _lookup(slots, match.group(1))
        if match.group(2) == "spoken":
            return _spoken(str(value), n)
        if match.group(2) == "join":
            return ", ".join(map(str, value))
        return str(value)
    return PLACEHOLDER.sub(one, template)


def draw_request(spec: dict, vocab: dict, rng: random.Random, n: int, today: str) -> tuple[str, dict, dict]:
    """Request number n of one tool's templates: (its text, the expected call's arguments, the reference call's
    arguments), drawing the slots from `rng`."""
    slots = draw_slots(spec.get("draw"), vocab, rng, today)
    usable = [r for r in spec["requests"] if not r.get("when") or _lookup(slots, r["when"])]
    request = usable[n % len(usable)]
    call = fill(request["call"], slots, n)
    return fill(request["say"], slots, n), fill(request.get("expect", request["call"]), slots, n), call


def capability_cases(templates: dict | None, seed: int = 0, today: str | None = None) -> list[dict]:
    """`count` distinct requests per tool (id `capability/<tool's first word>-NN`), without `split`; the suite
    builder assigns splits. None (a domain without templates) gives no cases."""
    from taskalign.domain import DEFAULT_TODAY

    if not templates:
        return []
    vocab, cases = templates.get("vocab") or {}, []
    for tool, spec in templates["tools"].items():
        rng, seen, n = random.Random(f"{seed}:capability:{tool}"), set(), 0
        while len(seen) < spec["count"]:  # redraw duplicates: the same prompt twice would count twice in every metric
            if n > 50 * spec["count"]:
                raise UserError(f"capability templates: tool {tool} cannot make {spec['count']} different requests "
                                "from its templates; add phrasings or vocabulary, or lower its count.")
            text, want, args = draw_request(spec, vocab, rng, n, today or DEFAULT_TODAY)
            n += 1
            if text in seen:
                continue
            seen.add(text)
            cases.append({"id": f"capability/{tool.split('_')[0]}-{len(seen):02d}", "category": "capability",
                          "turns": [text], "expected": "comply",
                          "expected_tool": {"name": tool, "arguments": want},
                          "reference_call": {"name": tool, "arguments": args},
                          "tags": [tool], "source": "taskalign-builtin"})
    return cases
