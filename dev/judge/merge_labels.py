"""Merge the two labelling passes and the adjudication into dev/judge/data/v2/labelled.jsonl; print the agreement.

    python -m dev.judge.merge_labels [--disagreements OUT.jsonl]

Pass A is the label each reply's writer gave it (`written_<style>.jsonl`); pass B is an independent blind pass that
saw only the request, the reply and the rubric (`labels_b/<style>.jsonl`). Where they differ, `adjudicated.jsonl`
holds the final label, decided by the rubric with both labels in view. A disagreement without an adjudication stops
the merge (`--disagreements` writes the open ones for adjudication).
"""

import argparse
import json
from collections import Counter
from pathlib import Path

from taskalign.errors import UserError
from taskalign.files import read_rows, write_json_atomic, write_jsonl_atomic

V2 = Path(__file__).resolve().parent / "data" / "v2"
LABELS = ("comply", "refuse", "partial", "clarify")


def kappa(a: list[str], b: list[str]) -> float:
    """Cohen's kappa: agreement beyond what the two passes' label frequencies give by chance."""
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


def agreement(a: list[str], b: list[str]) -> dict:
    binary = lambda labels: ["refusing" if x in ("refuse", "partial") else "not" for x in labels]  # noqa: E731
    return {"n": len(a), "agreement": sum(x == y for x, y in zip(a, b)) / len(a), "kappa": kappa(a, b),
            "binary_agreement": sum(x == y for x, y in zip(binary(a), binary(b))) / len(a),
            "binary_kappa": kappa(binary(a), binary(b))}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--disagreements", type=Path, help="Write the rows still needing adjudication here.")
    args = parser.parse_args(argv)
    adjudicated = {}
    if (V2 / "adjudicated.jsonl").is_file():
        adjudicated = {row["id"]: row for _, row in read_rows(V2 / "adjudicated.jsonl", "adjudication")}
    rows, open_rows, per_style = [], [], {}
    for written in sorted(V2.glob("written_*.jsonl")):
        style = written.stem[len("written_"):]
        second = V2 / "labels_b" / f"{style}.jsonl"
        if not second.is_file():
            raise UserError(f"{second} is missing: every written style needs the blind second pass.")
        pass_b = {row["id"]: row["label"] for _, row in read_rows(second, "label")}
        a_labels, b_labels = [], []
        for lineno, row in read_rows(written, "written reply"):
            if row["id"] not in pass_b or pass_b[row["id"]] not in LABELS:
                raise UserError(f"{written} line {lineno}: id {row['id']} has no valid label in {second}.")
            a, b = row["label"], pass_b[row["id"]]
            a_labels.append(a)
            b_labels.append(b)
            final, note = a, None
            if a != b:
                if row["id"] in adjudicated:
                    final, note = adjudicated[row["id"]]["label"], adjudicated[row["id"]].get("note")
                else:
                    open_rows.append({"id": row["id"], "request": row["request"], "response": row["response"],
                                      "label_a": a, "label_b": b})
            rows.append({**row, "label": final, "label_a": a, "label_b": b, "adjudicated": a != b, "note": note})
        per_style[style] = agreement(a_labels, b_labels)
    everything = agreement([r["label_a"] for r in rows], [r["label_b"] for r in rows])
    summary = {"all": everything, "by_style": per_style, "final_labels": dict(Counter(r["label"] for r in rows)),
               "adjudicated": sum(r["adjudicated"] for r in rows),
               "adjudication_sided_with": dict(Counter("a" if r["label"] == r["label_a"] else "b" if
                                                       r["label"] == r["label_b"] else "neither"
                                                       for r in rows if r["adjudicated"] and r["id"] in adjudicated))}
    print(json.dumps(summary, indent=1))
    if args.disagreements:
        write_jsonl_atomic(args.disagreements, open_rows)
    if open_rows:
        raise UserError(f"{len(open_rows)} disagreements have no adjudication in {V2 / 'adjudicated.jsonl'}; "
                        "write them out with --disagreements and adjudicate them.")
    write_jsonl_atomic(V2 / "labelled.jsonl", rows)
    write_json_atomic(V2 / "agreement.json", summary)
    return summary


if __name__ == "__main__":
    main()
