"""Pieces `train sft`, `train dpo` and `train merge` share: reading conversation JSONL, loading a model spec for
training, device defaults, LoRA config, a per-step metrics log, saving adapter + merged model +
`taskalign_model.json`, and settings from defaults < a YAML file < flags (`load_settings`).

Not a command itself; see taskalign/train/sft.py and dpo.py.
"""

import contextlib
import shutil
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

from taskalign.domain.conversation import messages_problem
from taskalign.errors import UserError
from taskalign.files import Appender, read_rows, read_yaml, write_json_atomic
from taskalign.models.hf import PRECISION_HELP
from taskalign.typecheck import check_type, did_you_mean

# SmolLM2 / ChatML rendering with {% generation %} markers, so TRL can mask the loss to assistant turns. It renders the
# same text as the model's own template whenever a system message is present (taskalign always sends one).
CHATML_TRAINING = (
    "{% for message in messages %}{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


@dataclass
class PreferenceSettings:
    """The settings `train dpo`, `train kto` and `train orpo` share; each adds its own and its TRL pass-through block."""
    model: str = field(default="models/taskmaster", metadata={"help": "Model spec to align: a merged or adapter "
                                                                          "folder, embedded, or a hub id."})
    data: str = field(default="prefs.jsonl", metadata={"help": "Preference pairs JSONL from `taskalign prefs build`."})
    out: str = field(default="models/aligned", metadata={"help": "Output folder."})
    beta: float = field(default=0.1, metadata={"help": "Beta: how far the policy may move from the reference."})
    learning_rate: float = field(default=5e-5, metadata={"help": "Peak learning rate (LoRA ~5e-5; full ~5e-7..5e-6).",
                                                         "aliases": ("--lr",)})
    epochs: float = field(default=1.0, metadata={"help": "Passes over the pairs."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many optimizer steps (-1: use epochs)."})
    batch_size: int = field(default=4, metadata={"help": "Pairs per optimizer step."})
    max_length: int = field(default=512, metadata={"help": "Longest prompt+reply in tokens; longer ones are cut."})
    full: bool = field(default=False, metadata={"help": "Full fine-tuning instead of LoRA.", "negative": "--lora"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha."})
    lora_targets: str = field(default="all-linear", metadata={"help": "LoRA target modules (comma list or all-linear)."})
    lora_layers: int = field(default=0, metadata={"help": "Adapt only the last N layers (0: all); faster backward."})
    precision: str = field(default="auto", metadata={"help": PRECISION_HELP})
    merge: bool = field(default=True, metadata={"help": "Also save the adapter merged into a full model folder."})
    seed: int = field(default=0, metadata={"help": "Seed for shuffling and LoRA init."})
    report_to: str = field(default="none", metadata={"help": "none | tensorboard | wandb | mlflow"})


def console_print(*args) -> None:
    """Rich markup ([yellow]...) rendered; the default `log` of the training stages."""
    from rich.console import Console

    Console(stderr=True).print(*args)


def set_threads() -> int:
    """The same CPU thread rule as generation (taskalign.models.hf.thread_count: TASKALIGN_THREADS, else
    OMP_NUM_THREADS, else all cores); returns the count chosen."""
    from taskalign.models.hf import set_threads as set_generation_threads

    return set_generation_threads()


def read_conversations(path: str | Path, required: tuple[str, ...], what: str) -> list[dict]:
    """Rows of a JSONL file whose `required` keys each hold a list of {role, content} messages; a missing file, a
    malformed line, a missing key or a bad message list is a UserError naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} file {path} does not exist; check the path.")
    rows = []
    for number, row in read_rows(path, what):
        missing = [k for k in required if k not in row]
        if missing:
            raise UserError(f"{path} line {number} lacks {', '.join(missing)}; each {what} row needs {', '.join(required)}.")
        if problem := next((p for k in required if (p := messages_problem(row[k], k))), None):
            raise UserError(f"{path} line {number}: {problem}.")
        rows.append(row)
    if not rows:
        raise UserError(f"{what} file {path} has no rows; pass a JSONL file with at least one row.")
    return rows


def start_run(out: str | Path) -> Path:
    """What every training run does first: make its output folder, pick threads, patch TRL's CPU LM head."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    set_threads()
    score_completions_only_on_cpu()
    return out


def on_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def device_args(precision: str = "auto") -> dict:
    """TrainingArguments that differ by device. TRL defaults to bf16 and gradient checkpointing; on a CPU checkpointing
    only costs time, and bf16 (autocast over fp32 weights) is used only where `precision` asks for it."""
    from taskalign.models.hf import use_bf16

    if on_gpu():
        return {"bf16": use_bf16(precision, "cuda")}
    return {"use_cpu": True, "bf16": use_bf16(precision, "cpu"), "activation_checkpointing": False}


def score_completions_only_on_cpu() -> bool:
    """Make TRL's fused LM head score only the positions that have labels on a CPU, as it already does on CUDA.

    TRL (1.16) replaces the LM head with a chunked log-prob kernel and, off CUDA/XPU, scores *every* position, prompt
    and padding included, to keep tile shapes fixed for compilers such as Neuron. On a CPU nothing is compiled, and
    the TaskMaster prompts are ~85 % of each DPO sequence, so the 49k-vocabulary projection (forward and backward) was
    most of a training step. Losses are identical either way (checked step by step); a DPO step on the embedded model
    went from 8.1 s to 3.0 s. Returns whether the switch was applied (False when TRL no longer has it).
    """
    import trl.trainer.utils as trl_utils

    original = getattr(trl_utils, "_use_triton", None)
    if original is None or getattr(original, "taskalign_cpu_compact", False):
        return original is not None

    def compact_on_cpu(device) -> bool:
        return device.type == "cpu" or original(device)

    compact_on_cpu.taskalign_cpu_compact = True
    trl_utils._use_triton = compact_on_cpu
    return True


def base_record(spec: str) -> str:
    """The spec to write as `base`: an existing local folder becomes absolute, so it resolves from any directory."""
    return str(Path(spec).resolve()) if spec not in ("embedded",) and Path(spec).exists() else spec


def load_for_training(spec: str, adapter: str | None = None, precision: str = "auto"):
    """(model, tokenizer) from any spec `resolve_hf` accepts; an adapter (given or implied) is merged in first.
    Weights are bf16 only on a GPU that `precision` puts in bf16; CPU bf16 is autocast over fp32 weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from taskalign.models import resolve_hf
    from taskalign.models.hf import use_bf16

    if spec.startswith(("openai:", "mock:")):
        raise UserError(f"--model {spec} cannot be trained; pass 'embedded', a Hugging Face model folder or hub id.")
    path, adapter = resolve_hf(spec, adapter)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        dtype = torch.bfloat16 if on_gpu() and use_bf16(precision, "cuda") else torch.float32
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except OSError as exc:
        raise UserError(f"Could not load a model from {path!r} ({str(exc).splitlines()[0][:160]}); "
                        "pass a folder with config.json and weights, a hub id, or 'embedded'.") from exc
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def linear_names(model) -> list[str]:
    """Short names of the Linear layers inside the transformer blocks (what PEFT's all-linear means, lm_head excluded)."""
    import torch

    return sorted({name.rsplit(".", 1)[-1] for name, mod in model.named_modules()
                   if isinstance(mod, torch.nn.Linear) and "lm_head" not in name})


def lora_config(model, r: int, alpha: int, targets: str = "all-linear", top_layers: int = 0):
    """LoRA on `targets` (comma list or all-linear); top_layers > 0 adapts only the last N transformer layers, so the
    backward pass stops there (faster on CPU, see docs/training.md)."""
    from peft import LoraConfig

    modules = targets if targets == "all-linear" else [t.strip() for t in targets.split(",")]
    layers = None
    if top_layers > 0:
        if modules == "all-linear":  # PEFT needs explicit names together with layers_to_transform
            modules = linear_names(model)
        n = model.config.get_text_config().num_hidden_layers
        layers = list(range(max(0, n - top_layers), n))
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=modules, layers_to_transform=layers,
                      task_type="CAUSAL_LM")


def metrics_callback(path: Path):
    """A TrainerCallback appending each log record (one JSON object per logged step) to `path`, synced per line."""
    from transformers import TrainerCallback

    class MetricsLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and state.is_world_process_zero:
                with Appender(path) as out:
                    out.write({"step": state.global_step, "epoch": state.epoch, "time": round(time.time(), 2),
                               "cpu_s": round(time.process_time(), 2), **logs})

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")  # a new run starts a new log
    return MetricsLog()


def write_json(path: Path, obj) -> None:
    """Atomically; values JSON lacks (paths, dtypes) are written as their str."""
    write_json_atomic(path, obj, default=str)


def save_model(model, tokenizer, out: Path, merge: bool) -> dict:
    """Save a PEFT model as out/adapter plus (merge=True) a merged full model in out/; or a full model in out/.

    Returns what was written, for taskalign_model.json. The merged folder loads with `load_model(out)`.
    """
    from peft import PeftModel

    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "adapter", ignore_errors=True)  # a stale adapter from an earlier run would mislead
    with contextlib.suppress(OSError):
        (out / "checkpoints").rmdir()  # the trainer makes it even with save_strategy="no"; drop it when empty
    if not isinstance(model, PeftModel):
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        return {"merged": True, "adapter": None}
    if not merge:
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        return {"merged": False, "adapter": "."}
    model.save_pretrained(out / "adapter")
    tokenizer.save_pretrained(out / "adapter")
    merged = model.merge_and_unload()
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {"merged": True, "adapter": "adapter"}


def write_model_note(out: Path, note: dict) -> None:
    """taskalign_model.json in OUT (and in OUT/adapter, so that folder alone resolves to its base)."""
    write_json(out / "taskalign_model.json", note)
    if note.get("adapter") == "adapter":
        write_json(out / "adapter" / "taskalign_model.json", {**note, "merged": False, "adapter": "."})


def save_trained(trainer, tokenizer, out: Path, merge: bool) -> dict:
    """Like save_model, run by every process of a distributed run and written once.

    Under DDP each process holds the whole model, so the main process saves (and merges) as a single process would.
    Under FSDP or DeepSpeed the weights are sharded: every process joins the trainer's gather and the main process
    writes the adapter (or full model); the merge is skipped (run `taskalign train merge` afterwards).
    """
    accelerator = trainer.accelerator
    if accelerator.num_processes == 1:
        return save_model(trainer.model, tokenizer, out, merge)
    if trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled:
        trainer.save_model(str(out))
        saved = {"merged": False, "adapter": "." if (out / "adapter_config.json").is_file() else None}
        if accelerator.is_main_process:
            tokenizer.save_pretrained(out)
            with contextlib.suppress(OSError):
                (out / "checkpoints").rmdir()
    else:
        saved = save_model(accelerator.unwrap_model(trainer.model), tokenizer, out, merge) \
            if accelerator.is_main_process else {}
    accelerator.wait_for_everyone()  # no process returns (and may read OUT) before the files are written
    # No collective follows, so the process group goes now: left to interpreter exit, a rank that returns first can
    # abort in gloo's teardown ("terminate called without an active exception") and fail the whole launch.
    accelerator.end_training()
    return saved


def training_dataset(rows: list[dict], out: Path):
    """A datasets.Dataset of the rows; file-backed in OUT/dataset when several processes train.

    An in-memory dataset keeps its map caches in a temporary folder of each process, and TRL's reference log-prob
    cache is written by the main process and read by all: the other ranks could not open it. Saved to disk once,
    the dataset's caches live beside it, where every process finds them. `drop_training_dataset` removes the folder.
    """
    from datasets import Dataset, load_from_disk

    dataset = Dataset.from_list(rows)
    if world_size() == 1:
        return dataset
    from accelerate import PartialState

    state = PartialState()
    folder = out / "dataset"
    with state.main_process_first():
        if state.is_main_process:
            shutil.rmtree(folder, ignore_errors=True)
            dataset.save_to_disk(str(folder))
    return load_from_disk(str(folder))


def drop_training_dataset(out: Path, trainer) -> None:
    if trainer.accelerator.num_processes > 1:
        trainer.accelerator.wait_for_everyone()
        if trainer.accelerator.is_main_process:
            shutil.rmtree(out / "dataset", ignore_errors=True)


def distribution(trainer, log) -> dict:
    """How the run was spread, for taskalign_model.json: process count and accelerate's distributed type.

    accelerate enables FSDP only on GPUs (and similar devices): on a CPU a run launched with an FSDP config trains as
    plain data parallel over gloo, without saying so. Say it, so nobody believes a CPU run tested sharding.
    """
    import os

    state = trainer.accelerator.state
    kind = str(getattr(state.distributed_type, "value", state.distributed_type))
    if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true" and kind != "FSDP":
        log(f"[yellow]warning: FSDP was asked for, but accelerate does not shard on this device; this run was "
            f"{kind} (data parallel, every process holding the whole model).[/yellow]")
    return {"processes": trainer.accelerator.num_processes, "distributed": kind}


def leave_distributed_run() -> None:
    """End a finished process of a distributed run without the interpreter's teardown (each process calls it).

    Everything is saved and the process group destroyed by then (save_trained), but DeepSpeed and the trainer still
    hold gloo process groups; their C++ threads are torn down during interpreter exit in no fixed order, and now and
    then one aborts ("terminate called without an active exception"). accelerate then reports the whole launch as
    failed although every file was written. The Python exit hooks still run first (a wandb or mlflow run is finished
    there, logs are flushed); only the teardown of objects after them is skipped.
    """
    import atexit
    import os
    import sys

    if world_size() == 1:
        return
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def world_size() -> int:
    """How many processes train together (accelerate launch / torchrun set WORLD_SIZE); 1 for a plain run."""
    import os

    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main(trainer) -> bool:
    return trainer.accelerator.is_main_process


def settings_dict(settings) -> dict:
    return {f.name: getattr(settings, f.name) for f in fields(settings)}


def load_settings(cls, config: str | Path | None = None, overrides: dict | None = None):
    """cls's defaults, then the YAML file `config`, then the `overrides` that are not None (a pass-through block such
    as `dpo:` is merged key by key); an unknown key or a value of the wrong type is a UserError naming file and key."""
    values = read_settings_file(Path(config)) if config else {}
    for key, value in (overrides or {}).items():
        if value is not None:
            both_blocks = isinstance(value, dict) and isinstance(values.get(key), dict)
            values[key] = {**values[key], **value} if both_blocks else value
    return build_settings(cls, values, str(config) if config else "settings")


def read_settings_file(path: Path) -> dict:
    return read_yaml(path, "Config")


def build_settings(cls, values: dict, where: str):
    """cls(**values) after checking each key and value; `where` (a file) starts every error message."""
    known = {f.name: f for f in fields(cls)}
    block = pass_through_block(cls)
    for key in values:
        if key not in known:
            raise UserError(f"{where}: unknown setting {key!r}{did_you_mean(key, known)}; use one of the "
                            f"{cls.__name__} fields (see `taskalign train {block} --help`) or put trl.{trl_config_name(cls)} fields "
                            f"under '{block}:'.")
    settings = cls(**{key: typed(known[key], value, where) for key, value in values.items()})
    check_pass_through(getattr(settings, block), trl_config_name(cls), block, where)
    return settings


def typed(f, value, where: str):
    """`value` as dataclass field f's type (see check_type); an empty pass-through block (`dpo:`) is {}."""
    if value is None and f.type is dict:  # `dpo:` left empty, or a block of comments only
        return {}
    return check_type(f.name, f.type, value, where)


def pass_through_block(cls) -> str:
    """The name of cls's mapping field that goes straight to TRL's config (`sft` or `dpo`)."""
    return next(f.name for f in fields(cls) if f.type is dict)


def trl_config_name(cls) -> str:
    return f"{pass_through_block(cls).upper()}Config"


def check_pass_through(block: dict, config_name: str, name: str, where: str) -> None:
    """Every key of the pass-through block must be a field of trl's config class (TRL itself would only fail later)."""
    if not block:
        return
    import trl

    known = {f.name for f in fields(trl_config_class(config_name))}
    for key in block:
        if key not in known:
            raise UserError(f"{where}: {name}.{key} is not a trl.{config_name} field; check the spelling "
                            f"(TRL {trl.__version__}).")


def trl_config_class(config_name: str):
    """trl.DPOConfig, trl.KTOConfig, ...; ORPO lives in trl.experimental.orpo since TRL 1.0."""
    import importlib
    import os

    import trl

    if hasattr(trl, config_name):
        return getattr(trl, config_name)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # we pin the TRL range the experimental API is used with
    return getattr(importlib.import_module(f"trl.experimental.{config_name.removesuffix('Config').lower()}"),
                   config_name)


def fit(settings, kind: str, prepare, description: str, log=None, summary=None) -> Path:
    """The run every preference trainer (dpo, kto, orpo) shares, around its own TRL trainer.

    `prepare(model, tokenizer, out)` returns (TRL config, training rows, trainer class, extra summary fields); this
    loads the model, adds LoRA unless settings.full, trains, saves the merged model + adapter, writes
    train_config.json, metrics.jsonl, train_summary.json (through `summary(out, trainer, result, extra, log)`) and
    taskalign_model.json with `kind`. The caller reads and checks its data before calling, so a bad file fails before
    any output is written or a model loads.
    """
    log = log or console_print
    start = time.time()
    out = start_run(settings.out)
    model, tokenizer = load_for_training(settings.model, precision=settings.precision)
    peft = None
    if not settings.full:
        peft = lora_config(model, settings.lora_r, settings.lora_alpha, settings.lora_targets, settings.lora_layers)
    args, rows, trainer_type, extra = prepare(model, tokenizer, out)
    write_json(out / "train_config.json", {**settings_dict(settings), f"{kind}_config": args.to_dict()})
    trainer = trainer_type(model=model, args=args, train_dataset=training_dataset(rows, out),
                           processing_class=tokenizer, peft_config=peft,
                           callbacks=[metrics_callback(out / "metrics.jsonl")])
    log(f"{description} ({'full' if settings.full else f'LoRA r={settings.lora_r}'}, beta={settings.beta})")
    result = trainer.train()
    drop_training_dataset(out, trainer)
    saved = save_trained(trainer, tokenizer, out, settings.merge)
    if not is_main(trainer):
        return out
    spread = distribution(trainer, log)
    if summary:
        summary(out, trainer, result, {**extra, **spread, "duration_s": round(time.time() - start, 1)}, log)
    write_model_note(out, {"base": base_record(settings.model), "kind": kind, **saved, "steps": result.global_step,
                           **spread})
    return out
