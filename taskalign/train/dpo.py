"""Alignment DPO: preference-train a model on prefs.jsonl with TRL's DPOTrainer (+ PEFT LoRA unless --full).

    taskalign train dpo --model models/taskmaster --data prefs.jsonl --out models/aligned [--config configs/dpo.yaml]

Settings come from DPOSettings defaults < YAML file < CLI flags (one flag per field); the YAML `dpo:` block (or
`--dpo KEY=VALUE`) passes any DPOConfig field through untouched. Writes the merged model (+ OUT/adapter),
metrics.jsonl, train_config.json, train_summary.json (with a likelihood-displacement warning when logps/chosen keeps
falling while margins grow) and taskalign_model.json.
"""

from dataclasses import dataclass, field
from pathlib import Path

from taskalign.errors import UserError
from taskalign.train import common


@dataclass
class DPOSettings(common.PreferenceSettings):
    beta: float = field(default=0.1, metadata={"help": "DPO beta: how far the policy may move from the reference."})
    loss_type: str = field(default="sigmoid", metadata={
        "help": "DPO loss (TRL loss_type): sigmoid (DPO), ipo, robust (with dpo.label_smoothing), hinge, "
                "apo_zero, sppo_hard, ..."})
    sft_weight: float = field(default=0.0, metadata={"help": "Weight of an SFT term on chosen replies (0: pure DPO)."})
    precompute_ref: bool = field(default=True, metadata={"help": "Compute reference log-probs once before training."})
    ref_prefix: bool = field(default=True, metadata={
        "help": "In that pass, encode the prompts' shared prefix (the system prompt) once (train/shared_prefix.py)."})
    train_prefix: bool = field(default=True, metadata={
        "help": "In each training step, run the batch's shared prefix once instead of once per sequence: the same loss "
                "and gradients, ~0.5-0.65x the step time (train/shared_prefix.py)."})
    frozen_layers_once: bool = field(default=True, metadata={
        "help": "With lora_layers N (and both passes above), run the frozen lower layers only in the reference pass, "
                "keeping each sequence's hidden states there, and in each step only the last N layers: the same loss "
                "and gradients, faster steps (train/shared_prefix.py)."})
    group_by_length: bool = field(default=False, metadata={
        "help": "Also train in length-grouped batches: steps ~20 % faster, but such batches hold one kind of pair, "
                "and the embedded model's harmful compliance rose from 0.17 to 0.55 (docs/experiments.md)."})
    dpo: dict = field(default_factory=dict, metadata={"help": "Any other trl.DPOConfig field, passed through as is."})


def load_settings(config: str | Path | None = None, **overrides) -> DPOSettings:
    """Defaults, then the YAML file, then overrides that are not None; unknown keys are errors naming the key."""
    return common.load_settings(DPOSettings, config, overrides)


def dpo_config(settings: DPOSettings, out: Path):
    from trl import DPOConfig

    args = dict(output_dir=str(out / "checkpoints"), beta=settings.beta, learning_rate=settings.learning_rate,
                num_train_epochs=settings.epochs, max_steps=settings.max_steps,
                per_device_train_batch_size=settings.batch_size, max_length=settings.max_length,
                precompute_ref_log_probs=settings.precompute_ref, logging_steps=1, save_strategy="no",
                report_to=settings.report_to, seed=settings.seed, lr_scheduler_type="cosine", warmup_steps=1,
                # run() orders the pairs in length-grouped batches; only a sequential sampler trains in that order
                train_sampling_strategy="sequential" if settings.group_by_length else "random",
                **common.device_args(settings.precision))
    if settings.loss_type != "sigmoid" or settings.sft_weight > 0:
        args.update(loss_type=loss_types(settings))
    if settings.sft_weight > 0:
        args.update(loss_weights=[1.0, settings.sft_weight])
    args.update(settings.dpo)
    try:
        return DPOConfig(**args)
    except (TypeError, ValueError) as exc:
        raise UserError(f"DPO settings rejected by trl.DPOConfig: {exc}") from None


def loss_types(settings: DPOSettings) -> list[str]:
    """TRL's loss_type list: the preference loss, plus the SFT term on chosen replies when sft_weight > 0."""
    return [settings.loss_type] + (["sft"] if settings.sft_weight > 0 else [])


def displacement_warning(records: list[dict], min_points: int = 6, min_drop: float = 1.0) -> str | None:
    """A warning when logps/chosen falls steadily while rewards/margins grow (the model un-learns its chosen replies)."""
    rows = [r for r in records if "logps/chosen" in r and "rewards/margins" in r]
    if len(rows) < min_points:
        return None
    k = max(2, len(rows) // 3)
    first_lp = sum(r["logps/chosen"] for r in rows[:k]) / k
    last_lp = sum(r["logps/chosen"] for r in rows[-k:]) / k
    first_m = sum(r["rewards/margins"] for r in rows[:k]) / k
    last_m = sum(r["rewards/margins"] for r in rows[-k:]) / k
    falling = sum(b["logps/chosen"] < a["logps/chosen"] for a, b in zip(rows, rows[1:])) >= 0.6 * (len(rows) - 1)
    if last_lp < first_lp - min_drop and last_m > first_m and falling:
        return (f"likelihood displacement: logps/chosen fell from {first_lp:.1f} to {last_lp:.1f} while margins grew "
                f"from {first_m:.2f} to {last_m:.2f}; try sft_weight > 0, a lower learning rate or more distinct pairs.")
    return None


def _n_tokens(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> int:
    return len(tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=add_generation_prompt,
                                             return_dict=True)["input_ids"])


def count_long_prompts(pairs: list[dict], tokenizer, max_length: int) -> int:
    """Pairs TRL will drop because their prompt alone fills max_length (it filters them out silently)."""
    return sum(_n_tokens(tokenizer, p["prompt"], add_generation_prompt=True) >= max_length for p in pairs)


def pair_lengths(pairs: list[dict], tokenizer) -> list[int]:
    """Tokens of each pair's longer sequence (prompt + chosen or prompt + rejected): what its batch pads to."""
    return [max(_n_tokens(tokenizer, p["prompt"] + p["chosen"]), _n_tokens(tokenizer, p["prompt"] + p["rejected"]))
            for p in pairs]


def length_grouped(pairs: list[dict], tokenizer, batch_size: int, seed: int) -> list[dict]:
    """The pairs in a random order whose consecutive batches have similar lengths (transformers' group_by_length order).

    A batch is padded to its longest sequence, and most of a TaskMaster pair is its shared system prompt, so random
    batches spend ~20 % of every forward pass on padding (benchmarks/bench_dpo_order.py). TRL's reference pre-pass
    reads the pairs in dataset order, so this order removes most of that padding there; training keeps its random
    sampler unless group_by_length, because batches of similar length are batches of one kind of pair, and on the
    embedded model training in that order raised harmful compliance from 0.17 to 0.55 (docs/experiments.md).
    """
    import torch
    from transformers.trainer_pt_utils import get_length_grouped_indices

    generator = torch.Generator().manual_seed(seed)
    order = get_length_grouped_indices(pair_lengths(pairs, tokenizer), batch_size, generator=generator)
    return [pairs[i] for i in order]


def load_pairs(path: str) -> list[dict]:
    rows = common.read_conversations(path, ("prompt", "chosen", "rejected"), "preference")
    return [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows]


def run(settings: DPOSettings, log=None) -> Path:
    """Train, save merged model + adapter + metrics + summary; return the output folder."""
    from trl import DPOTrainer

    from taskalign.train.shared_prefix import trainer_class

    pairs = load_pairs(settings.data)  # a bad file fails before any output is written or a model loads

    def prepare(model, tokenizer, out):
        args = dpo_config(settings, out)
        long = count_long_prompts(pairs, tokenizer, args.max_length) if args.max_length else 0
        rows = pairs
        if settings.precompute_ref or settings.group_by_length:
            rows = length_grouped(pairs, tokenizer, args.per_device_train_batch_size, settings.seed)
        if long:
            (log or common.console_print)(
                f"[yellow]warning: {long} of {len(pairs)} pairs have prompts of {args.max_length}+ tokens and are "
                "skipped; raise --max-length to keep them.[/yellow]")
        reference = settings.precompute_ref and settings.ref_prefix
        trainer_type = DPOTrainer
        if reference or settings.train_prefix:
            trainer_type = trainer_class(reference=reference, training=settings.train_prefix,
                                         frozen_layers_once=settings.frozen_layers_once)
        return args, rows, trainer_type, {"n_pairs": len(pairs), "n_pairs_too_long": long}

    losses = "+".join(loss_types(settings))
    return common.fit(settings, "dpo", prepare, f"DPO ({losses}) on {len(pairs)} pairs", log,
                      summary=write_summary)


def write_summary(out: Path, trainer, result, extra: dict, log) -> None:
    """train_summary.json: steps, final metrics and warnings (likelihood displacement), also printed in yellow."""
    history = [r for r in trainer.state.log_history if "loss" in r]
    warning = displacement_warning(history)
    if warning:
        log(f"[yellow]warning: {warning}[/yellow]")
    prefix = {"reference_prefix_tokens": getattr(trainer, "ref_prefix_tokens", None),
              "shared_prefix_steps": getattr(trainer, "prefix_steps", 0)}
    trunk = getattr(trainer, "trunk", None)
    if trunk is not None:  # steps that ran only the layers from `from_layer` up
        prefix["frozen_layers_once"] = {"from_layer": trunk.k, "steps": trunk.steps,
                                        "kept_mib": round(trunk.kept_bytes / 2**20, 1)}
    common.write_json(out / "train_summary.json", {"steps": result.global_step, "train_loss": result.training_loss,
                                                   **extra, **prefix, "final": history[-1] if history else {},
                                                   "warnings": [warning] if warning else []})
