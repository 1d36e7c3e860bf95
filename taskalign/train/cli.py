"""`taskalign train sft|dpo|kto|orpo|merge|head`: parse flags and call taskalign.train.{stage}.run (see docs/training.md).

The flags of each training command are the fields of its settings class (SFTSettings, DPOSettings, ...), as TRL's
parser makes them: `--field-name` (plus the aliases in the field's metadata) with the field's default and help. `--config FILE` reads the
same settings from YAML; flags given on the command line override it.
"""

import inspect
from dataclasses import fields
from pathlib import Path

import typer
import yaml
from rich.console import Console

from taskalign.errors import UserError
from taskalign.train import common, dpo, kto, orpo, sft

console = Console()
train_app = typer.Typer(help="Train: capability SFT, alignment DPO / KTO / ORPO, adapter merge.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")


def flag_names(f) -> list[str]:
    """`--field-name` and the field's aliases; a bool field is an on/off pair (`--merge/--no-merge`)."""
    name = "--" + f.name.replace("_", "-")
    if f.type is bool:
        return [f"{name}/{f.metadata.get('negative', '--no-' + name[2:])}"]
    return [name, *f.metadata.get("aliases", ())]


def option(f) -> inspect.Parameter:
    """The command-line option of one settings field; a pass-through block (`--dpo`) takes repeated KEY=VALUE items."""
    if f.type is dict:
        info = typer.Option(None, *flag_names(f), metavar="KEY=VALUE", show_default=False,
                            help=f"{f.metadata['help']} Repeatable; VALUE is read as YAML.")
        return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=list[str] | None)
    info = typer.Option(f.default, *flag_names(f), help=f.metadata["help"])
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=f.type)


def key_values(items: list[str], flag: str) -> dict:
    """{"warmup_steps": 2} from ["warmup_steps=2"]; values are YAML, so lists and numbers keep their types."""
    block = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{flag} {item!r} is not KEY=VALUE; write it like {flag} warmup_steps=2.")
        try:
            block[key.strip()] = yaml.safe_load(value)
        except (yaml.YAMLError, RecursionError):
            raise UserError(f"{flag} {item!r}: the value is not valid YAML; quote it or fix it.") from None
    return block


def settings_command(name: str, stage, settings_class, what: str, doc: str) -> None:
    """Register `train NAME`: --config plus one option per field of settings_class; it calls stage.run."""

    def command(ctx: typer.Context, config: Path | None, **flags) -> None:
        given = {k: v for k, v in flags.items() if ctx.get_parameter_source(k).name == "COMMANDLINE"}
        given = {k: key_values(v, f"--{k}") if isinstance(v, (list, tuple)) else v for k, v in given.items()}
        path = stage.run(stage.load_settings(config, **given), log=console.print)
        console.print(f"[green]{what} saved to {path}[/green] (use --model {path})")
        common.leave_distributed_run()

    config = typer.Option(None, "--config", help=f"YAML file of these settings, keyed by field name (learning_rate: "
                                                 f"...; see configs/{name}.yaml); flags override it.")
    params = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context),
              inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=config, annotation=Path | None)]
    params += [option(f) for f in fields(settings_class)]
    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    train_app.command(name, help=doc)(command)


settings_command("sft", sft, sft.SFTSettings, "SFT model",
                 "Capability SFT: teach a model a domain's tool calls (TRL SFTTrainer + LoRA); --domain DIR for yours.")
settings_command("dpo", dpo, dpo.DPOSettings, "Aligned model",
                 "Alignment DPO on preference pairs (TRL DPOTrainer + LoRA); --loss-type ipo|robust|hinge|...")
settings_command("kto", kto, kto.KTOSettings, "Aligned model",
                 "Alignment KTO on replies labelled desirable/undesirable, or on pairs (TRL KTOTrainer + LoRA).")
settings_command("orpo", orpo, orpo.ORPOSettings, "Aligned model",
                 "Alignment ORPO on preference pairs, no reference model (TRL ORPOTrainer + LoRA).")


@train_app.command()
def merge(
    model: str = typer.Option(..., "--model", help="Base model spec, or an adapter folder that names its base."),
    adapter: Path = typer.Option(None, "--adapter", help="PEFT adapter folder to merge into --model."),
    out: Path = typer.Option(..., "--out", help="Output folder for the merged model."),
):
    """Merge a LoRA adapter into its base model and save a full model folder."""
    from taskalign.train.merge import run

    path = run(model, str(adapter) if adapter else None, out)
    console.print(f"[green]Merged model saved to {path}[/green]")


@train_app.command()
def head(
    model: str = typer.Option(..., "--model", help="The model to fit it for: a model or adapter folder, or a run."),
    out: Path = typer.Option(None, "--out", help="Folder for decision_head.json (default: the model's own folder)."),
    layer: int = typer.Option(13, "--layer", help="Read the state after this many decoder layers."),
    extra_cases: str = typer.Option("builtin:styles,ambiguous", "--extra-cases",
                                    help="Training-only rows besides the train split: a builtin spec (as prefs build "
                                         "takes) or a case file; 'none' for the train split alone."),
    domain: str = typer.Option("taskmaster", "--domain", help="A built-in domain name or a domain folder."),
    precision: str = typer.Option("fast", "--precision", help="fast (bf16 where native) or fp32."),
    refuse_lead: str = typer.Option("I can't", "--refuse-lead",
                                    help="How a reply the head refuses begins."),
    variants: int = typer.Option(0, "--variants", help="Attack-operator variants (encodings, wrappers, structures) "
                                                       "of each training request to fit on as well; 0 for none."),
    act_ban: float = typer.Option(0.0, "--act-ban", help="An act decision bans the refusal and question leads only "
                                                         "at this act probability or above (0: always)."),
):
    """Fit a decision head: refuse / clarify / act, read from the model's own hidden state (taskalign.models.head)."""
    from taskalign.train.head import run

    path = run(model, str(out) if out else None, layer, extra_cases, domain, precision, refuse_lead, variants,
               act_ban, log=console.print)
    console.print(f"[green]Decision head saved to {path}[/green] (redteam and attack apply it; --no-head to compare)")
