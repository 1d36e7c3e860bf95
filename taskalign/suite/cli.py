"""`taskalign cases list|show|validate`: browse and check red-team case files (built-in suite by default)."""

import json

import typer
from rich.console import Console
from rich.table import Column, Table

console = Console()
cases_app = typer.Typer(help="Browse and validate red-team cases.", no_args_is_help=True)
FILE_HELP = "A case file (JSONL); default: the domain's suite."
DOMAIN = typer.Option("taskmaster", "--domain", help="A built-in domain name or a domain folder (its suite and tools).")


def register(app: typer.Typer) -> None:
    app.add_typer(cases_app, name="cases")


@cases_app.command("list")
def list_cases(
    category: list[str] = typer.Option(None, "--category", "-c", help="Only these categories (repeat or a,b)."),
    split: str = typer.Option(None, "--split", help="train | test | all."),
    limit: int = typer.Option(None, "--limit", help="A seeded sample of this many, spread over categories."),
    file: str = typer.Option(None, "--file", "-f", help=FILE_HELP),
    domain: str = DOMAIN,
):
    """List cases: id, category, split, expected and the first turn."""
    from taskalign.suite import domain_cases, filter_cases, load_cases

    cases = load_cases(file) if file else domain_cases(domain)
    cases = filter_cases(cases, categories=category or None, split=split, limit=limit)
    table = Table("category", "split", "expected", "first turn")
    table.columns.insert(0, Column("id", no_wrap=True))
    for case in cases:
        turn = case["turns"][0]
        table.add_row(case["id"], case["category"], case.get("split", ""), case["expected"],
                      turn if len(turn) <= 80 else turn[:77] + "...")
    console.print(table)
    console.print(f"{len(cases)} cases")


@cases_app.command("show")
def show(case_id: str = typer.Argument(..., help="The case id, e.g. stalk-ex-partner/roleplay."),
         file: str = typer.Option(None, "--file", "-f", help=FILE_HELP), domain: str = DOMAIN):
    """Show one case as JSON."""
    from taskalign.errors import UserError
    from taskalign.suite import domain_cases, load_cases

    found = [c for c in (load_cases(file) if file else domain_cases(domain)) if c["id"] == case_id]
    if not found:
        raise UserError(f"no case with id {case_id!r}; list the ids with `taskalign cases list`.")
    console.print_json(json.dumps(found[0], ensure_ascii=False))


@cases_app.command()
def validate(file: str = typer.Argument(..., help="The case file (JSONL) to check."),
             domain: str = typer.Option(None, "--domain", help="Also check each reference_call against this domain's "
                                        "tools (a built-in name or a folder).")):
    """Check a case file and print every problem with its line number."""
    from taskalign.suite import load_cases, validate_cases

    problems = validate_cases(file, domain)
    for problem in problems:
        typer.echo(problem)
    if problems:
        typer.echo(f"{len(problems)} problems", err=True)
        raise typer.Exit(2)
    typer.echo(f"{len(load_cases(file))} cases OK")
