"""DPO on pairs in file order vs length-grouped order: TRL's reference pre-pass and training steps, as ratios.

    .venv/bin/python benchmarks/bench_dpo_order.py --model runs/demo/models/sft --data runs/demo/prefs.jsonl
    .venv/bin/python benchmarks/bench_dpo_order.py --model embedded --data prefs.jsonl --pairs 128 --steps 8

Each arm builds a real TRL DPOTrainer on the same first --pairs pairs with the pipeline's DPO settings (LoRA r16 on
the top 12 layers, batch 4, precision fast) and times its reference pre-pass over every pair (dataset order), then
--steps optimizer steps. "random": pairs in file order, random sampler (TRL's default). "grouped": pairs in
`dpo.length_grouped` order (what `train dpo` always feeds the pre-pass) and, as `group_by_length: true` does, a
sequential sampler. It reports the padded tokens each order costs, seconds, and grouped/random ratios. The arms run
one after the other; run it on an idle machine.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path


def padded_tokens(pairs: list[dict], tokenizer, batch_size: int) -> int:
    """Tokens a pass over `pairs` in this order costs: each batch's sequences are padded to its longest one."""
    from taskalign.train.dpo import pair_lengths

    lengths = pair_lengths(pairs, tokenizer)
    return sum(2 * len(lengths[i:i + batch_size]) * max(lengths[i:i + batch_size])
               for i in range(0, len(lengths), batch_size))


def run_arm(args, pairs: list[dict], out: Path, grouped: bool) -> dict:
    """One TRL DPOTrainer: its constructor runs the reference pre-pass over every pair, then --steps steps."""
    from datasets import Dataset
    from trl import DPOTrainer

    from taskalign.train import common, dpo

    settings = dpo.load_settings(None, model=args.model, out=str(out), max_steps=args.steps, batch_size=4,
                                 learning_rate=1.5e-3, lora_r=16, lora_layers=12, sft_weight=2.0, max_length=448,
                                 precision="fast", group_by_length=grouped)
    model, tokenizer = common.load_for_training(settings.model, precision=settings.precision)
    peft = common.lora_config(model, settings.lora_r, settings.lora_alpha, settings.lora_targets, settings.lora_layers)
    start = time.perf_counter()
    trainer = DPOTrainer(model=model, args=dpo.dpo_config(settings, out), train_dataset=Dataset.from_list(pairs),
                         processing_class=tokenizer, peft_config=peft)
    prepass = time.perf_counter() - start
    train_s = trainer.train().metrics["train_runtime"]
    return {"prepass_s": round(prepass, 1), "train_s": round(train_s, 1), "step_s": round(train_s / args.steps, 2)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--data", type=Path, required=True, help="prefs.jsonl, e.g. a pipeline run's")
    parser.add_argument("--pairs", type=int, default=256, help="first N pairs of --data")
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from taskalign.train import common, dpo

    threads = common.set_threads()
    common.score_completions_only_on_cpu()  # as `train dpo` does
    pairs = dpo.load_pairs(str(args.data))[:args.pairs]
    result = {"threads": threads, "pairs": len(pairs), "steps": args.steps}
    with tempfile.TemporaryDirectory() as tmp:
        _, tokenizer = common.load_for_training(args.model)
        grouped_pairs = dpo.length_grouped(pairs, tokenizer, 4, seed=0)
        result["padded_tokens"] = {"random": padded_tokens(pairs, tokenizer, 4),
                                   "grouped": padded_tokens(grouped_pairs, tokenizer, 4)}
        result["random"] = run_arm(args, pairs, Path(tmp) / "random", grouped=False)
        result["grouped"] = run_arm(args, grouped_pairs, Path(tmp) / "grouped", grouped=True)
    result["ratio_grouped_over_random"] = {
        "padded_tokens": round(result["padded_tokens"]["grouped"] / result["padded_tokens"]["random"], 3),
        **{k: round(result["grouped"][k] / result["random"][k], 3) for k in ("prepass_s", "step_s")}}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
