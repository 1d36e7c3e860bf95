"""`taskalign judge` commands: judge a JSONL of replies, re-judge a run folder, or `judge eval` against labels.

One command whose first argument is dispatched: the word `eval`, a run folder, or a JSONL file.
"""

from pathlib import Path

import typer

from taskalign.errors import UserError
from taskalign.judge import ABSTAIN_HELP, DEFAULT, SPECS


def register(app: typer.Typer) -> None:
    @app.command("judge")
    def judge_cmd(target: str = typer.Argument(..., help="FILE.jsonl, a red-team RUN_DIR, or 'eval'."),
                  labelled: Path = typer.Argument(None, help="With 'eval': the labelled JSONL file."),
                  out: Path = typer.Option(None, "--out", help="Output JSONL (for FILE.jsonl)."),
                  judge: str = typer.Option(DEFAULT, "--judge", help=SPECS),
                  abstain: float = typer.Option(None, "--abstain", help=ABSTAIN_HELP),
                  model_name: str = typer.Option(None, "--model-name", help="Judge model name for llm/ensemble."),
                  json_out: Path = typer.Option(None, "--json", help="With 'eval': also write the metrics as JSON."),
                  domain: str = typer.Option(None, "--domain", help="Whose tools the calls are checked against: a "
                                             "built-in domain name or folder (default: the run's, else taskmaster).")):
        """Judge replies (comply/refuse/partial/clarify), re-judge a run folder, or `judge eval` against labels."""
        from taskalign.judge import load_judge
        from taskalign.judge.run import domain_tools

        if target == "eval":
            if labelled is None:
                raise UserError("taskalign judge eval needs a labelled JSONL file: taskalign judge eval LABELLED.jsonl.")
            _eval(labelled, load_judge(judge, model_name, abstain), json_out)
            return
        if labelled is not None:
            raise UserError(f"Unexpected second argument {labelled}; only 'taskalign judge eval FILE' takes two.")
        path = Path(target)
        if path.is_dir():
            from taskalign.judge.run import rejudge

            summary = rejudge(path, load_judge(judge, model_name, abstain, domain_tools(domain, path))) or {}
            typer.echo(f"re-judged {path} ({summary.get('n_cases', '?')} cases) with {judge}")
            return
        if out is None:
            raise UserError(f"Judging {path} needs --out OUT.jsonl for the judged rows.")
        from taskalign.judge.run import judge_file, read_items

        read_items(path)  # fail on a bad line before loading a model
        typer.echo(f"wrote {judge_file(path, out, load_judge(judge, model_name, abstain, domain_tools(domain)))}")


def _eval(labelled: Path, judge, json_out: Path | None) -> None:
    from taskalign.files import write_json_atomic
    from taskalign.judge.evaluate import evaluate, format_report

    result = evaluate(labelled, judge)
    typer.echo(format_report(result))
    if json_out:
        write_json_atomic(json_out, result)
