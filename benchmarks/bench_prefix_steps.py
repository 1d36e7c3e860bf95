"""Training steps, TRL's forward against the shared-prefix forward (train/shared_prefix.py): seconds per step.

    .venv/bin/python benchmarks/bench_prefix_steps.py dpo --model runs/demo/models/sft --data runs/demo/prefs.jsonl
    .venv/bin/python benchmarks/bench_prefix_steps.py sft
    (--precision fp32 for CPUs without native bf16)

Every TaskMaster sequence starts with the same system prompt, and TRL's forward runs it again for every sequence of a
batch: 8 for a DPO batch of 4 pairs (chosen and rejected), 4 conversations for an SFT batch. The shared-prefix forward
runs it once per batch. DPO with LoRA on the last 12 layers also has a third arm: the 18 frozen layers run only in
the reference pass, which keeps each sequence's hidden states at layer 18, and a step runs the last 12 layers only
(`frozen_layers_once`). One trainer, built as the default pipeline builds it (DPO: LoRA on the last 12 layers,
batches of 4 pairs, SFT term; SFT: the generated TaskMaster conversations, 3 requests each, batches of 4, LoRA r 32 on
every layer; bf16 autocast where the CPU has it), runs the same batches through `training_step` each way,
alternating arm by arm within each batch, so machine load hits the arms alike. Prints seconds per step per arm, the
ratio to TRL's over all but the first batch, and the first batch's loss each way (computed before any step, on the
same weights).
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


def trainer_arguments(description: str, steps: int, steps_help: str) -> argparse.Namespace:
    """The command line shared with benchmarks/profile_steps.py: which trainer, its model, data, steps, precision."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("trainer", choices=("dpo", "sft"))
    parser.add_argument("--model", default="embedded", help="DPO: the SFT model the pairs are for")
    parser.add_argument("--data", help="prefs.jsonl (dpo)")
    parser.add_argument("--steps", type=int, default=steps, help=steps_help)
    parser.add_argument("--precision", default="fast")
    args = parser.parse_args()
    if args.trainer == "dpo" and not args.data:
        parser.error("dpo needs --data prefs.jsonl")
    return args


def main() -> None:
    import torch

    from taskalign.train import common

    args = trainer_arguments(__doc__.splitlines()[0], 6, "batches, each run once per arm")

    common.set_threads()
    common.score_completions_only_on_cpu()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = (dpo_trainer if args.trainer == "dpo" else sft_trainer)(args, tmp)
        loader = iter(trainer.get_train_dataloader())
        batches = [next(loader) for _ in range(args.steps)]
        trainer.model.train()
        trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train(), which this loop stands in for
        trunk = getattr(trainer, "trunk", None)  # DPO with LoRA on the last layers: filled by the reference pass
        # (prefix_training, trunk) per arm; the frozen-layers arm first, so the first-batch check runs with it
        arms = {"TRL": (False, None), **({"frozen layers once": (True, trunk)} if trunk else {}),
                "shared prefix": (True, None)}
        losses = {}
        with torch.no_grad(), trainer.accelerator.autocast():
            for arm, (prefix_training, arm_trunk) in arms.items():
                trainer.prefix_training, trainer.trunk = prefix_training, arm_trunk
                losses[arm] = float(trainer.compute_loss(trainer.model, batches[0]))
                if arm_trunk is not None and trainer.trunk is None:
                    raise SystemExit("the first-batch check turned the frozen-layers path off (see above)")
        if trunk:
            trunk.steps = 0
        times = {arm: [] for arm in arms}
        for batch in batches:
            for arm, (prefix_training, arm_trunk) in arms.items():
                trainer.prefix_training, trainer.trunk = prefix_training, arm_trunk
                start = time.perf_counter()
                with trainer.accelerator.autocast():  # what Trainer.train()'s prepared model runs under (bf16 or none)
                    trainer.training_step(trainer.model, batch)
                times[arm].append(time.perf_counter() - start)
        tokens = sum(int(b["attention_mask"].sum()) for b in batches) / len(batches)
    mean = {arm: sum(t[1:]) / (args.steps - 1) for arm, t in times.items()}
    print(f"{args.trainer}: {args.steps} batches ({tokens:.0f} tokens each on average), precision {args.precision}, "
          f"{torch.get_num_threads()} threads; shared-prefix steps taken {trainer.prefix_steps}"
          + (f", of them from layer {trunk.k} up {trunk.steps}" if trunk else ""))
    for arm, t in times.items():
        print(f"{arm:19s} {' '.join(f'{x:5.2f}' for x in t)} s")
    print("mean after the first: " + ", ".join(f"{arm} {s:.2f} s/step ({s / mean['TRL']:.2f} of TRL's)"
                                               for arm, s in mean.items()))
    print("first batch loss: " + ", ".join(f"{arm} {loss:.5f}" for arm, loss in losses.items()))

if __name__ == "__main__":
    main()
