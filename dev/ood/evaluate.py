"""The out-of-distribution dev set: does a model refuse harm in words it was not trained on, and still help?

    python -m dev.ood.evaluate MODEL OUT            # evaluate one model (resumes: both runs are resumable)
    python -m dev.ood.evaluate --table NAME=OUT ... # one row per evaluated folder

Three files written apart from every training row (README.md): 60 harmful task requests and 60 benign requests that
borrow the same scary words, each in five writing styles (their `style` field), and 36 everyday requests. The
harmful rows go through `taskalign attack --budget 1` (the request exactly as written, judged by the cross judge
against itself); the benign and everyday rows through `taskalign redteam --cases` as `benign_edge` and `capability`
cases. The table also splits the harmful and benign results by style. It is for choosing settings; the suite's test
split stays the held-out check.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

from taskalign.files import read_jsonl
from taskalign.suite.strategies import row_cases

HERE = Path(__file__).parent
HARMFUL, BENIGN, EVERYDAY = HERE / "harmful.jsonl", HERE / "benign.jsonl", HERE / "everyday.jsonl"


def cases() -> list[dict]:
    """The benign rows as benign_edge cases, the everyday rows as capability cases (scored for task accuracy)."""
    benign = row_cases(read_jsonl(BENIGN), "benign_edge", "comply")
    everyday = [{**c, "id": f"capability/{c['id'].split('/', 1)[1]}", "category": "capability"}
                for c in row_cases(read_jsonl(EVERYDAY), "capability", "comply")]
    return benign + everyday


def evaluate(model: str, out: Path, max_new_tokens: int = 64) -> None:
    out.mkdir(parents=True, exist_ok=True)
    case_file = out / "dev_cases.jsonl"
    case_file.write_text("".join(json.dumps(c) + "\n" for c in cases()))
    python = [sys.executable, "-m", "taskalign"]
    subprocess.run(python + ["attack", "--model", model, "--out", str(out / "harmful"), "--intents", str(HARMFUL),
                             "--budget", "1", "--max-new-tokens", str(max_new_tokens)], check=True)
    subprocess.run(python + ["redteam", "--model", model, "--cases", str(case_file), "--out", str(out / "benign"),
                             "--max-new-tokens", str(max_new_tokens)], check=True)


def row(out: Path) -> dict:
    attack = json.loads((out / "harmful" / "summary.json").read_text())["metrics"]["attack_success"]
    scores = read_jsonl(out / "benign" / "scores.jsonl")
    benign = [s for s in scores if s["category"] == "benign_edge"]
    everyday = [s for s in scores if s["category"] == "capability"]
    return {"harmful_carried_out": round(attack["value"] * attack["n"]), "harmful_n": attack["n"],
            "benign_refused": sum(s["verdict"] != "comply" for s in benign), "benign_done_right":
            sum(bool(s["task_correct"]) for s in benign), "benign_n": len(benign),
            "everyday_done_right": sum(bool(s["task_correct"]) for s in everyday), "everyday_n": len(everyday)}


def by_style(out: Path) -> dict[str, list[int]]:
    """Per writing style: [harmful carried out, harmful rows, benign not carried out, benign rows]."""
    styles = {r["id"]: r["style"] for path in (HARMFUL, BENIGN) for r in read_jsonl(path)}
    counts: dict[str, list[int]] = {}
    for s in read_jsonl(out / "harmful" / "scores.jsonl"):
        c = counts.setdefault(styles[s["intent_id"]], [0, 0, 0, 0])
        c[0], c[1] = c[0] + bool(s["failed"]), c[1] + 1
    for s in read_jsonl(out / "benign" / "scores.jsonl"):
        if s["category"] == "benign_edge":
            c = counts.setdefault(styles[s["id"].split("/", 1)[1]], [0, 0, 0, 0])
            c[2], c[3] = c[2] + (s["verdict"] != "comply"), c[3] + 1
    return counts


def style_table(named: list[str]) -> str:
    styles = list(dict.fromkeys(r["style"] for r in read_jsonl(HARMFUL)))
    lines = ["| run | " + " | ".join(styles) + " |", "|---|" + "---|" * len(styles),
             "| (harmful carried out / benign not carried out, of 12 each) |" + " |" * len(styles)]
    for item in named:
        name, _, folder = item.partition("=")
        counts = by_style(Path(folder))
        lines.append(f"| {name} | " + " | ".join(f"{counts[s][0]} / {counts[s][2]}" for s in styles) + " |")
    return "\n".join(lines)


def table(named: list[str]) -> str:
    lines = ["| run | harmful carried out | benign not carried out | benign done right | everyday done right |",
             "|---|---|---|---|---|"]
    for item in named:
        name, _, folder = item.partition("=")
        r = row(Path(folder))
        lines.append(f"| {name} | {r['harmful_carried_out']} of {r['harmful_n']} | {r['benign_refused']} of "
                     f"{r['benign_n']} | {r['benign_done_right']} of {r['benign_n']} | {r['everyday_done_right']} of "
                     f"{r['everyday_n']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?")
    parser.add_argument("out", nargs="?", type=Path)
    parser.add_argument("--table", nargs="+", metavar="NAME=OUT")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        print()
        print(style_table(args.table))
    elif args.model and args.out:
        evaluate(args.model, args.out, args.max_new_tokens)
    else:
        parser.error("give MODEL OUT, or --table NAME=OUT ...")


if __name__ == "__main__":
    main()
