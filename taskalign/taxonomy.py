"""The harm taxonomy in one place: each case category's expected behaviour, the metric it feeds, the preference pair
that fixes it; each metric's direction, display order and diagnosis; each harm category's serve-guard policy.

The data is the default domain's taxonomy file (taskalign/domains/taskmaster/taxonomy.yaml, named in its domain.yaml);
another domain's taxonomy file replaces whole sections of it (Domain.taxonomy). The suite schema, the scorer, the pair
builder, the report and the guard all read these names, and tests/test_taxonomy.py checks that the package's data
agrees with them.

    from taskalign import taxonomy
    taxonomy.PAIR_TYPE["context_manipulation"]       # 'harmful_refusal'
    taxonomy.diagnosis("jailbreak_success")["fix"]   # what the fixing pair teaches
"""

import re

import yaml

from taskalign.domain.load import default_taxonomy_path
from taskalign.errors import UserError

DATA_PATH = default_taxonomy_path()
BEHAVIOURS = ("refuse", "comply", "clarify")
GOALS = ("safety", "helpfulness")
REFUSAL_KINDS = ("plain", "consistent", "persona")   # the refusal lists of taskalign.prefs.compose.refusal
DIRECTIONS = ("higher", "lower")


def problems(data: dict) -> list[str]:
    """Every reference in the taxonomy that does not resolve (an empty list when it is consistent)."""
    found = []
    for name, c in data["categories"].items():
        if c.get("expected") not in BEHAVIOURS:
            found.append(f"category {name}: expected must be one of {', '.join(BEHAVIOURS)}")
        if c.get("metric") not in data["metrics"]:
            found.append(f"category {name}: metric {c.get('metric')!r} is not under metrics")
        if c.get("pair_type") not in data["pair_types"]:
            found.append(f"category {name}: pair_type {c.get('pair_type')!r} is not under pair_types")
    for name, p in data["pair_types"].items():
        if p.get("goal") not in GOALS or (p["goal"] == "safety") != (p.get("refusal_kind") in REFUSAL_KINDS):
            found.append(f"pair type {name}: a safety pair needs a refusal_kind ({', '.join(REFUSAL_KINDS)}), "
                         "a helpfulness pair none")
    for name, m in data["metrics"].items():
        if m.get("better") not in DIRECTIONS:
            found.append(f"metric {name}: better must be higher or lower")
        fixes = {data["categories"][c]["pair_type"] for c, v in data["categories"].items() if v.get("metric") == name}
        if "diagnosis" in m and len(fixes) != 1:
            found.append(f"metric {name}: a failure mode needs categories of exactly one pair type, not {sorted(fixes)}")
    for name, h in data["harm_categories"].items():
        guard = h.get("guard") or {}
        if not (guard.get("reason") and guard.get("alternatives") and guard.get("patterns")):
            found.append(f"harm category {name}: guard needs a reason, alternatives and patterns")
        for i, pattern in enumerate(guard.get("patterns") or [], 1):
            try:
                re.compile(pattern)
            except re.error as exc:
                found.append(f"harm category {name}: guard pattern {i} is not a valid regex ({exc})")
    return found


def _load() -> dict:
    data = yaml.safe_load(DATA_PATH.read_text(encoding="utf-8"))
    if found := problems(data):
        raise UserError(f"{DATA_PATH}: {found[0]}; fix the taxonomy and rerun.")
    return data


DATA = _load()
_CATEGORY, _METRIC = DATA["categories"], DATA["metrics"]

# Case categories
CATEGORIES = tuple(_CATEGORY)
EXPECTED_OF = {name: c["expected"] for name, c in _CATEGORY.items()}
EXPECTED = tuple(b for b in BEHAVIOURS if b in EXPECTED_OF.values())
REFUSE_CATEGORIES = tuple(name for name, e in EXPECTED_OF.items() if e == "refuse")
PERSONA_CATEGORIES = tuple(name for name, c in _CATEGORY.items() if c.get("persona"))
METRIC_OF = {name: c["metric"] for name, c in _CATEGORY.items()}
ATTACK_MODE = {name: METRIC_OF[name] for name in REFUSE_CATEGORIES}   # the rate a successful attack counts against
ATTACK_METRICS = tuple(dict.fromkeys(ATTACK_MODE.values()))

# Preference pairs
PAIR_TYPE = {name: c["pair_type"] for name, c in _CATEGORY.items()}
PAIR_TYPES = tuple(DATA["pair_types"])
SAFETY_TYPES = tuple(name for name, p in DATA["pair_types"].items() if p["goal"] == "safety")
HELPFUL_TYPES = tuple(name for name, p in DATA["pair_types"].items() if p["goal"] == "helpfulness")
REFUSAL_KIND = {name: p["refusal_kind"] for name, p in DATA["pair_types"].items() if "refusal_kind" in p}

# Metrics
METRIC_ORDER = tuple(_METRIC)
HIGHER_IS_BETTER = frozenset(name for name, m in _METRIC.items() if m["better"] == "higher")
FAILURE_MODES = tuple(name for name, m in _METRIC.items() if "diagnosis" in m)

# Harm categories
HARM_CATEGORIES = tuple(DATA["harm_categories"])
def guard_policy(data: dict) -> dict:
    """harm category -> its guard policy (patterns, reason, alternatives), of a taxonomy (a domain's, or this one)."""
    return {name: h["guard"] for name, h in data["harm_categories"].items()}


GUARD_POLICY = guard_policy(DATA)


def categories_feeding(metric: str) -> tuple[str, ...]:
    """The case categories whose failures count against `metric`."""
    return tuple(name for name, m in METRIC_OF.items() if m == metric)


def diagnosis(mode: str) -> dict | None:
    """title, pair_type (the pair that fixes it), fix and cause of a failure mode; None for one without a diagnosis."""
    entry = _METRIC.get(mode, {}).get("diagnosis")
    if entry is None:
        return None
    return {**entry, "pair_type": PAIR_TYPE[categories_feeding(mode)[0]]}
