"""Shipped configs parse and name real settings; every training setting is a flag and a YAML key with one default."""

import sys
from dataclasses import MISSING, fields
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from taskalign import cli
from taskalign.errors import UserError
from taskalign.train import dpo, kto, orpo, sft

ROOT = Path(__file__).resolve().parents[2]
STAGES = {"sft": sft, "dpo": dpo, "kto": kto, "orpo": orpo}
CLASSES = {"sft": sft.SFTSettings, "dpo": dpo.DPOSettings, "kto": kto.KTOSettings, "orpo": orpo.ORPOSettings}
FIELDS = [pytest.param(kind, f, id=f"{kind}.{f.name}") for kind, cls in CLASSES.items() for f in fields(cls)]
runner = CliRunner()


def default(f):
    return f.default_factory() if f.default is MISSING else f.default


def other_value(f):
    """A value of f's type that is not its default."""
    value = default(f)
    if f.type is bool:
        return not value
    if f.type is dict:
        return {"warmup_steps": 3}
    if f.type in (int, float):
        return value + (3 if f.type is int else 0.25)
    return f"other-{f.name}"


def as_flags(f, value) -> list[str]:
    name = "--" + f.name.replace("_", "-")
    if f.type is bool:
        return [name if value else "--no-" + name[2:]] if f.name != "full" else ["--full" if value else "--lora"]
    if f.type is dict:
        return [arg for key, v in value.items() for arg in (name, f"{key}={v}")]
    return [name, str(value)]


@pytest.fixture
def train(monkeypatch, tmp_path):
    """Invoke `taskalign train KIND ARGS` with the stage's run() replaced by a recorder; returns the settings."""
    def invoke(kind: str, *args: str):
        seen = []
        monkeypatch.setattr(STAGES[kind], "run", lambda settings, log=None: seen.append(settings) or tmp_path)
        result = runner.invoke(cli.app, ["train", kind, *args])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code == 0, result.output
        return seen[0]
    return invoke


def test_example_dpo_yaml_loads_with_known_keys():
    settings = dpo.load_settings(ROOT / "configs" / "dpo.yaml")
    assert settings.beta == 0.1 and settings.dpo["warmup_steps"] == 1


@pytest.mark.parametrize("kind, f", FIELDS)
def test_every_setting_is_a_flag(train, kind, f):
    value = other_value(f)
    settings = train(kind, *as_flags(f, value))
    assert getattr(settings, f.name) == value
    assert all(getattr(settings, g.name) == default(g) for g in fields(settings) if g.name != f.name)


@pytest.mark.parametrize("kind, f", FIELDS)
def test_every_setting_is_a_yaml_key(tmp_path, kind, f):
    config = tmp_path / f"{kind}.yaml"
    config.write_text(yaml.safe_dump({f.name: other_value(f)}))
    assert getattr(STAGES[kind].load_settings(config), f.name) == other_value(f)


@pytest.mark.parametrize("kind, f", FIELDS)
def test_every_setting_is_in_the_example_config_at_its_default(kind, f):
    example = yaml.safe_load((ROOT / "configs" / f"{kind}.yaml").read_text())
    assert f.name in example, f"configs/{kind}.yaml lacks {f.name}"
    if f.type is not dict:
        assert example[f.name] == default(f), f"configs/{kind}.yaml: {f.name} differs from {CLASSES[kind].__name__}"


@pytest.mark.parametrize("kind, f", FIELDS)
def test_help_shows_the_dataclass_default_and_help(kind, f):
    command = typer.main.get_command(cli.app).commands["train"].commands[kind]
    option = next(p for p in command.params if p.name == f.name)
    assert f.metadata["help"] in option.help
    if f.type is not dict:
        assert option.default == default(f)


def test_rendered_help_lists_flags_with_their_defaults():
    result = runner.invoke(cli.app, ["train", "dpo", "--help"], env={"COLUMNS": "250"})
    lines = {line.split()[1]: line for line in result.output.splitlines() if line.startswith("│ --")}
    assert "[default: 0.1]" in lines["--beta"] and "[default: 5e-05]" in lines["--learning-rate,--lr"]
    assert "--lora" in lines["--full"] and "[default: merge]" in lines["--merge"]
    sft_help = runner.invoke(cli.app, ["train", "sft", "--help"], env={"COLUMNS": "250"}).output
    assert "--n-generated,--n" in sft_help and "[default: 600]" in sft_help and "--config" in sft_help


def test_the_flag_names_users_know_still_work(train):
    settings = train("sft", "--lr", "3e-4", "--n", "12", "--lora-r", "4", "--epochs", "2", "--batch-size", "2",
                     "--max-length", "256", "--no-merge", "--max-steps", "5", "--data", "d.jsonl")
    assert (settings.learning_rate, settings.n_generated, settings.lora_r, settings.epochs, settings.batch_size,
            settings.max_length, settings.merge, settings.max_steps, settings.data) == (
        3e-4, 12, 4, 2.0, 2, 256, False, 5, "d.jsonl")
    settings = train("dpo", "--learning-rate", "1e-5", "--full", "--sft-weight", "0.5", "--report-to", "tensorboard")
    assert (settings.learning_rate, settings.full, settings.sft_weight, settings.report_to) == (
        1e-5, True, 0.5, "tensorboard")
    assert train("dpo", "--lr", "2e-5").learning_rate == 2e-5


@pytest.mark.parametrize("kind", CLASSES)
def test_flags_override_the_config_file(train, tmp_path, kind):
    config = tmp_path / f"{kind}.yaml"
    config.write_text(f"learning_rate: 1e-3\nlora_r: 8\nseed: 4\n{kind}:\n  gradient_accumulation_steps: 2\n")
    settings = train(kind, "--config", str(config), "--lr", "2e-3", "--seed", "0", f"--{kind}", "warmup_steps=3")
    assert (settings.learning_rate, settings.lora_r, settings.seed) == (2e-3, 8, 0)  # 1e-3: YAML 1.1 reads a string
    assert getattr(settings, kind) == {"gradient_accumulation_steps": 2, "warmup_steps": 3}


@pytest.mark.parametrize("kind", CLASSES)
def test_an_unknown_config_key_is_one_sentence_exit_2(tmp_path, monkeypatch, capsys, kind):
    config = tmp_path / "bad.yaml"
    config.write_text("learning_rat: 1.0e-4\n")
    monkeypatch.setattr(sys, "argv", ["taskalign", "train", kind, "--config", str(config)])
    monkeypatch.setattr(STAGES[kind], "run", lambda *a, **k: pytest.fail("trained despite a bad config"))
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1
    assert f"{config}: unknown setting 'learning_rat' (did you mean 'learning_rate'?)" in err


def test_bad_values_and_items_are_user_errors(tmp_path, train):
    config = tmp_path / "dpo.yaml"
    config.write_text("beta: high\n")
    with pytest.raises(UserError, match="beta must be a number"):
        dpo.load_settings(config)
    with pytest.raises(UserError, match="not KEY=VALUE"):
        train("dpo", "--dpo", "warmup_steps")
    with pytest.raises(UserError, match="sft.warmup_stepz is not a trl.SFTConfig field"):
        train("sft", "--sft", "warmup_stepz=1")


def test_pipeline_profiles_build_settings_and_restate_no_default():
    profiles = yaml.safe_load((ROOT / "taskalign" / "pipeline.yaml").read_text())
    for name, profile in profiles.items():
        for kind, cls in CLASSES.items():
            STAGES[kind].load_settings(None, **profile[kind])
            restated = {k for k, v in profile[kind].items() if v == default(next(f for f in fields(cls) if f.name == k))}
            assert not restated, f"pipeline.yaml {name}.{kind} restates defaults {restated}"


def test_pipeline_config_with_an_unknown_training_key_names_the_file(tmp_path):
    from taskalign.pipeline import PipelineConfig, load_settings

    config = tmp_path / "p.yaml"
    config.write_text("dpo: {lr: 1.0e-3}\n")
    with pytest.raises(UserError, match=rf"{config}, section dpo: unknown setting 'lr'"):
        load_settings(PipelineConfig(out=str(tmp_path), config=str(config)))


def test_accelerate_configs_parse():
    zero3 = yaml.safe_load((ROOT / "configs/accelerate/zero3.yaml").read_text())
    fsdp = yaml.safe_load((ROOT / "configs/accelerate/fsdp.yaml").read_text())
    assert zero3["distributed_type"] == "DEEPSPEED" and zero3["deepspeed_config"]["zero_stage"] == 3
    assert fsdp["distributed_type"] == "FSDP" and fsdp["fsdp_config"]["fsdp_version"] == 2


def test_docs_launch_the_taskalign_module():
    docs = (ROOT / "docs" / "training.md").read_text()
    for name in ("zero3", "fsdp"):
        assert f"accelerate launch --config_file configs/accelerate/{name}.yaml -m taskalign train dpo" in docs
    import importlib.util

    assert importlib.util.find_spec("taskalign.__main__") is not None  # what `-m taskalign` runs


@pytest.mark.parametrize("kind", CLASSES)
@pytest.mark.parametrize("text, message", [
    ("max_steps: 1.5\n", "max_steps must be a whole number, not 1.5"),
    ("learning_rate: .nan\n", "learning_rate must be a number, not nan"),
    ("seed: [1]\n", "seed must be a whole number, not [1]"),
    ("merge: 'yes'\n", "merge must be true or false, not 'yes'"),
    ("lora_r: 8\nseed: [1\n", "line 2: expected ',' or ']'"),
    ("- lora_r: 8\n", "must be a YAML mapping (key: value lines), not a list"),
    ("lora_r: " + "[" * 100_000 + "]" * 100_000 + "\n", "is nested too deeply"),
])
def test_bad_config_values_fail_before_training_exit_2(cli, tmp_path, monkeypatch, kind, text, message):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    monkeypatch.setattr(STAGES[kind], "run", lambda *a, **k: pytest.fail("trained despite a bad config"))
    result = cli("train", kind, "--config", config)
    assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize("kind, row", [
    ("sft", {"messages": [["user", "hi"], ["assistant", "ok"]]}),
    ("sft", {"messages": [None, None]}),
    ("dpo", {"prompt": [{"role": "user", "content": "hi"}], "chosen": [None],
             "rejected": [{"role": "assistant", "content": "no"}]}),
    ("dpo", {"prompt": "hi", "chosen": [], "rejected": []}),
])
def test_bad_conversations_fail_before_a_model_loads_or_output_is_written(cli, tmp_path, write_jsonl, monkeypatch,
                                                                         kind, row):
    from taskalign.train import common

    monkeypatch.setattr(common, "load_for_training", lambda *a, **k: pytest.fail("loaded a model for bad data"))
    data = write_jsonl("data.jsonl", [row])
    result = cli("train", kind, "--data", data, "--out", tmp_path / "out")
    assert result.code == 2 and f"{data} line 1: " in result.err and len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
