"""DPO, KTO and ORPO on the same pairs: wall time of a whole `train` run (reference pass included), as ratios to DPO.

    .venv/bin/python benchmarks/bench_methods.py --model runs/demo/models/sft --data runs/demo/prefs.jsonl
    .venv/bin/python benchmarks/bench_methods.py --model embedded --data prefs.jsonl --pairs 64 --steps 8

Each arm is the real `taskalign train METHOD` run (taskalign.train.dpo|kto|orpo.run) on the first --pairs pairs, with
the default pipeline profile's settings for that method (taskalign/pipeline.yaml) and --steps optimizer steps: model
load, LoRA, the reference pass where the method has one (DPO: shared-prefix pass over every pair; KTO: TRL's pass over
every row and its KL rows; ORPO: none), the steps, the merge and the save. It prints seconds per arm (from each run's
train_summary.json) and the ratio to DPO. The arms run one after the other; run it on an idle machine.
"""

import argparse
import json
import tempfile
from pathlib import Path

import yaml


def main(argv: list[str] | None = None) -> None:
    from taskalign.files import write_jsonl_atomic
    from taskalign.pipeline import PROFILES
    from taskalign.train import dpo, kto, orpo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="Model spec to train from (the pipeline's SFT model).")
    parser.add_argument("--data", required=True, help="Preference pairs (prefs.jsonl).")
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--json", help="Also write the figures here.")
    args = parser.parse_args(argv)

    profile = yaml.safe_load(Path(PROFILES).read_text())["default"]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "pairs.jsonl"
        write_jsonl_atomic(data, dpo.load_pairs(args.data)[:args.pairs])
        for name, stage in (("dpo", dpo), ("kto", kto), ("orpo", orpo)):
            section = {**profile[name], "max_steps": args.steps}
            out = Path(tmp) / name
            stage.run(stage.load_settings(None, model=args.model, data=str(data), out=str(out), **section),
                      log=lambda *a: None)
            summary = json.loads((out / "train_summary.json").read_text())
            results[name] = {"seconds": summary["duration_s"], "steps": summary["steps"]}
    base = results["dpo"]["seconds"]
    for name, r in results.items():
        r["ratio_to_dpo"] = round(r["seconds"] / base, 3)
        print(f"{name:5s} {r['seconds']:7.1f} s  {r['steps']} steps  x{r['ratio_to_dpo']:.2f} of dpo")
    if args.json:
        Path(args.json).write_text(json.dumps({"pairs": args.pairs, "steps": args.steps, "arms": results}, indent=2))


if __name__ == "__main__":
    main()
