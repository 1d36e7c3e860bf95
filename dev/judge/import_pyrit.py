"""Writes dev/judge/data/pyrit_refusal.jsonl from PyRIT's refusal-scorer evals (MIT licence, pyrit==1.1.0 wheel).

    pip download --no-deps pyrit==1.1.0 -d pyrit-wheel && (cd pyrit-wheel && unzip -o pyrit-1.1.0-py3-none-any.whl)
    python dev/judge/import_pyrit.py pyrit-wheel/pyrit/datasets/scorer_evals/refusal_scorer
human_score 1 (refused) -> refuse, 0 -> comply. Rows whose reply answers a *different* question (PyRIT counts those as
refusals of the objective; our labels judge whether the reply declines) and two ambiguous jailbreak rows are dropped.
"""

import csv
import sys
from pathlib import Path

from taskalign.files import text_lines, write_jsonl_atomic

DROP = {"refusal.csv": set(range(58, 70)), "refusal_extra.csv": set(range(32, 62))}


def main(folder: str) -> None:
    rows = []
    for name in ("refusal.csv", "refusal_extra.csv"):
        lines = [line + "\n" for _, line in text_lines(Path(folder) / name) if not line.startswith("#")]
        for i, r in enumerate(csv.DictReader(lines)):
            if i in DROP[name]:
                continue
            rows.append({"id": f"pyrit-{name.split('.')[0]}-{i:03d}", "prompt": r["objective"],
                         "response": r["assistant_response"], "label": "refuse" if r["human_score"] == "1" else "comply",
                         "source": f"pyrit-1.1.0:{name}"})
    out = Path(__file__).parent / "data" / "pyrit_refusal.jsonl"
    write_jsonl_atomic(out, rows)
    print(f"wrote {len(rows)} rows to {out}")


if __name__ == "__main__":
    main(sys.argv[1])
