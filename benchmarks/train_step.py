"""Speed of one training step (forward + backward, LoRA) on a real model, for a few speed settings, as ratios.

    python benchmarks/train_step.py --model embedded --batch 4 --reps 2

Each variant runs `reps` forward+backward passes on the same batch of generated TaskMaster conversations and reports
wall seconds and process CPU seconds per pass, and the CPU ratio to the baseline (all-linear LoRA on every layer,
full length). CPU seconds are less distorted than wall time on a shared machine. docs/training.md records results.
"""

import argparse
import json
import time

from taskalign.train import common, sft_data

VARIANTS = {"baseline": {}, "top10-layers": {"top_layers": 10}, "attn-only": {"targets": "q_proj,k_proj,v_proj,o_proj"},
            "max-len-384": {"max_length": 384}}


def batch(tokenizer, n: int, max_length: int | None):
    import torch

    rows = sft_data.generate(n, seed=1)
    texts = [tokenizer.apply_chat_template(r["messages"], tokenize=False) for r in rows]
    enc = tokenizer(texts, return_tensors="pt", padding=True, truncation=bool(max_length), max_length=max_length,
                    add_special_tokens=False)
    labels = torch.where(enc["attention_mask"].bool(), enc["input_ids"], torch.tensor(-100))
    return enc, labels


def time_variant(base, tokenizer, n: int, reps: int, top_layers=0, targets="all-linear", max_length=None) -> dict:
    from peft import get_peft_model

    model = get_peft_model(base, common.lora_config(base, 16, 32, targets, top_layers))
    enc, labels = batch(tokenizer, n, max_length)
    walls, cpus = [], []
    for _ in range(reps):
        wall, cpu = time.perf_counter(), time.process_time()
        model(**enc, labels=labels).loss.backward()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    model.unload()  # back to the plain base model for the next variant
    return {"tokens": int(enc["attention_mask"].sum()), "wall_s": round(min(walls), 2), "cpu_s": round(min(cpus), 2)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--only", default="", help="comma list of variants (default: all)")
    args = parser.parse_args(argv)
    threads = common.set_threads()
    base, tokenizer = common.load_for_training(args.model)
    results = {}
    for name in [n for n in args.only.split(",") if n] or VARIANTS:
        results[name] = time_variant(base, tokenizer, args.batch, args.reps, **VARIANTS[name])
        results[name]["cpu_ratio"] = round(results[name]["cpu_s"] / results.get("baseline", results[name])["cpu_s"], 2)
        print(json.dumps({"variant": name, "threads": threads, **results[name]}), flush=True)


if __name__ == "__main__":
    main()
