"""`taskalign domain new|check|list`: scaffold a domain folder, validate one, list the built-in ones."""

from pathlib import Path

import typer

domain_app = typer.Typer(help="Create, check and list domains (an assistant's persona, tools, taxonomy and suite data).",
                         no_args_is_help=True)
DOMAIN_HELP = "A built-in domain name (taskalign domain list) or a domain folder."


def register(app: typer.Typer) -> None:
    app.add_typer(domain_app, name="domain")


@domain_app.command("new")
def new(name: str = typer.Argument(..., help="The domain's name: lower-case letters, digits, '-' or '_'."),
        tools: Path = typer.Option(..., "--tools", help="The assistant's tools, OpenAI function format (JSON list)."),
        out: Path = typer.Option(None, "--out", help="The folder to write (default: ./NAME); must not exist.")):
    """Write a new domain folder: domain.yaml and every file, with examples to replace."""
    from taskalign.domainkit.scaffold import new_domain

    folder = new_domain(name, tools, out)
    typer.echo(f"wrote {folder}; edit its files, then run `taskalign domain check {folder}`")


@domain_app.command("check")
def check(folder: Path = typer.Argument(..., help="The domain folder to check.")):
    """Check a domain folder: every problem with its file and line, then what missing files leave unmeasured."""
    from taskalign.domainkit.check import check_domain

    problems, notes = check_domain(folder)
    for problem in problems:
        typer.echo(problem)
    for note in notes:
        typer.echo(f"note: {note}")
    if problems:
        typer.echo(f"{len(problems)} problems", err=True)
        raise typer.Exit(2)
    typer.echo(f"{folder}: OK")


@domain_app.command("list")
def list_domains():
    """List the built-in domains."""
    from taskalign.domain.load import builtin_domains, load_domain

    for name in builtin_domains():
        domain = load_domain(name)
        typer.echo(f"{name}\t{domain.assistant}\t{len(domain.tools)} tools\t{domain.root}")
