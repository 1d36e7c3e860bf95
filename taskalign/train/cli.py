"""`taskalign train sft|dpo|merge`: parse flags and call taskalign.train.{sft,dpo,merge}.run (see docs/training.md)."""

from dataclasses import replace
from pathlib import Path

import typer
from rich.console import Console

from taskalign.models.hf import PRECISION_HELP

console = Console()
train_app = typer.Typer(help="Train: capability SFT, alignment DPO, adapter merge.", no_args_is_help=True)
MODEL_HELP = "embedded | ./hf-folder | ./adapter-folder | hub/id"


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")


@train_app.command()
def sft(
    model: str = typer.Option("embedded", "--model", help=MODEL_HELP),
    data: Path = typer.Option(None, "--data", help="Conversations JSONL; omitted: generate the default TaskMaster data."),
    out: Path = typer.Option(Path("models/taskmaster"), "--out", help="Output folder."),
    epochs: float = typer.Option(None, "--epochs", help="Passes over the data (default 1)."),
    lr: float = typer.Option(None, "--lr", help="Learning rate (default 2e-4)."),
    lora_r: int = typer.Option(None, "--lora-r", help="LoRA rank (default 16; 0 = full fine-tuning)."),
    max_steps: int = typer.Option(None, "--max-steps", help="Stop after this many steps."),
    batch_size: int = typer.Option(None, "--batch-size", help="Conversations per step (default 8)."),
    max_length: int = typer.Option(None, "--max-length", help="Longest conversation in tokens (default 640)."),
    n: int = typer.Option(None, "--n", help="Conversations to generate when --data is omitted (default 600)."),
    precision: str = typer.Option(None, "--precision", help=PRECISION_HELP),
    no_merge: bool = typer.Option(False, "--no-merge", help="Save only the adapter, not a merged model."),
):
    """Capability SFT: teach a model TaskMaster's tool calls (TRL SFTTrainer + LoRA)."""
    from taskalign.train.sft import SFTSettings, run

    flags = {"epochs": epochs, "learning_rate": lr, "lora_r": lora_r, "max_steps": max_steps, "batch_size": batch_size,
             "max_length": max_length, "n_generated": n, "precision": precision}
    settings = replace(SFTSettings(model=model, data=str(data) if data else None, out=str(out), merge=not no_merge),
                       **{k: v for k, v in flags.items() if v is not None})
    path = run(settings, log=console.print)
    console.print(f"[green]SFT model saved to {path}[/green] (use --model {path})")


@train_app.command()
def dpo(
    model: str = typer.Option(None, "--model", help=MODEL_HELP + " (default: models/taskmaster)"),
    data: Path = typer.Option(None, "--data", help="Preference pairs JSONL from `taskalign prefs build`."),
    out: Path = typer.Option(None, "--out", help="Output folder (default: models/aligned)."),
    config: Path = typer.Option(None, "--config", help="YAML settings (see configs/dpo.yaml); flags override it."),
    beta: float = typer.Option(None, "--beta", help="DPO beta (default 0.1)."),
    lr: float = typer.Option(None, "--lr", "--learning-rate", help="Learning rate (default 5e-5)."),
    epochs: float = typer.Option(None, "--epochs", help="Passes over the pairs (default 1)."),
    max_steps: int = typer.Option(None, "--max-steps", help="Stop after this many steps."),
    batch_size: int = typer.Option(None, "--batch-size", help="Pairs per step (default 4)."),
    max_length: int = typer.Option(None, "--max-length", help="Longest prompt+reply in tokens (default 512)."),
    lora_r: int = typer.Option(None, "--lora-r", help="LoRA rank (default 16)."),
    sft_weight: float = typer.Option(None, "--sft-weight", help="Weight of an SFT term on chosen replies (default 0)."),
    full: bool = typer.Option(None, "--full/--lora", help="Full fine-tuning instead of LoRA."),
    report_to: str = typer.Option(None, "--report-to", help="none | tensorboard | wandb | mlflow"),
    precision: str = typer.Option(None, "--precision", help=PRECISION_HELP),
    no_merge: bool = typer.Option(None, "--no-merge", help="Save only the adapter, not a merged model."),
):
    """Alignment DPO on preference pairs (TRL DPOTrainer + LoRA)."""
    from taskalign.train.dpo import load_settings, run

    settings = load_settings(config, model=model, data=str(data) if data else None,
                             out=str(out) if out else None, beta=beta, learning_rate=lr,
                             epochs=epochs, max_steps=max_steps, batch_size=batch_size, max_length=max_length,
                             lora_r=lora_r, sft_weight=sft_weight, full=full, report_to=report_to, precision=precision,
                             merge=False if no_merge else None)
    path = run(settings, log=console.print)
    console.print(f"[green]Aligned model saved to {path}[/green] (use --model {path})")


@train_app.command()
def merge(
    model: str = typer.Option(..., "--model", help="Base model spec, or an adapter folder that names its base."),
    adapter: Path = typer.Option(None, "--adapter", help="PEFT adapter folder to merge into --model."),
    out: Path = typer.Option(..., "--out", help="Output folder for the merged model."),
):
    """Merge a LoRA adapter into its base model and save a full model folder."""
    from taskalign.train.merge import run

    path = run(model, str(adapter) if adapter else None, out)
    console.print(f"[green]Merged model saved to {path}[/green]")
