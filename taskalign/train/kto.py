"""Alignment KTO: train on replies labelled desirable or undesirable, one at a time, with TRL's KTOTrainer (+ LoRA).

    taskalign train kto --model models/taskmaster --data prefs.jsonl --out models/aligned-kto
    taskalign train kto --model models/taskmaster --data judged.jsonl --out models/aligned-kto   # unpaired rows

KTO needs no pairs: each row is a prompt, one reply and a label (`{"prompt": [...], "completion": [...], "label":
true|false}`), such as the judged replies of a red-team run (`taskalign prefs unpaired --from RUN`). A preference-pair
file (`taskalign prefs build`) is read as two rows per pair: chosen desirable, rejected undesirable. Settings come
from KTOSettings defaults < YAML file < CLI flags; the YAML `kto:` block (or `--kto KEY=VALUE`) passes any
trl.KTOConfig field through. Writes what `train dpo` writes (docs/training.md), with `kind: kto`.
"""

import random
from dataclasses import dataclass, field
from pathlib import Path

from taskalign.errors import UserError
from taskalign.train import common, dpo


@dataclass
class KTOSettings(common.PreferenceSettings):
    data: str = field(default="prefs.jsonl", metadata={
        "help": "Unpaired rows (prompt, completion, label) or preference pairs (each read as two rows)."})
    beta: float = field(default=0.1, metadata={"help": "KTO beta: how far the policy may move from the reference."})
    epochs: float = field(default=1.0, metadata={"help": "Passes over the rows."})
    batch_size: int = field(default=8, metadata={
        "help": "Rows per optimizer step; at least 2, since KTO estimates its KL term from the other rows of a batch."})
    seed: int = field(default=0, metadata={"help": "Seed for the row order and LoRA init."})
    desirable_weight: float = field(default=1.0, metadata={"help": "Loss weight of desirable rows."})
    undesirable_weight: float = field(default=1.0, metadata={
        "help": "Loss weight of undesirable rows; KTO's authors keep weight x count of the two within 1 to 4/3."})
    precompute_ref: bool = field(default=True, metadata={"help": "Compute reference log-probs once before training."})
    kto: dict = field(default_factory=dict, metadata={"help": "Any other trl.KTOConfig field, passed through as is."})


def load_settings(config: str | Path | None = None, **overrides) -> KTOSettings:
    """Defaults, then the YAML file, then overrides that are not None; unknown keys are errors naming the key."""
    return common.load_settings(KTOSettings, config, overrides)


def load_rows(path: str) -> list[dict]:
    """KTO rows from an unpaired file, or from a pair file (chosen → desirable, rejected → undesirable)."""
    rows = common.read_conversations(path, ("prompt",), "KTO")
    if all(k in rows[0] for k in ("chosen", "rejected")):
        pairs = dpo.load_pairs(path)
        return [row for p in pairs for row in ({"prompt": p["prompt"], "completion": p["chosen"], "label": True},
                                               {"prompt": p["prompt"], "completion": p["rejected"], "label": False})]
    rows = common.read_conversations(path, ("prompt", "completion"), "KTO")
    for number, row in enumerate(rows, 1):
        if not isinstance(row.get("label"), bool):
            raise UserError(f"{path} row {number}: label must be true (desirable) or false (undesirable), not "
                            f"{row.get('label')!r}; or give preference pairs (prompt, chosen, rejected).")
    kinds = {r["label"] for r in rows}
    if len(kinds) < 2:
        raise UserError(f"{path} holds only {'desirable' if True in kinds else 'undesirable'} rows; KTO needs both "
                        "kinds.")
    return [{k: r[k] for k in ("prompt", "completion", "label")} for r in rows]


def kto_config(settings: KTOSettings, out: Path):
    from trl import KTOConfig

    if settings.batch_size < 2:
        raise UserError(f"--batch-size {settings.batch_size}: KTO needs at least 2 rows per batch (its KL term is "
                        "estimated from the other rows of the batch).")
    args = dict(output_dir=str(out / "checkpoints"), beta=settings.beta, learning_rate=settings.learning_rate,
                num_train_epochs=settings.epochs, max_steps=settings.max_steps,
                per_device_train_batch_size=settings.batch_size, max_length=settings.max_length,
                desirable_weight=settings.desirable_weight, undesirable_weight=settings.undesirable_weight,
                precompute_ref_log_probs=settings.precompute_ref, logging_steps=1, save_strategy="no",
                report_to=settings.report_to, seed=settings.seed, lr_scheduler_type="cosine", warmup_steps=1,
                **common.device_args(settings.precision))
    args.update(settings.kto)
    try:
        return KTOConfig(**args)
    except (TypeError, ValueError) as exc:
        raise UserError(f"KTO settings rejected by trl.KTOConfig: {exc}") from None


def run(settings: KTOSettings, log=None) -> Path:
    """Train, save merged model + adapter + metrics + summary; return the output folder."""
    from trl import KTOTrainer

    rows = load_rows(settings.data)  # a bad file fails before any output is written or a model loads
    # KTOTrainer reads rows in order (its KL term pairs each row with a neighbour's reply), so shuffle here.
    random.Random(settings.seed).shuffle(rows)
    n_good = sum(r["label"] for r in rows)

    def prepare(model, tokenizer, out):
        args = kto_config(settings, out)
        long = dpo.count_long_prompts(rows, tokenizer, args.max_length) if args.max_length else 0
        if long:
            (log or common.console_print)(
                f"[yellow]warning: {long} of {len(rows)} rows have prompts of {args.max_length}+ tokens; raise "
                "--max-length to keep their replies.[/yellow]")
        return args, rows, KTOTrainer, {"n_rows": len(rows), "n_desirable": n_good, "n_rows_too_long": long}

    return common.fit(settings, "kto", prepare, f"KTO on {n_good} desirable + {len(rows) - n_good} undesirable rows",
                      log, summary=dpo.write_summary)
