"""The whole pipeline on a tiny random model with the smallest settings; a second run skips every cached stage."""

import json
from pathlib import Path

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
    "orpo": {"max_steps": 2, "batch_size": 2, "lora_r": 4, "max_length": 1024},
}


@pytest.mark.slow
def test_pipeline_end_to_end_then_cached(tmp_path, tiny_model_dir, monkeypatch):
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

    # An upgrade that changes only the training code reruns DPO (and SFT, and what follows them), not the base red-team.
    import taskalign.pipeline as pipeline
    real = pipeline.source_digest
    monkeypatch.setattr(pipeline, "source_digest", lambda parts: real(parts) + ("-new" if "train" in parts else ""))
    run(config)
    stages_after = json.loads((out / "stages.json").read_text())
    assert stages_after["redteam_base"] == stages_before["redteam_base"]
    for stage in ("sft", "redteam_sft", "dpo", "redteam_aligned"):
        assert stages_after[stage]["fingerprint"] != stages_before[stage]["fingerprint"], stage
    assert weights.stat().st_mtime_ns != mtime

    # Another method on the same folder reuses every stage before training and trains and evaluates a new model.
    monkeypatch.setattr(pipeline, "source_digest", real)
    run(config)
    shared = json.loads((out / "stages.json").read_text())
    run(PipelineConfig(**{**config.__dict__, "method": "orpo"}))
    stages = json.loads((out / "stages.json").read_text())
    for stage in ("redteam_base", "sft", "redteam_sft", "redteam_sft_train", "prefs"):
        assert stages[stage] == shared[stage], stage
    assert stages["redteam_aligned"]["fingerprint"] != shared["redteam_aligned"]["fingerprint"]
    assert json.loads((out / "models" / "aligned" / "taskalign_model.json").read_text())["kind"] == "orpo"
    assert json.loads((out / "pipeline.json").read_text())["method"] == "orpo"
    with pytest.raises(UserError, match="Unknown --method 'ppo'"):
        run(PipelineConfig(**{**config.__dict__, "method": "ppo"}))


@pytest.mark.slow
def test_rounds_attack_the_model_just_trained_and_adaptive_asr_joins_the_metrics(tmp_path, tiny_model_dir):
    config_path = tmp_path / "tiny.yaml"
    rounds = {"budget": 2, "variants_limit": 8, "max_new_tokens": 8, "anchors": 2, "max_pairs": None, "replay": 3}
    config_path.write_text(yaml.safe_dump({"model": str(tiny_model_dir), **TINY, "rounds": rounds,
                                           "attack": {"budget": 2, "limit": 3, "max_new_tokens": 8},
                                           "head": {"layer": 1, "extra_cases": "none", "precision": "fp32"}}))
    out = run(PipelineConfig(out=str(tmp_path / "r"), profile="quick", config=str(config_path), judge="rules",
                             rounds=1))
    stages = json.loads((out / "stages.json").read_text())
    for stage in ("head", "attack_train_r1", "variants_r1", "prefs_r1", "dpo_r1", "head_r1", "redteam_aligned_r1",
                  "compare_r1", "attack_base", "attack_sft", "attack_aligned_r1"):
        assert stages[stage]["done"], stage
    # Each trained model gets its own decision head, fitted before anything red-teams it.
    from taskalign.models.head import FILE

    assert (out / "models" / "aligned" / FILE).is_file() and (out / "models" / "aligned_r1" / FILE).is_file()
    assert (out / "models" / "sft" / FILE).exists() is False
    # The round starts from the model the first DPO made, and attacks it on train intents only.
    trained = json.loads((out / "models" / "aligned_r1" / "train_config.json").read_text())
    assert trained["model"] == str(out / "models" / "aligned")
    attempts = [json.loads(line) for line in (out / "round1" / "attack_train" / "attempts.jsonl").read_text().splitlines()]
    from taskalign.suite import load_intents

    train_ids = {i["id"] for i in load_intents() if i["split"] == "train"}
    assert attempts and {a["intent_id"] for a in attempts} <= train_ids
    assert all(a["transcript"]["case"]["split"] == "train" for a in attempts)
    # Its pairs come from the cases of its two runs (the tiny model's replies are too short to be on-policy here;
    # tests/attack/test_search.py checks on-policy pairs from attack failures).
    pairs = [json.loads(line) for line in (out / "round1" / "prefs.jsonl").read_text().splitlines()]
    case_ids = {p["metadata"]["case_id"] for p in pairs}
    assert any(c.startswith("attack/") for c in case_ids) and any(c.startswith("variant/") for c in case_ids)
    # replay: 3 of the first pair file's benign look-alike pairs join them as they were there (as many as it has).
    first = [json.loads(line) for line in (out / "prefs.jsonl").read_text().splitlines()]
    look_alikes = [p for p in first if p["metadata"]["pair_type"] == "edge_case_comply"]
    replayed = [p for p in pairs if p in look_alikes]
    assert look_alikes and len(replayed) == min(3, len(look_alikes))
    # The adaptive ASR on test intents sits beside the static metrics of base, SFT and the final model.
    results = json.loads((out / "results.json").read_text())
    assert set(results["attack_success"]) == {"base", "sft", "aligned", "aligned_r1"}
    adaptive = results["adaptive_attack_success"]
    assert adaptive["aligned"] is None and all(isinstance(adaptive[k], float) for k in ("base", "sft", "aligned_r1"))
    test_ids = {i["id"] for i in load_intents() if i["split"] == "test"}
    for label in ("base", "sft", "aligned_r1"):
        rows = (out / f"attack_{label}" / "attempts.jsonl").read_text().splitlines()
        assert {json.loads(r)["intent_id"] for r in rows} <= test_ids
    assert (out / "round1" / "compare.html").is_file()
    assert "adaptive_attack_success" in (out / "compare.md").read_text()
    assert "adaptive_attack_success" in (out / "aligned_r1" / "report.md").read_text()


def test_unknown_profile_and_config_key_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="profile"):
        load_settings(PipelineConfig(out=str(tmp_path), profile="huge"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("dpoo: {beta: 0.2}\n")
    with pytest.raises(UserError, match="dpoo"):
        load_settings(PipelineConfig(out=str(tmp_path), config=str(bad)))


def test_source_digest_follows_code_and_data_but_not_bytecode(tmp_path):
    from taskalign.pipeline import STAGE_CODE, source_digest

    (tmp_path / "prefs" / "data").mkdir(parents=True)
    (tmp_path / "prefs" / "build.py").write_text("BALANCE = 1.0\n")
    (tmp_path / "prefs" / "data" / "refusals.json").write_text('{"refusals": ["I can\'t help with that."]}')
    (tmp_path / "errors.py").write_text("class UserError(Exception): ...\n")
    parts = ("errors.py", "prefs")
    before = source_digest(parts, tmp_path)
    assert source_digest(parts, tmp_path) == before and len(before) == 16
    (tmp_path / "prefs" / "__pycache__").mkdir()
    (tmp_path / "prefs" / "__pycache__" / "build.cpython-312.pyc").write_bytes(b"\x00")
    assert source_digest(parts, tmp_path) == before  # bytecode appears on first import; it must not rerun stages
    (tmp_path / "prefs" / "data" / "refusals.json").write_text('{"refusals": ["I won\'t help with that."]}')
    after_data = source_digest(parts, tmp_path)
    (tmp_path / "prefs" / "build.py").write_text("BALANCE = 1.4\n")
    after_code = source_digest(parts, tmp_path)
    (tmp_path / "errors.py").write_text("class UserError(ValueError): ...\n")
    assert len({before, after_data, after_code, source_digest(parts, tmp_path)}) == 4
    # The package's own: each stage's digest covers its own subpackage.
    assert all(stage in parts for stage, parts in STAGE_CODE.items() if stage != "compare")


def test_package_digest_depends_on_content_not_location_and_changes_only_stages_that_run_the_file(tmp_path):
    import shutil

    from taskalign.pipeline import PACKAGE, STAGE_CODE, source_digest

    copy = shutil.copytree(PACKAGE, tmp_path / "taskalign", ignore=shutil.ignore_patterns("__pycache__"))
    before = {stage: source_digest(parts, copy) for stage, parts in STAGE_CODE.items()}
    assert before == {stage: source_digest(parts) for stage, parts in STAGE_CODE.items()}  # a fresh checkout reuses
    with open(copy / "report" / "templates" / "report.md.j2", "a") as f:
        f.write("{# an edited report template #}\n")
    after = {stage: source_digest(parts, copy) for stage, parts in STAGE_CODE.items()}
    changed = {stage for stage in STAGE_CODE if after[stage] != before[stage]}
    assert changed == {stage for stage, parts in STAGE_CODE.items() if "report" in parts}


def test_stage_code_lists_every_taskalign_module_a_stage_imports():
    """STAGE_CODE is kept by hand; following each entry subpackage's imports (lazy ones too) must stay inside it."""
    import ast

    from taskalign.pipeline import PACKAGE, STAGE_CODE

    def imported(part: str) -> set[str]:
        path = PACKAGE / part
        names = set()
        for file in [path] if path.is_file() else path.rglob("*.py"):
            for node in ast.walk(ast.parse(file.read_text())):
                modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [])
                for module in modules:
                    if module.startswith("taskalign."):
                        top = module.split(".")[1]
                        names.add(top if (PACKAGE / top).is_dir() else f"{top}.py")
        return names

    for stage, entry in {"redteam": "redteam", "train": "train", "prefs": "prefs", "compare": "report"}.items():
        seen, todo = set(), [entry]
        while todo:
            part = todo.pop()
            if part not in seen:
                seen.add(part)
                todo += imported(part)
        assert seen <= set(STAGE_CODE[stage]), (stage, sorted(seen - set(STAGE_CODE[stage])))


@pytest.mark.parametrize("text, message", [
    ("sft: 5\n", "section 'sft' must be a mapping of settings"),
    ("base_eval: {limit: abc}\n", "section base_eval: limit must be a whole number or null, not 'abc'"),
    ("eval: {categories: [1]}\n", "section eval: categories must be a list of strings or null"),
    ("eval: {judge: rules}\n", "section eval: unknown setting 'judge'"),
    ("prefs: {balance: high}\n", "section prefs: balance must be a number, not 'high'"),
    ("prefs: {weights: {harmful_direct: many}}\n", "weights must be a mapping of strings to whole numbers"),
    ("dpo: {beta: abc}\n", "section dpo: beta must be a number, not 'abc'"),
    ("model: [embedded]\n", "model must be a model spec (a string)"),
    ("- eval\n", "must be a YAML mapping"),
    ("eval:\n  limit: 4\n  split: [test\n", "line 3: expected ',' or ']'"),
    ("eval: " + "[" * 100_000 + "]" * 100_000 + "\n", "nested too deeply"),
])
def test_a_bad_pipeline_config_is_one_sentence_before_anything_is_written(cli, tmp_path, text, message):
    config = tmp_path / "p.yaml"
    config.write_bytes(text.encode())
    result = cli("pipeline", "--config", config, "--profile", "quick", "--out", tmp_path / "demo")
    assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "demo").exists()


def test_pipeline_config_values_are_typed_as_the_stages_take_them(tmp_path):
    config = tmp_path / "p.yaml"
    config.write_text("eval: {categories: [harmful_direct], limit: 4}\nprefs: {balance: 2, weights: {a: 3}}\nsft:\n")
    settings = load_settings(PipelineConfig(out=str(tmp_path), profile="quick", config=str(config)))
    assert settings["eval"]["categories"] == ("harmful_direct",) and settings["prefs"]["balance"] == 2.0
    assert settings["sft"]["n_generated"] == 40  # an empty section keeps the profile's


@pytest.mark.slow
def test_pipeline_on_another_domain_uses_its_suite_sft_and_pairs_and_reruns_when_its_files_change(tmp_path,
                                                                                                   tiny_model_dir):
    import shutil

    domain = tmp_path / "mailbot"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "domains" / "mailbot", domain)
    intents = {json.loads(line)["id"] for line in (domain / "intents.jsonl").read_text().splitlines()}
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump({"model": str(tiny_model_dir), **TINY}))
    config = PipelineConfig(out=str(tmp_path / "mb"), profile="quick", config=str(config_path), judge="rules",
                            domain=str(domain))
    out = run(config)
    for run_dir in ("base", "sft", "sft_train", "aligned"):
        assert json.loads((out / run_dir / "config.json").read_text())["domain"] == "mailbot", run_dir
        cases = [json.loads(line)["case"] for line in (out / run_dir / "transcripts.jsonl").read_text().splitlines()]
        harmful = [c for c in cases if c.get("intent_id")]
        assert all(c["intent_id"] in intents for c in harmful), run_dir
    sft_rows = [json.loads(line) for line in (out / "models" / "sft" / "sft_data.jsonl").read_text().splitlines()]
    assert sft_rows and all("Mailbot" in r["messages"][0]["content"] for r in sft_rows)
    pairs = [json.loads(line) for line in (out / "prefs.jsonl").read_text().splitlines()]
    assert pairs and all("Mailbot" in p["prompt"][0]["content"] and "TaskMaster" not in p["prompt"][0]["content"]
                         for p in pairs)
    assert json.loads((out / "config.json").read_text())["domain"] == str(domain)
    before = json.loads((out / "stages.json").read_text())

    persona = domain / "persona.md"
    persona.write_text(persona.read_text() + "\nKeep replies short.\n")  # an edit to the domain reruns its stages
    run(config)
    after = json.loads((out / "stages.json").read_text())
    for stage in ("redteam_base", "sft", "prefs", "dpo", "redteam_aligned"):
        assert after[stage]["fingerprint"] != before[stage]["fingerprint"], stage


def test_adaptive_rounds_on_another_domain_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(UserError, match="TaskMaster domain only"):
        load_settings(PipelineConfig(out=str(tmp_path / "r"), profile="robust",
                                     domain=str(Path(__file__).resolve().parents[2] / "examples/domains/mailbot")))


def test_a_profile_without_a_head_removes_one_an_earlier_run_fitted(tmp_path):
    from taskalign.models.head import FILE
    from taskalign.pipeline import Stages, _head

    model = tmp_path / "models" / "aligned"
    model.mkdir(parents=True)
    (model / FILE).write_text("{}")
    assert _head(Stages(tmp_path), "head", model, {"layer": 0}, "code", "dpo", "taskmaster") == ("dpo",)
    assert not (model / FILE).exists()


def test_precision_option_sets_every_stage_that_loads_a_model(tmp_path):
    from taskalign.pipeline import PRECISION_SECTIONS

    settings = load_settings(PipelineConfig(out=str(tmp_path), profile="robust", precision="fp32"))
    assert {key: settings[key]["precision"] for key in PRECISION_SECTIONS} == dict.fromkeys(PRECISION_SECTIONS, "fp32")
    assert load_settings(PipelineConfig(out=str(tmp_path)))["dpo"]["precision"] == "fast"  # the profile's, untouched
    with pytest.raises(UserError, match="--precision 'fp16'"):
        load_settings(PipelineConfig(out=str(tmp_path), precision="fp16"))
