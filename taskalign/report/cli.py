"""`taskalign report RUN_DIR [--redact]` and `taskalign compare RUN... --out compare.html [--labels a,b,c]`.

Parsing only: the work is in taskalign.report (write_report, compare).
"""

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command()(report)
    app.command()(compare)


def report(
    run_dir: Path = typer.Argument(..., help="A red-team run folder (holds summary.json)."),
    redact: bool = typer.Option(False, "--redact", help="Withhold the assistant's replies to harmful requests."),
    domain: str = typer.Option(None, "--domain", help="Domain (built-in name or folder) whose assistant the "
                                                      "transcripts name; default: the run's."),
):
    """Write report.html and report.md for a red-team run folder."""
    from taskalign.report import write_report

    path = write_report(run_dir, redact=redact, domain=domain)
    typer.echo(f"wrote {path} and {path.with_suffix('.md')}")


def compare(
    runs: list[Path] = typer.Argument(..., help="2 to 4 red-team run folders, oldest first (e.g. base sft aligned)."),
    out: Path = typer.Option(Path("compare.html"), "--out", help="HTML file to write; .md and .json go beside it."),
    labels: str = typer.Option(None, "--labels", help="Comma-separated names for the runs (default: folder names)."),
    domain: str = typer.Option(None, "--domain", help="Domain (built-in name or folder) every run must be of; "
                                                      "default: the runs' own, which must agree."),
):
    """Compare 2-4 runs side by side: metric deltas, flipped cases, training curves."""
    from taskalign.report import compare as run_compare

    names = [s.strip() for s in labels.split(",")] if labels else None
    path = run_compare(runs, out, labels=names, domain=domain)
    typer.echo(f"wrote {path}, {path.with_suffix('.md')} and {path.with_suffix('.json')}")
