"""DPO's reference pre-pass: TRL's own against taskalign's shared-prefix pass (train/shared_prefix.py), seconds and agreement.

    .venv/bin/python benchmarks/bench_ref_prefix.py --model runs/demo/models/sft --data runs/demo/prefs.jsonl

Every TaskMaster pair starts with the same system prompt (166 of ~260 tokens), and TRL's pre-pass encodes it again for
every chosen and rejected sequence. Both arms build the trainer `train dpo` builds (LoRA on the last 12 layers,
batches of 4 pairs, the pairs in the length-grouped order `train dpo` gives the pre-pass, bf16 autocast where the CPU
has it) and time its construction, which tokenises the pairs and runs the pass; the arms alternate, twice each, in one
process. It prints seconds per arm, the prefix/TRL ratio and the largest difference between the arms' log-probs.
"""

import argparse
import time
from pathlib import Path


def build(cls, model_spec: str, pairs: list[dict], precision: str, out: str):
    from datasets import Dataset

    from taskalign.train import common, dpo

    settings = dpo.load_settings(None, model=model_spec, out=out, precision=precision, lora_layers=12, max_length=448)
    model, tokenizer = common.load_for_training(model_spec, precision=precision)
    peft = common.lora_config(model, settings.lora_r, settings.lora_alpha, settings.lora_targets, settings.lora_layers)
    args = dpo.dpo_config(settings, Path(out))
    ordered = dpo.length_grouped(pairs, tokenizer, args.per_device_train_batch_size, 0)
    start = time.perf_counter()
    trainer = cls(model=model, args=args, train_dataset=Dataset.from_list(ordered), processing_class=tokenizer,
                  peft_config=peft)
    seconds = time.perf_counter() - start
    data = trainer.train_dataset
    return seconds, list(data["ref_chosen_logps"]) + list(data["ref_rejected_logps"]), getattr(trainer, "ref_prefix_tokens", None)


def main() -> None:
    import tempfile

    from trl import DPOTrainer

    from taskalign.train import common
    from taskalign.train.dpo import load_pairs
    from taskalign.train.shared_prefix import trainer_class

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--data", required=True, help="prefs.jsonl")
    parser.add_argument("--pairs", type=int, default=96)
    parser.add_argument("--precision", default="fast")
    args = parser.parse_args()

    common.set_threads()
    common.score_completions_only_on_cpu()
    pairs = load_pairs(args.data)[:args.pairs]
    times, logps, prefix = {"trl": [], "prefix": []}, {}, None
    with tempfile.TemporaryDirectory() as tmp:
        for name, cls in (("trl", DPOTrainer), ("prefix", trainer_class())) * 2:
            seconds, values, tokens = build(cls, args.model, pairs, args.precision, tmp)
            times[name].append(seconds)
            logps[name] = values
            prefix = tokens or prefix
    diff = max(abs(a - b) for a, b in zip(logps["trl"], logps["prefix"]))
    mean = sum(map(abs, logps["trl"])) / len(logps["trl"])
    t_trl, t_pre = min(times["trl"]), min(times["prefix"])
    print(f"{len(pairs)} pairs, shared prefix {prefix} tokens, precision {args.precision}")
    print(f"TRL pass     {' '.join(f'{t:6.1f}' for t in times['trl'])} s")
    print(f"prefix pass  {' '.join(f'{t:6.1f}' for t in times['prefix'])} s   ratio prefix/TRL {t_pre / t_trl:.2f} "
          "(best of each)")
    print(f"largest |logp difference| {diff:.4f} nats (mean |logp| {mean:.1f})")


if __name__ == "__main__":
    main()
