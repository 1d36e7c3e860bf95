"""Where a training step's time goes: torch.profiler over DPO or SFT steps, operators grouped by kind.

    .venv/bin/python benchmarks/profile_steps.py dpo --model runs/demo/models/sft --data runs/demo/prefs.jsonl
    .venv/bin/python benchmarks/profile_steps.py sft
    (--precision fp32 for CPUs without native bf16)

The trainer is built as benchmarks/bench_prefix_steps.py builds it (the default profile's settings, the shared-prefix
forward and, for DPO, the frozen layers run once). The first batch runs unprofiled (it carries the first-batch check),
then `--steps` batches run under torch.profiler. Printed: seconds a step, and each group's share of the operators' own
(self) CPU time: matrix products of the linear layers, attention, the LM head's log-softmax, casts between bf16 and
fp32, elementwise and normalisation operators, the optimiser, and the rest.
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_prefix_steps import dpo_trainer, sft_trainer, trainer_arguments  # noqa: E402

GROUPS = (  # (group, substrings of an operator's name), first match wins
    ("matrix products (linear layers, LM head)", ("aten::mm", "aten::addmm", "aten::linear", "aten::matmul",
                                                  "aten::bmm", "mkldnn", "onednn")),
    ("attention", ("scaled_dot_product", "flash_attention", "_efficient_attention", "softmax_backward")),
    ("log-softmax, gather (LM head)", ("log_softmax", "logsumexp", "gather", "cross_entropy", "nll_loss")),
    ("casts bf16 <-> fp32", ("aten::to", "aten::_to_copy", "aten::copy_")),
    ("optimiser", ("adam", "Optimizer", "_foreach")),
    ("elementwise, norms, activations", ("aten::mul", "aten::add", "aten::silu", "aten::rsqrt", "aten::pow",
                                         "aten::mean", "aten::div", "aten::sub", "aten::neg", "aten::cat",
                                         "aten::sum", "aten::exp", "aten::where", "aten::fill_", "aten::zero_",
                                         "aten::sigmoid", "aten::clone", "aten::index")),
)


def group_of(name: str) -> str:
    for group, keys in GROUPS:
        if any(key in name for key in keys):
            return group
    return "other"


def main() -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from taskalign.train import common

    args = trainer_arguments(__doc__.splitlines()[0], 3, "profiled steps, after one unprofiled")
    top = 12  # single operators listed after the groups
    common.set_threads()
    common.score_completions_only_on_cpu()
    with tempfile.TemporaryDirectory() as tmp:
        args.steps += 1  # the builders size their data by it
        trainer = (dpo_trainer if args.trainer == "dpo" else sft_trainer)(args, tmp)
        args.steps -= 1
        loader = iter(trainer.get_train_dataloader())
        batches = [next(loader) for _ in range(args.steps + 1)]
        trainer.model.train()
        trainer.current_gradient_accumulation_steps = 1
        optimizer = torch.optim.AdamW([p for p in trainer.model.parameters() if p.requires_grad], lr=1e-6)

        def step(batch):
            with trainer.accelerator.autocast():
                trainer.training_step(trainer.model, batch)
            optimizer.step()
            optimizer.zero_grad()

        step(batches[0])
        start = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for batch in batches[1:]:
                step(batch)
        seconds = (time.perf_counter() - start) / args.steps
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    shares: dict[str, float] = {}
    for e in events:
        shares[group_of(e.key)] = shares.get(group_of(e.key), 0.0) + e.self_cpu_time_total
    trunk = getattr(trainer, "trunk", None)
    print(f"{args.trainer}: {args.steps} profiled steps, {seconds:.2f} s a step (profiler on), precision "
          f"{args.precision}, {torch.get_num_threads()} threads"
          + (f", layers {trunk.k} and up ({trunk.steps} steps)" if trunk else ""))
    for group, time_us in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"  {time_us / total:6.1%}  {group}")
    print(f"top {top} operators by own CPU time:")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:top]:
        print(f"  {e.self_cpu_time_total / total:6.1%}  {e.key} ({e.count} calls)")


if __name__ == "__main__":
    main()
