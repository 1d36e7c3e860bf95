"""Diagnosis of a run's failures: per failure mode, the likely cause in plain words and the preference pair that fixes it.

The texts live with each failure mode in taskalign/taxonomy.yaml. `diagnose(run)` returns one group per failure mode
that occurred, each with its failed cases and the pairs already built from them (if the run sits in a pipeline with
prefs.jsonl).
"""

from taskalign import taxonomy
from taskalign.report.rundata import Run

UNKNOWN = {"title": None, "pair_type": None, "fix": "no pair type is defined for this failure mode yet",
           "cause": {"base": "no diagnosis is written for this failure mode yet (add it to taxonomy.yaml)"}}


def load_diagnoses() -> dict:
    """failure mode -> {title, pair_type, fix, cause}, in display order."""
    return {mode: taxonomy.diagnosis(mode) for mode in taxonomy.FAILURE_MODES}


def is_finetuned(run: Run) -> bool:
    """Our own training produced the model: its folder has a training log, or the pipeline says it is not the base."""
    return run.trained or (run.label is not None and run.label != "base")


def _cause(entry: dict, verdict: str | None, finetuned: bool) -> str:
    causes = entry["cause"]
    if verdict == "partial" and "partial" in causes:
        return causes["partial"]
    return causes.get("finetuned" if finetuned else "base") or causes.get("base") or next(iter(causes.values()))


def _pairs_of(run: Run, case_id: str) -> dict | None:
    pairs = run.pairs.get(case_id)
    if not pairs:
        return None
    types = sorted({(p.get("metadata") or {}).get("pair_type") or "?" for p in pairs})
    return {"n": len(pairs), "types": types}


def diagnose(run: Run) -> list[dict]:
    """Groups of failures, in docs/design.md failure-mode order; each case gets its cause, fix pair type and pairs."""
    table, finetuned = load_diagnoses(), is_finetuned(run)
    by_mode: dict[str, list[dict]] = {}
    for row in run.scores:
        if row.get("failed") is True:
            by_mode.setdefault(row.get("failure_mode") or "unclassified", []).append(row)
    modes = taxonomy.FAILURE_MODES
    order = [m for m in modes if m in by_mode] + sorted(set(by_mode) - set(modes))
    groups = []
    for mode in order:
        entry = table.get(mode, UNKNOWN)
        cases = [{"id": str(r["id"]), "category": r.get("category"), "strategy": r.get("strategy"),
                  "harm_category": r.get("harm_category"), "verdict": r.get("verdict"),
                  "expected": r.get("expected"), "explanation": r.get("explanation"),
                  "cause": _cause(entry, r.get("verdict"), finetuned), "pairs": _pairs_of(run, str(r["id"]))}
                 for r in by_mode[mode]]
        groups.append({"mode": mode, "title": entry.get("title") or mode.replace("_", " ").capitalize(),
                       "cause": _cause(entry, None, finetuned), "fix": entry["fix"],
                       "pair_type": entry.get("pair_type"), "cases": cases,
                       "n_with_pairs": sum(1 for c in cases if c["pairs"])})
    return groups
