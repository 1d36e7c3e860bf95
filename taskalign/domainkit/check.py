"""`taskalign domain check DIR`: every problem of a domain folder as one sentence naming its file (and line), and
which metrics the files it lacks leave unmeasured.

    from taskalign.domainkit.check import check_domain
    problems, notes = check_domain("my_domain")     # problems: ["FILE line N: ..."], notes: what goes unmeasured
"""

import re
from pathlib import Path

from taskalign.domain.load import Domain, read_spec
from taskalign.errors import UserError
from taskalign.files import NOT_AN_OBJECT, iter_lines

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
SPLITS = ("train", "test")
INTENT_TEXT = ("request", "softened", "reframe")
# What each optional suite file feeds, and what is lost without it (besides the metrics computed below).
FEEDS = dict(zip("intents lookalikes ambiguous capability".split(),
                 ("harmful intents", "benign look-alikes", "ambiguous requests", "capability templates")))
ALSO_LOST = {"intents": "no safety preference pairs", "capability": "no capability cases and no SFT conversations",
             "bank": "preference pairs use the built-in TaskMaster phrase bank"}


def _str_list(value, least: int = 1) -> bool:
    return isinstance(value, list) and len(value) >= least and all(isinstance(v, str) and v.strip() for v in value)


def _call_problem(call, tools: list[dict]) -> str | None:
    from taskalign.domain.toolcalls import schemas_by_name, validate_call

    if not isinstance(call, dict) or not isinstance(call.get("name"), str) or not isinstance(call.get("arguments", {}), dict):
        return "must be {\"name\": ..., \"arguments\": {...}}"
    valid, error = validate_call(call["name"], call.get("arguments", {}), schemas_by_name(tools))
    return None if valid else error


def _row_problems(key: str, row: dict, tools: list[dict], harms: set[str]) -> list[str]:
    from taskalign.redteam.score import task_correct

    found = []
    if not isinstance(row.get("id"), str) or not SLUG.match(row["id"]):
        found.append("'id' must be lower-case letters, digits and '-' (e.g. \"read-partner-email\")")
    if row.get("split") not in SPLITS:
        found.append("'split' must be \"train\" or \"test\"")
    if "harm_category" in row and row["harm_category"] not in harms:
        found.append(f"harm_category {row['harm_category']!r} is not in the taxonomy's harm_categories "
                     f"({', '.join(sorted(harms))}); add it there or use one of those")
    texts = INTENT_TEXT if key == "intents" else ("request",) + (("clarify_question",) if key == "ambiguous" else ())
    found += [f"'{k}' must be a non-empty string" for k in texts if not isinstance(row.get(k), str) or not row[k].strip()]
    if key == "intents":
        if "harm_category" not in row:
            found.append("'harm_category' is required (a name under the taxonomy's harm_categories)")
        if not _str_list(row.get("escalation"), 2):
            found.append("'escalation' must be a list of at least 2 user turns, the last one the harmful request")
        if not _str_list(row.get("alternatives")):
            found.append("'alternatives' must list legitimate things the assistant can offer instead")
    if key != "intents" and "reference_call" in row and (problem := _call_problem(row["reference_call"], tools)):
        found.append(f"reference_call {problem}")
    if key == "lookalikes":
        if "expected_tool" not in row or "reference_call" not in row:
            found.append("a look-alike needs 'expected_tool' (what the scorer checks) and 'reference_call' (the right call)")
        elif isinstance(row["reference_call"], dict) and isinstance(row["expected_tool"], dict) and not task_correct(
                row["expected_tool"], [{"valid": True, **row["reference_call"]}]):
            found.append("reference_call does not satisfy expected_tool; make them agree")
    return found


def _rows_problems(domain: Domain, key: str, tools: list[dict], harms: set[str]) -> list[str]:
    path, found, first = domain.path(key), [], {}
    if not path.is_file():
        return [f"{path}: the file domain.yaml names under '{key}' does not exist; create it or remove the entry"]
    for number, row, error in iter_lines(path):
        problems = ([error] if error not in (None, NOT_AN_OBJECT) else
                    ["each line must be one JSON object"] if error else _row_problems(key, row, tools, harms))
        if not problems and row["id"] in first:
            problems = [f"duplicate id {row['id']!r} (first on line {first[row['id']]})"]
        if not problems:
            first[row["id"]] = number
        found += [f"{path} line {number}: {p}" for p in problems]
    if not first and not found:
        found.append(f"{path}: holds no rows; add one JSON object per line or remove '{key}' from domain.yaml")
    return found


def _capability_problems(domain: Domain, tools: list[dict]) -> list[str]:
    from taskalign.suite.capability import capability_cases

    path, names = domain.path("capability"), {t["function"]["name"] for t in tools}
    templates = domain.capability
    specs = templates.get("tools")
    if not isinstance(specs, dict) or not specs:
        return [f"{path}: needs a 'tools' mapping of tool name -> {{count, draw, requests}}"]
    found = []
    for tool, spec in specs.items():
        if tool not in names:
            found.append(f"{path}: tool {tool!r} is not in the domain's tools ({', '.join(sorted(names))})")
        elif not isinstance(spec, dict) or not isinstance(spec.get("count"), int) or spec["count"] < 1 or not (
                isinstance(spec.get("requests"), list) and spec["requests"]
                and all(isinstance(r, dict) and "say" in r and "call" in r for r in spec["requests"])):
            found.append(f"{path}: tool {tool} needs a positive 'count' and 'requests', each with 'say' and 'call'")
    if found:
        return found
    try:
        cases = capability_cases(templates)
    except (UserError, KeyError, TypeError, ValueError) as exc:
        return [f"{path}: {exc}"]
    for case in cases:
        if problem := _call_problem(case["reference_call"], tools):
            found.append(f"{path}: tool {case['tags'][0]}, request {case['turns'][0]!r}: the call {problem}")
            break
    return found


def _taxonomy_problems(domain: Domain) -> list[str]:
    try:
        return [] if domain.taxonomy else [f"{domain.path('taxonomy')}: holds no taxonomy sections"]
    except UserError as exc:
        return [str(exc)]


def unmeasured(missing: list[str]) -> list[str]:
    """One note per file the domain lacks: the metrics no case of the domain then feeds, or that rest on fewer cases."""
    from taskalign.redteam.metrics import compute_metrics
    from taskalign.taxonomy import EXPECTED_OF, REFUSE_CATEGORIES

    def feeding(keys) -> dict[str, int]:
        cats = dict(zip(FEEDS, (REFUSE_CATEGORIES, ("benign_edge",), ("ambiguous",), ("capability",))))
        rows = [{"category": c, "expected": EXPECTED_OF[c], "verdict": "refuse" if EXPECTED_OF[c] == "refuse" else "comply",
                 "task_correct": True if EXPECTED_OF[c] == "comply" else None,
                 "tool_calls": [{"valid": True}] if EXPECTED_OF[c] == "comply" else []}
                for key in keys for c in cats[key]]
        return {name: m["n"] for name, m in compute_metrics(rows).items()}

    every = feeding(FEEDS)
    present = feeding([k for k in FEEDS if k not in missing])
    notes = []
    for key in missing:
        alone = feeding([k for k in FEEDS if k != key])
        gone = [m for m, n in every.items() if n and not alone[m]]
        thin = [m for m, n in every.items() if alone[m] and alone[m] < n]
        parts = ([f"{', '.join(gone)} unmeasured"] if gone else []) + (
            [f"{', '.join(thin)} measured on the other files' cases only"] if thin else [])
        parts += [ALSO_LOST[key]] if key in ALSO_LOST else []
        what = FEEDS.get(key, "refusal phrase bank")
        notes.append(f"no {what} ('{key}'): " + "; ".join(parts or ["nothing is lost"]))
    if [m for m, n in present.items() if every[m] and not n]:
        notes.append("unmeasured in all: " + ", ".join(m for m, n in present.items() if every[m] and not n))
    return notes


def check_domain(root: str | Path) -> tuple[list[str], list[str]]:
    """(problems, notes) of a domain folder: problems make it unusable; notes say what it leaves unmeasured."""
    root = Path(root)
    if not (root / "domain.yaml").is_file():
        return [f"{root}: no domain.yaml there; pass a domain folder (make one with `taskalign domain new`)"], []
    try:
        domain = Domain(root.resolve(), read_spec(root))
        tools = list(domain._tools)
        persona = domain.persona
    except UserError as exc:
        return [str(exc)], []
    found = [] if "{today}" in persona else [f"{domain.path('persona') or root / 'domain.yaml'}: the persona has no "
                                             "{today}; add 'Today is {today}.' so dates in requests resolve"]
    found += _taxonomy_problems(domain)
    harms = set((domain.taxonomy if not found else {}).get("harm_categories") or {})
    for key in FEEDS:
        if domain.path(key) is not None:
            found += _capability_problems(domain, tools) if key == "capability" else _rows_problems(domain, key, tools, harms)
    if domain.path("bank") is not None:
        found += _bank_problems(domain)
    missing = [k for k in (*FEEDS, "bank") if domain.path(k) is None]
    return found, unmeasured(missing)


def _bank_problems(domain: Domain) -> list[str]:
    from taskalign.domain.load import load_domain

    path = domain.path("bank")
    try:
        bank = domain.bank
    except UserError as exc:
        return [str(exc)]
    need = [k for k in load_domain().bank if not k.startswith("_")]
    missing = [k for k in need if k not in (bank or {})]
    return [f"{path}: missing {', '.join(missing)}; every list of the built-in bank is needed (see docs/domains.md)"] \
        if missing else []

