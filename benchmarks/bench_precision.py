"""fp32 vs bf16 on the CPU it runs on: a LoRA training step (bf16 autocast over fp32 weights, as TrainingArguments
bf16=True does) and batched greedy generation (bf16 weights, as `--precision fast` loads them), as ratios.

    .venv/bin/python benchmarks/bench_precision.py                # ~2 minutes on 2 cores
    .venv/bin/python benchmarks/bench_precision.py --model models/sft --batch 8 --reps 3 --out bench.json

Both variants run in one process on the same inputs, alternating, so the ratio survives a noisy machine. On a CPU
without native bf16 (no AVX512-BF16 / AMX) expect a ratio below 1: that is why `fast` checks the CPU flags first.
"""

import argparse
import json
import sys
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_generation import conversations  # noqa: E402  (same requests as the other generation benchmark)


def train_step_seconds(model, enc, labels, bf16: bool) -> float:
    import torch

    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
        loss = model(**enc, labels=labels).loss
    loss.backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--batch", type=int, default=8, help="conversations per training step")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--generate", type=int, default=32, help="conversations to generate, one batch")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from peft import get_peft_model

    from taskalign.models import GenerationConfig, load_model
    from taskalign.models.hf import cpu_has_bf16
    from taskalign.train import common
    from train_step import batch

    threads = common.set_threads()
    base, tokenizer = common.load_for_training(args.model)
    enc, labels = batch(tokenizer, args.batch, None)  # the same generated conversations as the training-step bench
    model = get_peft_model(base, common.lora_config(base, 16, 32))
    train = {"fp32": [], "bf16": []}
    train_step_seconds(model, enc, labels, False)  # warm-up: first calls allocate
    for _ in range(args.reps):
        for name in train:
            train[name].append(train_step_seconds(model, enc, labels, name == "bf16"))

    convs = conversations(args.generate)
    config = GenerationConfig(max_new_tokens=args.max_new_tokens, batch_size=args.generate)
    generate, texts_by = {}, {}
    for name in ("fp32", "fast"):
        llm = load_model(args.model, precision=name)
        start = time.perf_counter()
        texts_by[name] = [r.text for r in llm.generate(convs, config)]
        generate[name] = time.perf_counter() - start
    result = {"cpu_has_bf16": cpu_has_bf16(), "threads": threads, "train_tokens": int(enc["attention_mask"].sum()),
              "train_step_s": {k: round(min(v), 2) for k, v in train.items()},
              "train_speedup": round(min(train["fp32"]) / min(train["bf16"]), 2),
              "generate_s": {k: round(v, 1) for k, v in generate.items()},
              "generate_speedup": round(generate["fp32"] / generate["fast"], 2),
              "same_greedy_replies": sum(a == b for a, b in zip(texts_by["fp32"], texts_by["fast"])),
              "replies": len(convs)}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
