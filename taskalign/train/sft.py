"""Capability SFT: teach a base model a domain's tool calls (TaskMaster's by default) with TRL's SFTTrainer + PEFT
LoRA.

    taskalign train sft --model embedded --data taskmaster_sft.jsonl --out models/taskmaster [--config configs/sft.yaml]
    taskalign train sft --model embedded --domain domains/mailbot --out models/mailbot   # data generated for the domain

Loss is on assistant tokens only (TRL `assistant_only_loss`, through a ChatML template with generation markers).
The output folder holds the merged model (loadable with `--model OUT`), the adapter in OUT/adapter, metrics.jsonl,
train_config.json and taskalign_model.json. Settings: SFTSettings defaults < YAML file < CLI flags (one flag per
field; the `sft:` block or `--sft KEY=VALUE` passes any SFTConfig field through). See docs/training.md for timings.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

from taskalign.domain import load_domain
from taskalign.models.hf import PRECISION_HELP
from taskalign.train import common


@dataclass
class SFTSettings:
    model: str = field(default="embedded", metadata={"help": "Model spec to train: embedded, a Hugging Face folder, "
                                                              "an adapter folder or a hub id."})
    out: str = field(default="models/taskmaster", metadata={"help": "Output folder."})
    data: str | None = field(default=None, metadata={"help": "Conversations JSONL, one {\"messages\": ...} per line; "
                                                               "omitted: generate the domain's conversations."})
    domain: str = field(default="taskmaster", metadata={"help": "Domain (built-in name or folder) whose persona, tools "
                                                                "and capability templates the generated conversations "
                                                                "use."})
    n_generated: int = field(default=600, metadata={"help": "Conversations to generate when data is omitted.",
                                                    "aliases": ("--n",)})
    per_conversation: int = field(default=1, metadata={"help": "Requests per generated conversation (amortises the "
                                                               "system prompt on CPUs)."})
    epochs: float = field(default=1.0, metadata={"help": "Passes over the data."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many optimizer steps (-1: use epochs)."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak learning rate (LoRA likes ~1e-4 to 3e-4).",
                                                         "aliases": ("--lr",)})
    batch_size: int = field(default=8, metadata={"help": "Conversations per optimizer step."})
    max_length: int = field(default=640, metadata={"help": "Longest tokenized conversation; longer ones are cut."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank; 0 trains all weights (full fine-tuning)."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha."})
    lora_targets: str = field(default="all-linear", metadata={"help": "LoRA target modules (comma list or all-linear)."})
    lora_layers: int = field(default=0, metadata={"help": "Adapt only the last N layers (0: all); faster backward."})
    precision: str = field(default="auto", metadata={"help": PRECISION_HELP})
    merge: bool = field(default=True, metadata={"help": "Also save the adapter merged into a full model folder."})
    train_prefix: bool = field(default=True, metadata={
        "help": "Run each batch's shared prefix (the system prompt) once instead of once per conversation: the same "
                "loss and gradients, ~0.8x the step time (train/shared_prefix.py)."})
    seed: int = field(default=0, metadata={"help": "Seed for data generation, shuffling and LoRA init."})
    report_to: str = field(default="none", metadata={"help": "none | tensorboard | wandb | mlflow"})
    sft: dict = field(default_factory=dict, metadata={"help": "Any other trl.SFTConfig field, passed through as is."})


def load_settings(config: str | Path | None = None, **overrides) -> SFTSettings:
    """Defaults, then the YAML file, then overrides that are not None; unknown keys are errors naming the key."""
    return common.load_settings(SFTSettings, config, overrides)


def load_data(settings: SFTSettings, out: Path) -> list[dict]:
    """The conversations: read from `data`, or generated for the domain (and saved beside the model, so a run can be
    inspected). TaskMaster has its own generator (sft_data.py); any other domain's come from its capability templates
    (domain_sft.py), without the requests of its suite's test split."""
    if settings.data:
        rows = common.read_conversations(settings.data, ("messages",), "SFT data")
        return [{"messages": r["messages"]} for r in rows]
    from taskalign.train import domain_sft, sft_data

    domain = load_domain(settings.domain)
    if domain.root == load_domain().root:
        rows = sft_data.generate(settings.n_generated, settings.seed, per_conversation=settings.per_conversation)
    else:
        rows = domain_sft.generate(domain, settings.n_generated, settings.seed,
                                   exclude=domain_sft.held_out_requests(domain),
                                   per_conversation=settings.per_conversation)
    sft_data.write(rows, out / "sft_data.jsonl")
    return [{"messages": r["messages"]} for r in rows]


def training_template(tokenizer) -> str | None:
    """A chat template with {% generation %} markers for assistant-only loss, or None when we have none to offer."""
    template = tokenizer.chat_template or ""
    if "{% generation %}" in template:
        return template
    if "<|im_start|>" in template:
        return common.CHATML_TRAINING
    try:
        from trl.chat_template_utils import get_training_chat_template

        return get_training_chat_template(tokenizer) or None
    except Exception:  # TRL raises for templates it does not know; we then train on whole sequences
        return None


def sft_config(settings: SFTSettings, out: Path, assistant_only: bool):
    from trl import SFTConfig

    args = dict(output_dir=str(out / "checkpoints"), num_train_epochs=settings.epochs, max_steps=settings.max_steps,
                learning_rate=settings.learning_rate, per_device_train_batch_size=settings.batch_size,
                max_length=settings.max_length, assistant_only_loss=assistant_only, logging_steps=1,
                save_strategy="no", report_to=settings.report_to, seed=settings.seed, lr_scheduler_type="cosine",
                warmup_steps=2, dataset_num_proc=None, **common.device_args(settings.precision))
    args.update(settings.sft)
    try:
        return SFTConfig(**args)
    except TypeError as exc:
        raise common.UserError(f"sft block: {exc}; use field names of trl.SFTConfig.") from None


def run(settings: SFTSettings, log=None) -> Path:
    """Train, save merged model + adapter + metrics; return the output folder."""
    from trl import SFTTrainer

    from taskalign.train.shared_prefix import sft_trainer_class

    log = log or common.console_print
    start = time.time()
    domain = load_domain(settings.domain)  # a bad domain or file fails before any output is written or a model loads
    rows = load_data(settings, Path(settings.out))
    out = common.start_run(settings.out)
    model, tokenizer = common.load_for_training(settings.model, precision=settings.precision)
    original_template = tokenizer.chat_template
    template = training_template(tokenizer)
    if template is None:
        log("warning: no chat template with generation markers for this model; training on whole conversations.")
    else:
        tokenizer.chat_template = template
    peft = None
    if settings.lora_r > 0:
        peft = common.lora_config(model, settings.lora_r, settings.lora_alpha, settings.lora_targets,
                                  settings.lora_layers)
    trainer_type = sft_trainer_class() if settings.train_prefix else SFTTrainer
    trainer = trainer_type(model=model, args=sft_config(settings, out, template is not None),
                         train_dataset=common.training_dataset(rows, out), processing_class=tokenizer,
                         peft_config=peft,
                         callbacks=[common.metrics_callback(out / "metrics.jsonl")])
    log(f"SFT on {len(rows)} conversations, {trainer.args.max_steps if trainer.args.max_steps > 0 else 'all'} steps")
    result = trainer.train()
    common.drop_training_dataset(out, trainer)
    tokenizer.chat_template = original_template  # inference keeps the model's own template
    saved = common.save_trained(trainer, tokenizer, out, settings.merge)
    if not common.is_main(trainer):
        return out
    note = {"base": common.base_record(settings.model), "kind": "sft", "domain": domain.name, **saved,
            "steps": result.global_step, "train_loss": result.training_loss,
            "assistant_only_loss": template is not None,
            "shared_prefix_steps": getattr(trainer, "prefix_steps", 0),
            **common.distribution(trainer, log),
            "duration_s": round(time.time() - start, 1)}
    common.write_model_note(out, note)
    common.write_json(out / "train_config.json", common.settings_dict(settings))
    return out
