"""The `taskalign` command line. It only parses arguments and calls the stage modules; see `taskalign --help`.

Each stage contributes its commands through `register(app)` in its own `cli.py`, listed in COMMAND_MODULES.
"""

import importlib
import os
import sys

import typer

from taskalign.errors import UserError

app = typer.Typer(help="Red-team, preference-train and re-evaluate a tool-calling assistant.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
_state = {"debug": False}

# Each stage registers its own commands (a `register(app)` in its cli module).
COMMAND_MODULES = [
    "taskalign.models.cli",     # chat, models
    "taskalign.domainkit.cli",  # domain new|check|list
    "taskalign.suite.cli",      # cases list|show|validate
    "taskalign.redteam.cli",    # redteam
    "taskalign.attack.cli",     # attack
    "taskalign.judge.cli",      # judge, judge eval
    "taskalign.prefs.cli",      # prefs build|validate|stats
    "taskalign.train.cli",      # train sft|dpo|merge
    "taskalign.report.cli",     # report, compare
    "taskalign.gate.cli",       # gate
    "taskalign.serve.cli",      # serve, serve keys
    "taskalign.pipeline_cli",   # pipeline
    "taskalign.export.cli",     # export
]


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
          threads: int | None = typer.Option(None, "--threads", min=1,
                                             help="CPU threads for models (sets TASKALIGN_THREADS; default: all cores).")):
    _state["debug"] = debug
    if threads is not None:
        # An environment variable, so every stage's thread rule (taskalign.models.hf.thread_count) sees it.
        os.environ["TASKALIGN_THREADS"] = str(threads)


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    try:
        app()
    except UserError as exc:
        if _state["debug"]:
            raise
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted; finished work is saved and the same command resumes.", err=True)
        sys.exit(130)
