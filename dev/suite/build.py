"""Build the built-in suite (development tool: it writes the package's data files): intents x strategies, benign look-alikes, ambiguous and capability cases -> cases.jsonl.

    python -m dev.suite.build [--seed 0] [--out PATH] [--resplit]

The same seed and data files give a byte-identical cases.jsonl. `--resplit` rewrites the `split` of every intent,
benign and ambiguous row (seeded, stratified per harm category), e.g. after adding rows.
"""

import argparse
import math
import random
from collections import defaultdict
from pathlib import Path

from taskalign.files import read_jsonl, write_jsonl_atomic
from dev.suite.capability import capability_cases
from taskalign.suite.strategies import DATA, harmful_cases, load_strategies, row_cases

TEST_FRACTION = 0.4  # >= 35 % test after rounding up per stratum


def stratified_split(rows: list[dict], key: str, seed: int = 0, test_fraction: float = TEST_FRACTION) -> dict:
    """id -> "train"|"test"; within each value of `key`, a seeded ceil(test_fraction * n) rows go to test."""
    groups = defaultdict(list)
    for row in rows:
        groups[row.get(key) or ""].append(row["id"])
    split = {}
    for name in sorted(groups):
        ids = sorted(groups[name])
        random.Random(f"{seed}:split:{name}").shuffle(ids)
        n_test = math.ceil(test_fraction * len(ids))
        split.update({i: ("test" if k < n_test else "train") for k, i in enumerate(ids)})
    return split


def data_rows(name: str) -> list[dict]:
    return read_jsonl(DATA / name)


def build_cases(seed: int = 0) -> list[dict]:
    """Every built-in case, in a fixed order (harmful by intent, then benign, ambiguous, capability)."""
    cases = harmful_cases(data_rows("intents.jsonl"), load_strategies(), seed)
    cases += row_cases(data_rows("benign_edge.jsonl"), "benign_edge", "comply")
    cases += row_cases(data_rows("ambiguous.jsonl"), "ambiguous", "clarify")
    capability = capability_cases(seed)
    split = stratified_split([{"id": c["id"], "tool": c["expected_tool"]["name"]} for c in capability], "tool", seed)
    return cases + [{**c, "split": split[c["id"]]} for c in capability]


def resplit(seed: int = 0) -> None:
    for name in ("intents.jsonl", "benign_edge.jsonl", "ambiguous.jsonl"):
        rows = data_rows(name)
        split = stratified_split(rows, "harm_category", seed)
        write_jsonl_atomic(DATA / name, [{**r, "split": split[r["id"]]} for r in rows])


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="picks templates, capability prompts and splits")
    parser.add_argument("--out", type=Path, default=DATA / "cases.jsonl", help="where to write the cases")
    parser.add_argument("--resplit", action="store_true", help="reassign train/test splits in the data files first")
    args = parser.parse_args(argv)
    if args.resplit:
        resplit(args.seed)
    cases = build_cases(args.seed)
    write_jsonl_atomic(args.out, cases)
    print(f"wrote {len(cases)} cases to {args.out}")
    return args.out


if __name__ == "__main__":
    main()
