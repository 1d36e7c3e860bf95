"""DPO training steps: TRL's forward against taskalign's shared-prefix forward (train/shared_prefix.py), seconds per step.

    .venv/bin/python benchmarks/bench_dpo_step.py --model runs/demo/models/sft --data runs/demo/prefs.jsonl

Every TaskMaster pair starts with the same system prompt, and TRL's training forward runs it again for every chosen
and every rejected sequence of a batch (8 sequences for 4 pairs). The shared-prefix forward runs it once per batch.
One trainer, built as `train dpo` builds it (LoRA on the last 12 layers, batches of 4 pairs, SFT term, bf16 autocast
where the CPU has it), runs the same batches through `training_step` both ways, alternating batch by batch, so
machine load hits both arms alike. Prints seconds per step per arm, the ratio, and the first batch's loss both ways
(computed before any step, so on the same weights).
"""

import argparse
import time


def main() -> None:
    import tempfile
    from pathlib import Path

    import torch
    from datasets import Dataset

    from taskalign.train import common, dpo
    from taskalign.train.shared_prefix import trainer_class

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--data", required=True, help="prefs.jsonl")
    parser.add_argument("--steps", type=int, default=6, help="batches, each run once per arm")
    parser.add_argument("--precision", default="fast")
    parser.add_argument("--lora-layers", type=int, default=12)
    args = parser.parse_args()

    common.set_threads()
    common.score_completions_only_on_cpu()
    pairs = dpo.load_pairs(args.data)[:4 * args.steps]  # the reference pre-pass (shared-prefix) runs on these only
    with tempfile.TemporaryDirectory() as tmp:
        settings = dpo.load_settings(None, model=args.model, out=tmp, precision=args.precision, max_length=448,
                                     lora_layers=args.lora_layers, sft_weight=2.0)
        model, tokenizer = common.load_for_training(args.model, precision=args.precision)
        peft = common.lora_config(model, settings.lora_r, settings.lora_alpha, settings.lora_targets,
                                  settings.lora_layers)
        trainer = trainer_class()(model=model, args=dpo.dpo_config(settings, Path(tmp)), processing_class=tokenizer,
                                  train_dataset=Dataset.from_list(pairs), peft_config=peft)
        loader = iter(trainer.get_train_dataloader())
        batches = [next(loader) for _ in range(args.steps)]
        trainer.model.train()
        trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train(), which this loop stands in for
        losses = {}
        with torch.no_grad(), trainer.accelerator.autocast():
            for arm in (False, True):
                trainer.prefix_training = arm
                losses[arm] = float(trainer.compute_loss(trainer.model, batches[0]))
        trainer._train_check = None  # the no-grad calls above ran the check; let the timed steps run it again
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
    print(f"{args.steps} batches of 4 pairs ({tokens:.0f} tokens each on average), precision {args.precision}, "
          f"LoRA on {args.lora_layers} layers, {torch.get_num_threads()} threads; "
          f"prefix steps taken {trainer.prefix_steps}")
    print(f"TRL forward     {' '.join(f'{t:5.2f}' for t in times[False])} s")
    print(f"prefix forward  {' '.join(f'{t:5.2f}' for t in times[True])} s")
    print(f"mean after the first: TRL {trl_s:.2f} s/step, prefix {prefix_s:.2f} s/step, ratio prefix/TRL "
          f"{prefix_s / trl_s:.2f}")
    print(f"first batch loss: TRL {losses[False]:.5f}, prefix {losses[True]:.5f}")


if __name__ == "__main__":
    main()
