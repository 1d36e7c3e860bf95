"""`taskalign pipeline`: the whole align-and-prove loop on one model (see taskalign/pipeline.py)."""

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command()(pipeline)


def pipeline(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Pipeline folder (re-running resumes / skips stages)."),
    profile: str = typer.Option("default", "--profile", help="default (~30 min on a CPU), quick (~10 min) or robust "
                                                             "(default + adaptive attack rounds and evaluation)."),
    config: str = typer.Option(None, "--config", help="YAML overriding profile sections (sft, eval, prefs, dpo...)."),
    model: str = typer.Option(None, "--model", help="Base model spec (default: embedded SmolLM2-135M-Instruct)."),
    judge: str = typer.Option("cross", help="Judge for every red-team stage: cross | classifier | rules | "
                                            "llm:openai:URL | ensemble:openai:URL."),
    abstain: float = typer.Option(None, "--abstain", help="Mark verdicts below this confidence 'uncertain' (counted "
                                                          "against the model; ensemble: asks the LLM)."),
    rounds: int = typer.Option(None, "--rounds", help="Adaptive rounds after the first DPO: attack the model just "
                                                      "trained on train intents, pairs, DPO again (default: the "
                                                      "profile's)."),
    method: str = typer.Option("dpo", "--method", help="Preference trainer: dpo | kto | orpo (each reads its own "
                                                       "profile section)."),
    domain: str = typer.Option("taskmaster", "--domain", help="Domain (built-in name or folder): the suite every "
                                                               "red-team stage runs, the SFT conversations and the "
                                                               "preference pairs' persona and tools."),
    precision: str = typer.Option(None, "--precision", help="Every stage's precision, overriding the profile's: fast "
                                                            "(bf16 where native), fp32, bf16 or auto."),
):
    """Base → SFT → red-team → prefs → DPO (or KTO, ORPO) → red-team → compare, each stage cached and resumable."""
    from taskalign.pipeline import PipelineConfig, run

    run(PipelineConfig(out=str(out), profile=profile, config=config, model=model, judge=judge, abstain=abstain,
                       rounds=rounds, method=method, domain=domain, precision=precision))
