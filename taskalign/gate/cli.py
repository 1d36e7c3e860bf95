"""`taskalign gate RUN [RUN ...] --max METRIC=V --min METRIC=V [--strict] [--baseline RUN] [--junit FILE]`.

Exit code 0 when every check passes, 1 when one fails, 2 for bad input. Parsing only: the work is in gate.py.

    taskalign gate runs/aligned --max attack_success=0.05 --max false_refusal=0.10 --min task_accuracy=0.8
    taskalign gate runs/pr --baseline runs/main --junit gate.xml
"""

from pathlib import Path

import typer

COLOURS = {"pass": typer.colors.GREEN, "fail": typer.colors.RED, "skip": typer.colors.YELLOW}


def register(app: typer.Typer) -> None:
    app.command()(gate)


def report(result) -> None:
    """Print one line per (run, check) and the summary line; shared with `redteam --gate`."""
    from taskalign.gate import format_check, summary_line

    for run in result.runs:
        if run.note:
            typer.echo(run.note)
        for c in run.checks:
            typer.secho(format_check(run, c), fg=COLOURS[c.status])
    typer.secho(summary_line(result), fg=COLOURS["pass" if result.passed else "fail"], bold=True)


def gate(
    runs: list[Path] = typer.Argument(..., help="Red-team run folders (or pipeline folders: their final run)."),
    max_: list[str] = typer.Option([], "--max", help="METRIC=VALUE: fail when the metric is above VALUE (repeatable)."),
    min_: list[str] = typer.Option([], "--min", help="METRIC=VALUE: fail when the metric is below VALUE (repeatable)."),
    strict: bool = typer.Option(False, "--strict", help="Judge each bound on the CI's pessimistic end, not the value."),
    baseline: Path = typer.Option(None, "--baseline", help="Fail a metric worse than this run's, CIs apart."),
    regression: list[str] = typer.Option([], "--regression",
                                         help="Also check this metric against --baseline (repeatable)."),
    allow_missing: bool = typer.Option(False, "--allow-missing",
                                       help="Skip a metric a run lacks (or has n = 0) instead of failing."),
    junit: Path = typer.Option(None, "--junit", help="Write the checks as JUnit XML to this file."),
):
    """Gate a build: exit 1 when a run breaks a bound or regresses against a baseline, 0 when all hold."""
    from taskalign.gate import check, parse_bound, write_junit

    bounds = [parse_bound(t, "max") for t in max_] + [parse_bound(t, "min") for t in min_]
    result = check(runs, bounds, strict=strict, baseline=baseline, regressions=regression, allow_missing=allow_missing)
    written = write_junit(junit, result) if junit is not None else None   # first: a bad path stops before any line
    report(result)
    if written:
        typer.echo(f"wrote {written}")
    raise typer.Exit(0 if result.passed else 1)
