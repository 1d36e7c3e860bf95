"""`taskalign prefs build|unpaired|validate|stats`: parse flags and call taskalign.prefs; nothing else lives here."""

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from taskalign.errors import UserError

console = Console()
prefs_app = typer.Typer(help="Build, check and summarise preference data (DPO/ORPO pairs, KTO rows).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(prefs_app, name="prefs")


def _cases(path: Path | None, domain=None) -> list[dict]:
    from taskalign.suite import domain_cases, load_cases

    return load_cases(path) if path else domain_cases(domain)


def _domain(domain: str | None, run_dirs: list[Path] | None) -> str | None:
    """--domain, else the domain of the first run folder, else None (TaskMaster)."""
    from taskalign.domain.load import run_domain

    return domain if domain is not None else run_domain(run_dirs[0]) if run_dirs else None


def _name_numbers(items: list[str] | None, flag: str, form: str, example: str) -> dict[str, int]:
    out = {}
    for item in items or []:
        name, _, number = item.partition("=")
        if not name or not number.strip().isdigit():
            raise UserError(f"{flag} {item!r} must be {form} with a whole number N, e.g. {example}.")
        out[name.strip()] = int(number)
    return out


@prefs_app.command("build")
def build_cmd(
    run_dirs: list[Path] = typer.Option(None, "--from", help="Red-team run folder (repeat for several, e.g. a run on "
                                                             "the --extra-cases); without it, rejected replies are "
                                                             "composed."),
    out: Path = typer.Option(..., "--out", help="Where to write the pairs (JSONL)."),
    cases: Path = typer.Option(None, "--cases", help="Case file (JSONL); default: the built-in suite."),
    seed: int = typer.Option(0, help="Same seed and inputs give a byte-identical file."),
    balance: float = typer.Option(1.0, help="Safety pairs per helpfulness pair."),
    teacher: str = typer.Option(None, "--teacher", help="Model spec that writes the chosen refusals (judged first)."),
    model_name: str = typer.Option(None, "--model-name", help="Teacher model id on an OpenAI-compatible server."),
    judge: str = typer.Option(None, "--judge", help="Judge spec for filtering (default: a cheap keyword check)."),
    max_pairs: int = typer.Option(None, "--max-pairs", help="Keep at most this many pairs (balance kept)."),
    anchors: int = typer.Option(0, "--anchors", help="Extra capability anchors from the SFT data generator (they keep "
                                                     "task accuracy when there are many safety pairs)."),
    extra_cases: str = typer.Option(None, "--extra-cases", help="'builtin' (the training-only intent bank), "
                                                                "'builtin:euphemism,direct' (only those strategies), "
                                                                "with 'styles' among them (e.g. 'builtin:euphemism,"
                                                                "styles') also requests in five writing styles on both "
                                                                "sides, 'ambiguous' (90 ambiguous requests with a "
                                                                "clarifying question) or a case file whose cases are "
                                                                "all split 'train'."),
    weight: list[str] = typer.Option(None, "--weight", help="CATEGORY=N: N pairs of that case category per round "
                                                            "when balancing (default 1), e.g. harmful_direct=3."),
    repeat: list[str] = typer.Option(None, "--repeat", help="NAME=N: write the chosen pairs of that case strategy or "
                                                            "category N times, e.g. euphemism=2."),
    domain: str = typer.Option(None, "--domain", help="Domain (built-in name or folder) whose suite, persona, tools "
                                                      "and phrase bank the pairs use; default: the --from run's, else "
                                                      "taskmaster."),
    match_surface: bool = typer.Option(False, "--match-surface", help="Give helpful pairs the harmful pairs' "
                                                                      "wrappers and decorations, in the same mix, so "
                                                                      "no surface alone means 'refuse'."),
):
    """Build preference pairs from a red-team run's failures and the suite's train cases."""
    from taskalign.prefs import build

    weights = _name_numbers(weight, "--weight", "CATEGORY=N", "harmful_direct=3")
    repeats = _name_numbers(repeat, "--repeat", "NAME=N", "euphemism=2")
    notes: dict = {}
    domain = _domain(domain, run_dirs)
    path = build(run_dirs, _cases(cases, domain), out, seed=seed, balance=balance, teacher=teacher, judge=judge,
                 max_pairs=max_pairs, model_name=model_name, notes=notes, anchors=anchors, extra_cases=extra_cases,
                 weights=weights, repeat=repeats, domain=domain, match_surface=match_surface)
    typer.echo(f"wrote {notes['pairs']} pairs to {path} ({notes['on_policy_candidates']} of "
                  f"{notes['candidates']} candidates on-policy; dropped: same {notes['dropped_same']}, both refusals "
                  f"{notes['dropped_both_refusals']}, duplicates {notes['dropped_duplicates']}, balance "
                  f"{notes['dropped_balance']}" + (f"; teacher replies used {notes['teacher_accepted']}"
                                                   if "teacher_accepted" in notes else "") + ")")


@prefs_app.command("unpaired")
def unpaired_cmd(
    run_dirs: list[Path] = typer.Option(..., "--from", help="Red-team run folder (repeat for several)."),
    out: Path = typer.Option(..., "--out", help="Where to write the rows (JSONL) for `taskalign train kto`."),
):
    """Judged replies as KTO rows: right for their case = desirable, failed = undesirable; no pairs composed."""
    from taskalign.prefs.unpaired import write_unpaired

    n = write_unpaired(run_dirs, out)
    typer.echo(f"wrote {n['rows']} rows to {out}: {n['desirable']} desirable, {n['undesirable']} undesirable; train "
               f"with `taskalign train kto --data {out} --desirable-weight {n['desirable_weight']} "
               f"--undesirable-weight {n['undesirable_weight']}`")


@prefs_app.command("validate")
def validate_cmd(
    path: Path = typer.Argument(..., help="Preference-pair JSONL file."),
    cases: Path = typer.Option(None, "--cases", help="Case file for the leakage check; default: the domain's suite."),
    domain: str = typer.Option(None, "--domain", help="Domain (built-in name or folder) whose suite the pairs are "
                                                      "checked against for leakage (default: taskmaster)."),
):
    """Check pairs: schema, roles, empty or identical replies, tool calls, test-split leakage."""
    from taskalign.prefs import validate

    problems = validate(path, _cases(cases, domain))
    for problem in problems:
        typer.echo(problem)
    if problems:
        console.print(f"[red]{len(problems)} problem(s)[/red]")
        raise typer.Exit(2)
    console.print(f"[green]ok[/green]: {path} is valid")


@prefs_app.command("stats")
def stats_cmd(
    path: Path = typer.Argument(..., help="Preference-pair JSONL file."),
    as_json: bool = typer.Option(False, "--json", help="Print the numbers as JSON."),
):
    """Show counts per pair type and harm category, reply lengths and the on-policy share."""
    from taskalign.prefs import stats

    numbers = stats(path)
    if as_json:
        console.print_json(json.dumps(numbers))
        return
    typer.echo(f"{numbers['pairs']} pairs: {numbers['safety_pairs']} safety / {numbers['helpfulness_pairs']} "
                  f"helpfulness; on-policy rejected {numbers['on_policy']} ({numbers['on_policy_share']:.0%})")
    for key in ("by_pair_type", "by_harm_category", "by_source"):
        table = Table(key.replace("_", " "))
        table.add_column("pairs", justify="right")
        for name, count in numbers[key].items():
            table.add_row(name, str(count))
        console.print(table)
    table = Table("words", "min", "median", "mean", "p90", "max")
    for name, dist in numbers["words"].items():
        table.add_row(name, *(str(dist[k]) for k in ("min", "median", "mean", "p90", "max")))
    console.print(table)
