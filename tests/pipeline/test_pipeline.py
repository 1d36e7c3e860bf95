"""The whole pipeline on a tiny random model with the smallest settings; a second run skips every cached stage."""

import json

import pytest
import yaml

from taskalign.errors import UserError
from taskalign.models import resolve_hf
from taskalign.pipeline import PipelineConfig, load_settings, run

TINY = {
    "sft": {"n_generated": 8, "max_steps": 2, "batch_size": 4, "lora_r": 4, "max_length": 1024},
    "eval": {"split": "test", "limit": 6, "max_new_tokens": 8, "batch_size": 8},
    "base_eval": {"split": "test", "limit": 4, "max_new_tokens": 8, "batch_size": 8},
    "prefs_eval": {"split": "train", "limit": 12, "max_new_tokens": 8, "batch_size": 8},
    "prefs": {"max_pairs": 8},
    "dpo": {"max_steps": 2, "batch_size": 2, "lora_r": 4, "max_length": 1024},
}


@pytest.mark.slow
def test_pipeline_end_to_end_then_cached(tmp_path, tiny_model_dir):
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump({"model": str(tiny_model_dir), **TINY}))
    config = PipelineConfig(out=str(tmp_path / "demo"), profile="quick", config=str(config_path), judge="rules")
    out = run(config)
    manifest = json.loads((out / "pipeline.json").read_text())
    assert set(manifest["models"]) == {"base", "sft", "aligned"}
    for label, run_dir in manifest["runs"].items():
        summary = json.loads((out / run_dir / "summary.json").read_text())
        assert summary["n_cases"] > 0, label
    assert (out / manifest["models"]["aligned"] / "config.json").is_file()  # a merged folder --model accepts
    # `--model runs/demo/aligned` (the red-team run) stands for the model it evaluated.
    assert resolve_hf(str(out / "aligned"))[0] == str((out / "models" / "aligned").resolve())
    assert (out / manifest["prefs"]).read_text().strip() and (out / manifest["report"]).is_file()
    assert set(json.loads((out / "results.json").read_text())["attack_success"]) == {"base", "sft", "aligned"}
    stages_before = json.loads((out / "stages.json").read_text())
    weights = out / "models" / "aligned" / "model.safetensors"
    mtime = weights.stat().st_mtime_ns

    run(config)  # nothing changed: every stage is skipped
    assert weights.stat().st_mtime_ns == mtime
    assert json.loads((out / "stages.json").read_text()) == stages_before


def test_unknown_profile_and_config_key_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="profile"):
        load_settings(PipelineConfig(out=str(tmp_path), profile="huge"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("dpoo: {beta: 0.2}\n")
    with pytest.raises(UserError, match="dpoo"):
        load_settings(PipelineConfig(out=str(tmp_path), config=str(bad)))


def test_data_digest_changes_when_a_data_file_changes(tmp_path):
    from taskalign.pipeline import data_digest

    (tmp_path / "refusals.json").write_text('{"refusals": ["I can\'t help with that."]}')
    before = data_digest((tmp_path,))
    assert data_digest((tmp_path,)) == before and len(before) == 16
    (tmp_path / "refusals.json").write_text('{"refusals": ["I won\'t help with that."]}')
    assert data_digest((tmp_path,)) != before
    assert data_digest() == data_digest()  # the package's own data: stable between calls
