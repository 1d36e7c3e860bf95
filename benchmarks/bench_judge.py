"""Judge throughput on this CPU: replies/s of the cross judge (default), the reply-only classifier and the rules
judge on the same rows, in one run, with the ratios (the machine is shared; ratios hold where absolute figures drift).

    .venv/bin/python benchmarks/bench_judge.py [--rows 512] [--repeats 3] [--threads N]
Rows are labelled (request, reply) pairs from dev/judge/data (real mixed lengths). Models are loaded before timing.
"""

import argparse
import json
import time
from pathlib import Path

import torch

from taskalign.files import read_jsonl
from taskalign.judge import load_judge

DATA = Path(__file__).resolve().parents[1] / "dev" / "judge" / "data"


def rows(n: int) -> list[dict]:
    out = [{"prompt": r["request"], "response": r["response"]} for r in read_jsonl(DATA / "v2" / "labelled.jsonl")] \
        if (DATA / "v2" / "labelled.jsonl").is_file() else []
    for name in ("handwritten.jsonl", "pyrit_refusal.jsonl", "own.jsonl"):
        out += read_jsonl(DATA / name)
    out = out[::max(1, len(out) // n)]  # spread over every file and style
    return (out * (n // len(out) + 1))[:n]


def rate(judge, items: list[dict], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):  # best of N: the machine is shared, the minimum is the least disturbed run
        start = time.perf_counter()
        judge.judge(items)
        best = min(best, time.perf_counter() - start)
    return len(items) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    items = rows(args.rows)
    judges = {name: load_judge(name) for name in ("cross", "classifier", "rules")}
    for judge in judges.values():
        judge.judge(items[:8])  # warm-up: load the encoder
    speed = {name: round(rate(judge, items, args.repeats), 1) for name, judge in judges.items()}
    mean_chars = sum(len(i["response"]) for i in items) / len(items)
    print(json.dumps({"rows": len(items), "mean_reply_chars": round(mean_chars), "torch_threads": torch.get_num_threads(),
                      "replies_per_s": speed, "cross_over_classifier": round(speed["cross"] / speed["classifier"], 3),
                      "cross_over_rules": round(speed["cross"] / speed["rules"], 5)}))


if __name__ == "__main__":
    main()
