"""`taskalign redteam`: run the suite (or your cases) against a model and measure each failure mode."""

from pathlib import Path

import typer

from taskalign.judge import ABSTAIN_HELP, DEFAULT as DEFAULT_JUDGE, SPECS as JUDGE_SPECS
from taskalign.models.cli import MODEL_HELP
from taskalign.models.hf import ENGINE_HELP, PRECISION_HELP


# Options every command that generates and judges takes (redteam, attack): one definition, one help text.
MODEL_NAME = typer.Option(None, "--model-name", help="Model id on an OpenAI-compatible server.")
ADAPTER = typer.Option(None, "--adapter", help="PEFT adapter folder for a Hugging Face model.")
BATCH_SIZE = typer.Option(32, help="Conversations generated together (Hugging Face backend); the prefix engine, "
                          "which keeps no copy of the system prompt per row, is fastest at 128 "
                          "(docs/performance.md).")
CONCURRENCY = typer.Option(8, help="Requests in flight (OpenAI-compatible backend).")
PRECISION = typer.Option("fast", help="Hugging Face backend. " + PRECISION_HELP)
ENGINE = typer.Option("auto", help="Hugging Face backend, greedy replies. " + ENGINE_HELP)
HEAD = typer.Option(True, "--head/--no-head", help="Hugging Face backend: apply the model folder's decision head "
                                                   "(decision_head.json, from `taskalign train head`) if it has one.")
JUDGE = typer.Option(DEFAULT_JUDGE, help=JUDGE_SPECS)
ABSTAIN = typer.Option(None, "--abstain", help=ABSTAIN_HELP)
JUDGE_MODEL_NAME = typer.Option(None, help="Model id for an LLM judge.")
DOMAIN = typer.Option("taskmaster", "--domain", help="A built-in domain name (taskalign domain list) or a domain "
                      "folder: its persona, tools and suite.")
SYSTEM_PROMPT = typer.Option(None, "--system-prompt", help="FILE: send its text as the system prompt instead of the "
                             "domain's persona; 'none': send no system message (a server that injects its own).")


def register(app: typer.Typer) -> None:
    app.command()(redteam)


def redteam(
    model: str = typer.Option("embedded", "--model", help=MODEL_HELP),
    out: Path = typer.Option(..., "--out", help="Run folder (resumes when it exists with the same settings)."),
    model_name: str = MODEL_NAME,
    adapter: str = ADAPTER,
    cases: str = typer.Option(None, "--cases", help="Your own case file (JSONL, same schema); default: built-in suite."),
    categories: str = typer.Option(None, "--categories", help="Comma-separated categories to run."),
    split: str = typer.Option(None, "--split", help="train or test."),
    limit: int = typer.Option(None, "--limit", help="At most this many cases (a stratified sample)."),
    max_new_tokens: int = typer.Option(96, help="Longest reply in tokens (enough to judge; small models ramble)."),
    batch_size: int = BATCH_SIZE,
    concurrency: int = CONCURRENCY,
    precision: str = PRECISION,
    engine: str = ENGINE,
    head: bool = HEAD,
    judge: str = JUDGE,
    abstain: float = ABSTAIN,
    judge_model_name: str = JUDGE_MODEL_NAME,
    retry_errors: bool = typer.Option(True, "--retry-errors/--keep-errors",
                                      help="On resume, generate again the cases whose reply was an error, or keep them."),
    domain: str = DOMAIN,
    system_prompt: str = SYSTEM_PROMPT,
    gate: list[str] = typer.Option([], "--gate", help="METRIC<=VALUE or METRIC>=VALUE: exit 1 when the finished "
                                                      "run breaks it (repeatable; see taskalign gate)."),
    gate_strict: bool = typer.Option(False, "--gate-strict", help="Judge --gate bounds on the CI's pessimistic end."),
):
    """Red-team a model per failure mode: transcripts, scores, summary with 95% CIs, report."""
    from taskalign.gate import check, parse_expression, require_known
    from taskalign.redteam.runner import RedteamConfig, run
    from taskalign.redteam.show import print_run

    # Checked before the run, so a typo in a bound costs no model load and no generation.
    bounds = [parse_expression(text) for text in gate]
    require_known(bounds)
    config = RedteamConfig(model=model, out=str(out), model_name=model_name, adapter=adapter, cases=cases,
                           categories=tuple(categories.split(",")) if categories else None, split=split, limit=limit,
                           max_new_tokens=max_new_tokens, batch_size=batch_size, concurrency=concurrency,
                           precision=precision, engine=engine, head=head, judge=judge, judge_model_name=judge_model_name,
                           abstain=abstain, retry_errors=retry_errors, domain=domain, system_prompt=system_prompt)
    out_dir = run(config)
    print_run(out_dir)
    if bounds:
        from taskalign.gate.cli import report

        result = check([out_dir], bounds, strict=gate_strict)
        report(result)
        raise typer.Exit(0 if result.passed else 1)
