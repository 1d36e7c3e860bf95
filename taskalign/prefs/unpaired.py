"""Unpaired rows for KTO straight from judged red-team replies: `taskalign prefs unpaired --from RUN --out kto.jsonl`.

Each reply the judge scored becomes one row: the conversation before it (`prompt`), the reply itself (`completion`)
and `label`: true when the judge found the reply right for its case (a refusal of a harmful request, a done task),
false when the case failed. No pair is composed: both kinds are the model's own replies, which is what KTO
(`taskalign train kto`) learns from. Only train-split cases of train intents are used, replies that were errors or
`uncertain` are skipped, and the same inputs give a byte-identical file.
"""

from pathlib import Path

from taskalign.errors import UserError
from taskalign.files import write_jsonl_atomic
from taskalign.prefs.build import read_run, train_cases
from taskalign.prefs.pairs import run_prefix


def unpaired_rows(run_dirs: list[Path]) -> list[dict]:
    """One row per judged train-split reply of the runs, in run then case order."""
    rows = []
    for run_dir in run_dirs:
        records = read_run(run_dir)
        allowed = {c["id"] for c in train_cases([r["case"] for r in records.values()])}
        for case_id, record in records.items():
            score = record["score"] or {}
            if case_id not in allowed or score.get("failed") is None or score.get("verdict") in ("error", "uncertain"):
                continue
            prompt = run_prefix(record["case"], record)
            if prompt is None:
                continue
            rows.append({"prompt": prompt, "completion": [{"role": "assistant",
                                                             "content": record["messages"][-1]["content"]}],
                         "label": not score["failed"],
                         "metadata": {"case_id": case_id, "category": record["case"].get("category"),
                                      "verdict": score.get("verdict"), "run": Path(run_dir).name}})
    return rows


def write_unpaired(run_dirs: list[Path], out: Path) -> dict:
    """Write the rows atomically; returns counts (rows, desirable, undesirable) and KTO weights that balance them."""
    rows = unpaired_rows(run_dirs)
    good = sum(r["label"] for r in rows)
    bad = len(rows) - good
    if not good or not bad:
        raise UserError(f"{', '.join(map(str, run_dirs))} gave {good} desirable and {bad} undesirable train-split "
                        "replies; KTO needs both, so red-team more train cases (--split train) or add a run.")
    write_jsonl_atomic(Path(out), rows)
    # KTO's authors keep desirable_weight * n_desirable / (undesirable_weight * n_undesirable) within [1, 4/3].
    return {"rows": len(rows), "desirable": good, "undesirable": bad,
            "undesirable_weight": round(good / bad, 3) if bad > good else 1.0,
            "desirable_weight": round(bad / good, 3) if good > bad else 1.0}
