"""Alignment ORPO: preference training without a reference model, with TRL's ORPOTrainer (+ PEFT LoRA).

    taskalign train orpo --model models/taskmaster --data prefs.jsonl --out models/aligned-orpo

ORPO adds an odds-ratio penalty on the rejected reply to the usual SFT loss on the chosen one, so it needs no
reference model and no reference pass: one stage after SFT, on the same pairs `train dpo` takes. TRL keeps ORPO in
`trl.experimental.orpo`. Settings come from ORPOSettings defaults < YAML file < CLI flags; the YAML `orpo:` block (or
`--orpo KEY=VALUE`) passes any ORPOConfig field through. Writes what `train dpo` writes, with `kind: orpo`.
"""

from dataclasses import dataclass, field
from pathlib import Path

from taskalign.errors import UserError
from taskalign.train import common, dpo


@dataclass
class ORPOSettings(common.PreferenceSettings):
    beta: float = field(default=0.1, metadata={"help": "ORPO lambda: weight of the odds-ratio term against the SFT loss."})
    learning_rate: float = field(default=5e-5, metadata={"help": "Peak learning rate.", "aliases": ("--lr",)})
    orpo: dict = field(default_factory=dict, metadata={"help": "Any other ORPOConfig field, passed through as is."})


def load_settings(config: str | Path | None = None, **overrides) -> ORPOSettings:
    """Defaults, then the YAML file, then overrides that are not None; unknown keys are errors naming the key."""
    return common.load_settings(ORPOSettings, config, overrides)


def orpo_config(settings: ORPOSettings, out: Path):
    config_class = common.trl_config_class("ORPOConfig")
    args = dict(output_dir=str(out / "checkpoints"), beta=settings.beta, learning_rate=settings.learning_rate,
                num_train_epochs=settings.epochs, max_steps=settings.max_steps,
                per_device_train_batch_size=settings.batch_size, max_length=settings.max_length, logging_steps=1,
                save_strategy="no", report_to=settings.report_to, seed=settings.seed, lr_scheduler_type="cosine",
                warmup_steps=1, **common.device_args(settings.precision))
    args.update(settings.orpo)
    try:
        return config_class(**args)
    except (TypeError, ValueError) as exc:
        raise UserError(f"ORPO settings rejected by ORPOConfig: {exc}") from None


def run(settings: ORPOSettings, log=None) -> Path:
    """Train, save merged model + adapter + metrics + summary; return the output folder."""
    pairs = dpo.load_pairs(settings.data)  # a bad file fails before any output is written or a model loads

    def prepare(model, tokenizer, out):
        from trl.experimental.orpo import ORPOTrainer

        args = orpo_config(settings, out)
        long = dpo.count_long_prompts(pairs, tokenizer, args.max_length) if args.max_length else 0
        return args, pairs, ORPOTrainer, {"n_pairs": len(pairs), "n_pairs_too_long": long}

    return common.fit(settings, "orpo", prepare, f"ORPO on {len(pairs)} pairs", log, summary=dpo.write_summary)
