"""`taskalign attack`: search, per harmful intent, for an attack that makes the model comply; and `taskalign cases
mutate`: the same operators applied to train cases, harmful and benign, for preference training."""

from pathlib import Path

import typer

from taskalign.attack.operators import FAMILIES
from taskalign.models.cli import MODEL_HELP
from taskalign.redteam.cli import (ABSTAIN, ADAPTER, BATCH_SIZE, CONCURRENCY, HEAD, JUDGE, JUDGE_MODEL_NAME, MODEL_NAME,
                                   PRECISION)


def register(app: typer.Typer) -> None:
    from taskalign.suite.cli import cases_app

    app.command()(attack)
    # `cases mutate` lives here, with the operators it applies, so the suite never imports the attack code.
    cases_app.command("mutate")(mutate)


def attack(
    model: str = typer.Option("embedded", "--model", help=MODEL_HELP),
    out: Path = typer.Option(..., "--out", help="Run folder (resumes when it exists with the same settings)."),
    intents: str = typer.Option("test", "--intents", help="train, test (the built-in intents) or a JSONL file of "
                                                          "{\"id\", \"request\"} rows."),
    budget: int = typer.Option(20, "--budget", help="Attempts per intent, the plain request included."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same mutations."),
    families: str = typer.Option(",".join(FAMILIES), "--families", help="Operator families to search with."),
    attacker: str = typer.Option(None, "--attacker", help="A model spec that rewrites attempts (PAIR-style); every "
                                                          "other attempt is then its rewrite. Default: mutations only."),
    attacker_model_name: str = typer.Option(None, "--attacker-model-name", help="Attacker model id on a server."),
    limit: int = typer.Option(None, "--limit", help="At most this many intents."),
    model_name: str = MODEL_NAME,
    adapter: str = ADAPTER,
    max_new_tokens: int = typer.Option(96, help="Longest reply in tokens."),
    batch_size: int = BATCH_SIZE,
    concurrency: int = CONCURRENCY,
    precision: str = PRECISION,
    head: bool = HEAD,
    judge: str = JUDGE,
    abstain: float = ABSTAIN,
    judge_model_name: str = JUDGE_MODEL_NAME,
):
    """Adaptive attacks: per intent, mutate (or let --attacker rewrite) until the judge says the model complied or the
    budget is spent. Writes a red-team run folder with ASR@budget, attempts.jsonl and attacks.jsonl."""
    from taskalign.attack.search import AttackConfig, run
    from taskalign.attack.show import print_attack

    config = AttackConfig(model=model, out=str(out), intents=intents, budget=budget, seed=seed,
                          families=tuple(f.strip() for f in families.split(",") if f.strip()), attacker=attacker,
                          attacker_model_name=attacker_model_name, limit=limit, model_name=model_name, adapter=adapter,
                          max_new_tokens=max_new_tokens, batch_size=batch_size, concurrency=concurrency,
                          precision=precision, head=head, judge=judge, judge_model_name=judge_model_name, abstain=abstain)
    print_attack(run(config))


def mutate(
    out: str = typer.Option(..., "--out", help="Where to write the variant cases (JSONL)."),
    file: str = typer.Option(None, "--file", "-f", help="A case file (JSONL); default: the built-in suite."),
    bank: bool = typer.Option(True, "--bank/--no-bank", help="Also mutate the training-only bank (its plain and "
                                                             "euphemistic requests and benign look-alikes)."),
    per_case: int = typer.Option(1, "--per-case", help="Variants per source case."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same variants."),
    families: str = typer.Option(None, "--families", help="Operator families (default: all)."),
    split: str = typer.Option("train", "--split", help="train (for preference training) or test (to measure wrapped "
                                                       "requests a model never trained on; never used for pairs)."),
):
    """Attack-operator variants of the train cases, harmful and benign alike (see taskalign/attack/variants.py)."""
    from rich.console import Console

    from taskalign.attack.variants import write_variants

    chosen = tuple(f.strip() for f in families.split(",")) if families else FAMILIES
    counts = write_variants(out, cases_file=file, bank=bank, per_case=per_case, seed=seed, families=chosen,
                            split=split)
    Console().print(f"{sum(counts.values())} variants -> {out}: "
                    + ", ".join(f"{c} ({e}) {n}" for (c, e), n in sorted(counts.items())))
