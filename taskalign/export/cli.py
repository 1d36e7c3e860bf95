"""`taskalign export`: parse flags and call taskalign.export.run; nothing else lives here (see docs/export.md)."""

from pathlib import Path

import typer
from rich.console import Console

console = Console()


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)


def export_cmd(
    model: str = typer.Argument(..., help="Model folder, adapter folder (merged into its base), red-team run folder, "
                                          "pipeline folder (its final aligned model), 'embedded' or a hub id."),
    out: Path = typer.Option(..., "--out", help="Folder to write (must be new or empty unless --force)."),
    runs: list[Path] = typer.Option(None, "--runs", help="Red-team run folder to show in the card (repeat for "
                                                         "several, e.g. base then aligned); a pipeline names its own."),
    prefs: bool = typer.Option(False, "--prefs", help="Also write the preference pairs as a dataset folder."),
    prefs_file: Path = typer.Option(None, "--prefs-file", help="The pairs (JSONL); default: the pipeline's "
                                                               "prefs.jsonl, or the file `train dpo` read."),
    prefs_out: Path = typer.Option(None, "--prefs-out", help="Dataset folder; default: OUT/dataset."),
    license: str = typer.Option(None, "--license", help="Licence id for the cards; default: the base model's "
                                                        "(apache-2.0 for embedded), else 'other'."),
    base_model: str = typer.Option(None, "--base-model", help="Hub id of the base model, when it cannot be told "
                                                              "from the model folders."),
    repo: str = typer.Option(None, "--repo", help="USER/NAME you will upload to: names the model in the card and "
                                                  "its dataset USER/NAME-prefs."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty --out."),
):
    """Write a Hub-ready folder: merged safetensors model, tokenizer and chat template, model card (uploads nothing)."""
    from taskalign.export import ExportConfig, run, upload_commands

    config = ExportConfig(source=model, out=str(out), runs=tuple(map(str, runs or ())), prefs=prefs or bool(prefs_file),
                          prefs_file=str(prefs_file) if prefs_file else None,
                          prefs_out=str(prefs_out) if prefs_out else None, license=license, base_model=base_model,
                          repo=repo, force=force)
    result = run(config)
    info = result.info
    console.print(f"[green]Exported {info['label']} to {result.out}[/green]"
                  + (f" and its {sum(s['pairs'] for _, s in info['prefs'])} preference pairs to {result.dataset}"
                     if result.dataset else "")
                  + f"; card: {len(info['runs'])} run(s), licence {info['license']}.")
    if not info["license_known"]:
        console.print("[yellow]The base model's licence is unknown, so the card says 'other'; pass --license ID.[/yellow]")
    if not info["base_model"]:
        console.print("[yellow]The base model's Hub id is unknown, so the card has no base_model; pass --base-model "
                      "OWNER/NAME.[/yellow]")
    console.print("Next, to publish it (needs `hf auth login`):")
    for line in upload_commands(result, repo):
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
