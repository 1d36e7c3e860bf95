"""Shipped configs parse, name real settings, and the docs launch the right module."""

from pathlib import Path

import yaml

from taskalign.train import dpo

ROOT = Path(__file__).resolve().parents[2]


def test_example_dpo_yaml_loads_with_known_keys():
    settings = dpo.load_settings(ROOT / "configs" / "dpo.yaml")
    assert settings.beta == 0.1 and settings.dpo["warmup_steps"] == 1


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
