"""Training steps, TRL's forward against the shared-prefix forward (train/shared_prefix.py): seconds per step.

    .venv/bin/python benchmarks/bench_prefix_steps.py dpo --model runs/demo/models/sft --data runs/demo/prefs.jsonl
    .venv/bin/python benchmarks/bench_prefix_steps.py sft
    (--precision fp32 for CPUs without native bf16)

Every TaskMaster sequence starts with the same system prompt, and TRL's forward runs it again for every sequence of a
batch: 8 for a DPO batch of 4 pairs (chosen and rejected), 4 conversations for an SFT batch. The shared-prefix forward
runs it once per batch. One trainer, built as the default pipeline builds it (DPO: LoRA on the last 12 layers,
batches of 4 pairs, SFT term; SFT: the generated TaskMaster conversations, 3 requests each, batches of 4, LoRA r 32 on
every layer; bf16 autocast where the CPU has it), runs the same batches through `training_step` both ways,
alternating batch by batch, so machine load hits both arms alike. Prints seconds per step per arm, the ratio over all
but the first batch, and the first batch's loss both ways (computed before any step, on the same weights).
"""

import argparse
import tempfile
import time
from pathlib import Path


def dpo_trainer(args, tmp: str):
    from datasets import Dataset

    from taskalign.train import common, dpo
    from taskalign.train.shared_prefix import trainer_class

    pairs = dpo.load_pairs(args.data)[:4 * args.steps]  # the (shared-prefix) reference pre-pass runs on these only
    settings = dpo.load_settings(None, model=args.model, out=tmp, precision=args.precision, max_length=448,
                                 lora_layers=12, sft_weight=2.0)
    model, tokenizer = common.load_for_training(args.model, precision=args.precision)
    peft = common.lora_config(model, settings.lora_r, settings.lora_alpha, settings.lora_targets, settings.lora_layers)
    return trainer_class()(model=model, args=dpo.dpo_config(settings, Path(tmp)), processing_class=tokenizer,
                           train_dataset=Dataset.from_list(pairs), peft_config=peft)


def sft_trainer(args, tmp: str):
    from taskalign.train import common, sft
    from taskalign.train.shared_prefix import sft_trainer_class

    settings = sft.SFTSettings(model=args.model, out=tmp, n_generated=4 * args.steps, per_conversation=3,
                               batch_size=4, lora_r=32, lora_alpha=64, precision=args.precision)
    rows = sft.load_data(settings, Path(tmp))
    model, tokenizer = common.load_for_training(args.model, precision=args.precision)
    tokenizer.chat_template = sft.training_template(tokenizer)
    peft = common.lora_config(model, settings.lora_r, settings.lora_alpha, settings.lora_targets, settings.lora_layers)
    return sft_trainer_class()(model=model, args=sft.sft_config(settings, Path(tmp), True), processing_class=tokenizer,
                               train_dataset=common.training_dataset(rows, Path(tmp)), peft_config=peft)


def main() -> None:
    import torch

    from taskalign.train import common

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trainer", choices=("dpo", "sft"))
    parser.add_argument("--model", default="embedded", help="DPO: the SFT model the pairs are for")
    parser.add_argument("--data", help="prefs.jsonl (dpo)")
    parser.add_argument("--steps", type=int, default=6, help="batches, each run once per arm")
    parser.add_argument("--precision", default="fast")
    args = parser.parse_args()
    if args.trainer == "dpo" and not args.data:
        parser.error("dpo needs --data prefs.jsonl")

    common.set_threads()
    common.score_completions_only_on_cpu()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = (dpo_trainer if args.trainer == "dpo" else sft_trainer)(args, tmp)
        loader = iter(trainer.get_train_dataloader())
        batches = [next(loader) for _ in range(args.steps)]
        trainer.model.train()
        trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train(), which this loop stands in for
        losses = {}
        with torch.no_grad(), trainer.accelerator.autocast():
            for arm in (False, True):
                trainer.prefix_training = arm
                losses[arm] = float(trainer.compute_loss(trainer.model, batches[0]))
        times = {False: [], True: []}
        for batch in batches:
            for arm in (False, True):
                trainer.prefix_training = arm
                start = time.perf_counter()
                with trainer.accelerator.autocast():  # what Trainer.train()'s prepared model runs under (bf16 or none)
                    trainer.training_step(trainer.model, batch)
                times[arm].append(time.perf_counter() - start)
        tokens = sum(int(b["attention_mask"].sum()) for b in batches) / len(batches)
    trl_s, prefix_s = sum(times[False][1:]) / (args.steps - 1), sum(times[True][1:]) / (args.steps - 1)
    print(f"{args.trainer}: {args.steps} batches ({tokens:.0f} tokens each on average), precision {args.precision}, "
          f"{torch.get_num_threads()} threads; shared-prefix steps taken {trainer.prefix_steps}")
    print(f"TRL forward     {' '.join(f'{t:5.2f}' for t in times[False])} s")
    print(f"prefix forward  {' '.join(f'{t:5.2f}' for t in times[True])} s")
    print(f"mean after the first: TRL {trl_s:.2f} s/step, prefix {prefix_s:.2f} s/step, ratio prefix/TRL "
          f"{prefix_s / trl_s:.2f}")
    print(f"first batch loss: TRL {losses[False]:.5f}, prefix {losses[True]:.5f}")


if __name__ == "__main__":
    main()
