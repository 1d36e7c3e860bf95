"""Validate and summarise a preference-pair file (ours or the user's):

    taskalign prefs validate prefs.jsonl [--cases cases.jsonl]     # every problem with its line number
    taskalign prefs stats prefs.jsonl                              # counts, lengths, on-policy share
"""

import statistics
from collections import Counter
from pathlib import Path

from taskalign.domain.conversation import messages_problem
from taskalign.domain.toolcalls import parse_tool_calls
from taskalign.errors import UserError
from taskalign.files import iter_lines
from taskalign.prefs.pairs import HELPFUL_TYPES, SAFETY_TYPES

META_KEYS = ("case_id", "category", "intent_id", "pair_type", "source")  # required by the docs/design.md contract


def _message_problems(messages, field: str) -> list[str]:
    if problem := messages_problem(messages, field):
        return [problem]
    return [f"{field}[{i}] ({m['role']}) has empty content" for i, m in enumerate(messages) if not m["content"].strip()]


def _role_problems(row: dict) -> list[str]:
    roles = [m["role"] for m in row["prompt"]]
    body = roles[1:] if roles[0] == "system" else roles
    if not body or body != ["user" if i % 2 == 0 else "assistant" for i in range(len(body))] or body[-1] != "user":
        return [f"prompt roles {','.join(roles)} must be an optional system message, then user/assistant "
                "alternating, ending with user"]
    return [f"'{f}' must be exactly one assistant message" for f in ("chosen", "rejected")
            if len(row[f]) != 1 or row[f][0]["role"] != "assistant"]


def _leaks(cases: list[dict] | None) -> dict:
    test = [c for c in cases or [] if c.get("split") == "test"]
    return {"ids": {c.get("id") for c in test}, "intents": {c.get("intent_id") for c in test if c.get("intent_id")},
            "texts": {" ".join(str(c["turns"][-1]).lower().split()): c.get("id") for c in test if c.get("turns")}}


def _leak_problems(row: dict, leaks: dict) -> list[str]:
    meta, out = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}, []
    if meta.get("case_id") in leaks["ids"]:
        out.append(f"case {meta['case_id']} is a test-split case (leakage)")
    if meta.get("intent_id") in leaks["intents"]:
        out.append(f"intent {meta['intent_id']} has test-split cases (leakage)")
    last = " ".join(row["prompt"][-1]["content"].lower().split())
    if last in leaks["texts"] and leaks["texts"][last] != meta.get("case_id"):
        out.append(f"the prompt is the request of test case {leaks['texts'][last]} (leakage)")
    return out


def _meta_problems(meta, first: dict) -> list[str]:
    """Same keys and value types on every row; otherwise datasets/Arrow cannot load the file as one table."""
    if not isinstance(meta, dict):
        return ["'metadata' must be an object"]
    out = [f"metadata lacks '{k}'" for k in META_KEYS if k not in meta]
    if first.setdefault("keys", set(meta)) != set(meta):
        out.append(f"metadata keys {sorted(meta)} differ from the first row's {sorted(first['keys'])}")
    for key, value in meta.items():
        kind = type(value).__name__
        if value is not None and first.setdefault(key, kind) != kind:
            out.append(f"metadata '{key}' is {kind} here but {first[key]} on an earlier row")
    return out


def _row_problems(row: dict, leaks: dict, first: dict) -> list[str]:
    missing = [k for k in ("prompt", "chosen", "rejected") if k not in row]
    if missing:
        return [f"missing {', '.join(missing)}"]
    out = [p for f in ("prompt", "chosen", "rejected") for p in _message_problems(row[f], f)]
    if out:
        return out
    out = _role_problems(row) + _meta_problems(row.get("metadata"), first) + _leak_problems(row, leaks)
    chosen, rejected = row["chosen"][0]["content"], row["rejected"][0]["content"]
    if " ".join(chosen.lower().split()) == " ".join(rejected.lower().split()):
        out.append("chosen and rejected are the same")
    out += [f"chosen reply has an invalid tool call: {c.error}" for c in parse_tool_calls(chosen) if not c.valid]
    return out


def validate(path: Path, cases: list[dict] | None = None) -> list[str]:
    """Every problem in the file as "FILE line N: ..."; with `cases`, pairs from test-split cases/intents are problems."""
    leaks, first, problems, n = _leaks(cases), {}, [], 0
    for lineno, row, error in iter_lines(Path(path)):
        n += 1
        problems += [f"{path} line {lineno}: {p}" for p in ([error] if error else _row_problems(row, leaks, first))]
    if n == 0:
        problems.append(f"{path}: the file has no pairs")
    return problems


def _lengths(values: list[int]) -> dict:
    if not values:
        return {"min": 0, "median": 0, "mean": 0.0, "p90": 0, "max": 0}
    ordered = sorted(values)
    return {"min": ordered[0], "median": statistics.median(ordered), "mean": round(statistics.fmean(ordered), 1),
            "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], "max": ordered[-1]}


def stats(path: Path) -> dict:
    """Counts per pair type / harm category / source, word lengths, and the share of on-policy rejected replies."""
    rows = []
    for lineno, row, error in iter_lines(Path(path)):
        problem = error or next((p for f in ("prompt", "chosen", "rejected")
                                 if (p := messages_problem(row.get(f), f))), None)
        if problem:
            raise UserError(f"{path} line {lineno}: {problem}; run `taskalign prefs validate {path}`.")
        rows.append(row)
    metas = [r.get("metadata") if isinstance(r.get("metadata"), dict) else {} for r in rows]
    types = Counter(m.get("pair_type") or "unknown" for m in metas)
    turn_words = [sum(len(str(m.get("content", "")).split()) for m in r["prompt"] if m.get("role") != "system")
                  for r in rows]
    on_policy = sum(m.get("on_policy") is True for m in metas)
    return {"file": str(path), "pairs": len(rows),
            "safety_pairs": sum(n for t, n in types.items() if t in SAFETY_TYPES),
            "helpfulness_pairs": sum(n for t, n in types.items() if t in HELPFUL_TYPES),
            "by_pair_type": dict(sorted(types.items())),
            "by_harm_category": dict(sorted(Counter(m.get("harm_category") or "none" for m in metas).items())),
            "by_source": dict(sorted(Counter(m.get("source") or "unknown" for m in metas).items())),
            "on_policy": on_policy, "on_policy_share": round(on_policy / len(rows), 3) if rows else 0.0,
            "words": {"prompt_turns": _lengths(turn_words),
                      "chosen": _lengths([len(str(r["chosen"][0].get("content", "")).split()) for r in rows]),
                      "rejected": _lengths([len(str(r["rejected"][0].get("content", "")).split()) for r in rows])}}
