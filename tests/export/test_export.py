"""`taskalign export` on a tiny random Llama and hand-written run summaries and pairs: the folder loads with plain
transformers, holds the merged weights and a chat template, its card parses with huggingface_hub, the pairs load with
datasets, a pipeline folder exports its final aligned model, and bad input writes nothing."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from taskalign.domain import system_prompt
from tests.conftest import make_tiny_model

PROMPT = [{"role": "system", "content": "You are TaskMaster."}]


def summary(model: str, attack: float, accuracy: float) -> dict:
    metric = lambda v, n: {"value": v, "n": n, "ci95": [max(0.0, v - 0.1), min(1.0, v + 0.1)]}  # noqa: E731
    return {"schema": "taskalign.summary/1", "model": model, "n_cases": 40, "n_errors": 0, "n_uncertain": 0,
            "metrics": {"attack_success": metric(attack, 30), "task_accuracy": metric(accuracy, 10),
                        "clarification": {"value": None, "n": 0, "ci95": None}},
            "suite_version": "2026.11.1+abcd1234", "split": "test",
            "judge": {"name": "cross", "encoder": "tiny encoder", "heldout_kind": "held-out styles (OOD)",
                      "heldout": {"n": 919, "binary_accuracy": 0.912, "accuracy": 0.887},
                      "harmful_compliance_judged_refusal": {"n": 130, "judged_refusal": 8, "rate": 0.062}}}


def write_run(folder: Path, model: str, attack: float, accuracy: float) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model": model}))
    (folder / "summary.json").write_text(json.dumps(summary(model, attack, accuracy)))
    return folder


def pair(i: int, pair_type: str) -> dict:
    return {"prompt": PROMPT + [{"role": "user", "content": f"request {i}"}],
            "chosen": [{"role": "assistant", "content": "I can't help with that, but I can add a safety task."}],
            "rejected": [{"role": "assistant", "content": f"Done, task {i} created."}],
            "metadata": {"case_id": f"c{i}", "category": "harmful_direct", "intent_id": f"i{i}", "pair_type": pair_type,
                         "source": "run", "harm_category": "stalking", "on_policy": True, "chosen_source": "composed"}}


def write_pairs(path: Path, n: int) -> Path:
    types = ["harmful_refusal", "edge_case_comply", "capability_anchor"]
    path.write_text("".join(json.dumps(pair(i, types[i % 3])) + "\n" for i in range(n)))
    return path


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """A LoRA adapter with random (nonzero) B matrices, so merging changes the weights, and its taskalign note."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("aligned") / "adapter"
    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False, task_type="CAUSAL_LM"))
    peft_model.save_pretrained(out)
    (out / "taskalign_model.json").write_text(json.dumps({"base": str(tiny_model_dir), "kind": "dpo", "merged": False,
                                                          "adapter": ".", "steps": 7}))
    return out


def peft_merged(tiny_model_dir: Path, adapter: Path) -> dict:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    return PeftModel.from_pretrained(base, adapter).merge_and_unload().state_dict()


@pytest.fixture(scope="module")
def exported(adapter_dir, tiny_model_dir, tmp_path_factory):
    """The adapter exported with two runs (base, then its own) and its pairs, through the real command line."""
    from tests.export.conftest import run_cli

    root = tmp_path_factory.mktemp("export")
    runs = [write_run(root / "runs" / "base", str(tiny_model_dir), 0.8, 0.1),
            write_run(root / "runs" / "aligned", str(adapter_dir), 0.25, 0.75)]
    pairs = write_pairs(root / "prefs.jsonl", 5)
    result = run_cli("export", adapter_dir, "--out", root / "out", "--runs", runs[0], "--runs", runs[1],
                     "--prefs-file", pairs, "--base-model", "someone/tiny-llama", "--license", "mit",
                     "--repo", "someone/tiny-aligned")
    assert result.code == 0, result.err
    return root / "out", result


def test_export_loads_with_transformers_and_holds_the_merged_weights(exported, tiny_model_dir, adapter_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, _ = exported
    assert (out / "model.safetensors").is_file()
    model = AutoModelForCausalLM.from_pretrained(out)
    expected, base = peft_merged(tiny_model_dir, adapter_dir), AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    got = model.state_dict()
    assert set(got) == set(expected)
    assert all(torch.allclose(got[k], expected[k], atol=1e-6) for k in expected)
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(got[q], base.state_dict()[q])  # the adapter really was merged in
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.chat_template == AutoTokenizer.from_pretrained(tiny_model_dir).chat_template
    assert "<|im_start|>assistant" in tokenizer.apply_chat_template(PROMPT, tokenize=False, add_generation_prompt=True)
    assert (out / "system_prompt.txt").read_text().strip() == system_prompt().strip()


def test_card_metadata_has_base_license_and_the_model_index_of_its_own_run(exported, adapter_dir):
    from huggingface_hub import ModelCard

    out, result = exported
    card = ModelCard.load(out / "README.md")
    assert card.data.base_model == "someone/tiny-llama" and card.data.license == "mit"
    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "text-generation"
    assert {"taskalign", "dpo", "safety", "tool-calling"} <= set(card.data.tags) and "kto" not in card.data.tags
    assert "preference-trained with DPO" in card.text
    assert card.data.datasets == ["someone/tiny-aligned-prefs"]
    index = card.data.to_dict()["model-index"][0]
    assert index["name"] == "tiny-aligned"
    metrics = {m["type"]: m["value"] for m in index["results"][0]["metrics"]}
    assert metrics == {"attack_success": 0.25, "task_accuracy": 0.75}  # the aligned run's, not the base's; no nulls
    assert index["results"][0]["dataset"]["type"] == "taskalign-redteam"
    # the body: both runs side by side with intervals, the judge's measured accuracy, the pairs, the lineage
    assert "| metric | base | aligned |" in card.text
    assert "0.800 [0.700, 0.900] (n=30)" in card.text and "0.250 [0.150, 0.350] (n=30)" in card.text
    assert "0.887" in card.text and "held-out styles (OOD)" in card.text
    assert "5 pairs" in card.text and "harmful_refusal 2" in card.text
    folder = adapter_dir.parent.name  # an adapter is named by the model folder it belongs to
    assert f"| {folder} | dpo | 7 |" in card.text and "| adapter |" not in card.text
    assert "hf upload someone/tiny-aligned" in result.out


def test_prefs_dataset_loads_with_datasets(exported, tmp_path):
    import datasets
    from huggingface_hub import DatasetCard

    out, _ = exported
    loaded = datasets.load_dataset(str(out / "dataset"), cache_dir=str(tmp_path / "cache"))
    assert loaded["train"].num_rows == 5
    assert loaded["train"][0]["metadata"]["pair_type"] == "harmful_refusal"
    data = DatasetCard.load(out / "dataset" / "README.md").data
    assert data.license == "mit" and data.size_categories == ["n<1K"]
    assert data.configs[0]["data_files"][0]["path"] == "data/train.jsonl"


def test_chat_talks_to_the_export(exported):
    from tests.export.conftest import run_cli

    out, _ = exported
    result = run_cli("chat", "--model", out, "-m", "hi", "--max-new-tokens", "4")
    assert result.code == 0, result.err


def make_pipeline(root: Path, manifest: bool, round_done: bool = True) -> Path:
    """A pipeline folder: two aligned models (different random weights), their runs, pairs per round."""
    models = root / "models"
    make_tiny_model(models / "aligned", seed=3)
    make_tiny_model(models / "aligned_r1", seed=4)
    (models / "aligned" / "taskalign_model.json").write_text(json.dumps({"base": "embedded", "kind": "dpo", "steps": 5}))
    (models / "aligned_r1" / "taskalign_model.json").write_text(
        json.dumps({"base": "/elsewhere/models/aligned", "kind": "dpo", "steps": 2}))  # a pipeline that was moved
    for label, attack in (("base", 0.9), ("aligned", 0.3), ("aligned_r1", 0.2)):
        write_run(root / label, label, attack, 0.8)
    write_pairs(root / "prefs.jsonl", 4)
    (root / "round1").mkdir()
    write_pairs(root / "round1" / "prefs.jsonl", 2)
    (root / "config.json").write_text(json.dumps({"profile": "default", "judge": "cross", "model": "embedded"}))
    if manifest:
        (root / "pipeline.json").write_text(json.dumps({
            "models": {"base": "embedded", "aligned": "models/aligned", "aligned_r1": "models/aligned_r1"},
            "runs": {"base": "base", "aligned": "aligned", "aligned_r1": "aligned_r1"}, "prefs": "prefs.jsonl"}))
    else:
        (root / "stages.json").write_text(json.dumps({"dpo": {"done": True}, "dpo_r1": {"done": round_done}}))
    return root


def same_weights(folder_a: Path, folder_b: Path) -> bool:
    from safetensors.torch import load_file

    a, b = load_file(str(folder_a / "model.safetensors")), load_file(str(folder_b / "model.safetensors"))
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_pipeline_folder_exports_its_final_aligned_model(tmp_path):
    from huggingface_hub import ModelCard

    from tests.export.conftest import run_cli

    pipe = make_pipeline(tmp_path / "pipe", manifest=True)
    result = run_cli("export", pipe, "--out", tmp_path / "out", "--prefs")
    assert result.code == 0, result.err
    assert same_weights(tmp_path / "out", pipe / "models" / "aligned_r1")
    card = ModelCard.load(tmp_path / "out" / "README.md")
    assert card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct" and card.data.license == "apache-2.0"
    assert "| metric | base | aligned | aligned_r1 |" in card.text
    assert "| aligned | dpo | 5 |" in card.text and "| aligned_r1 | dpo | 2 |" in card.text
    assert {m["type"]: m["value"] for m in card.data.to_dict()["model-index"][0]["results"][0]["metrics"]} == \
        {"attack_success": 0.2, "task_accuracy": 0.8}
    rows = [len((tmp_path / "out" / "dataset" / f).read_text().splitlines())
            for f in ("data/train.jsonl", "data/round1/train.jsonl")]
    assert rows == [4, 2]


def test_stopped_pipeline_without_manifest_exports_its_last_finished_model(tmp_path):
    from tests.export.conftest import run_cli

    pipe = make_pipeline(tmp_path / "pipe", manifest=False, round_done=False)
    result = run_cli("export", pipe, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    assert same_weights(tmp_path / "out", pipe / "models" / "aligned")  # round 1's training never finished
    assert "Exported aligned " in result.out


def leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.endswith(".partial")]


@pytest.mark.parametrize("case", ["missing", "not_a_model", "out_not_empty", "no_pairs", "out_is_input"])
def test_bad_input_is_one_sentence_exit_2_and_writes_nothing(case, tmp_path, tiny_model_dir):
    from tests.export.conftest import run_cli

    out = tmp_path / "out"
    model = str(tiny_model_dir)
    extra = []
    if case == "missing":
        model = str(tmp_path / "nowhere")
    elif case == "not_a_model":
        (tmp_path / "notes").mkdir()
        (tmp_path / "notes" / "todo.txt").write_text("hello")
        model = str(tmp_path / "notes")
    elif case == "out_not_empty":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    elif case == "no_pairs":
        extra = ["--prefs"]
    elif case == "out_is_input":
        shutil.copytree(tiny_model_dir, tmp_path / "model")
        model, out, extra = str(tmp_path / "model"), tmp_path / "model", ["--force"]
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli("export", model, "--out", out, *extra)
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0].endswith(".")
    assert sorted(p.name for p in tmp_path.iterdir()) == before and not leftovers(tmp_path)
    if case == "out_not_empty":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
    if case == "out_is_input":
        assert (out / "model.safetensors").is_file()


def test_force_replaces_and_a_crash_mid_write_leaves_nothing(tmp_path, tiny_model_dir, monkeypatch):
    from taskalign.export import card
    from tests.export.conftest import run_cli

    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")

    def broken(info):
        raise RuntimeError("disk full")

    monkeypatch.setattr(card, "model_card", broken)
    with pytest.raises(RuntimeError):
        run_cli("export", tiny_model_dir, "--out", out, "--force")
    assert [p.name for p in out.iterdir()] == ["old.txt"] and not leftovers(tmp_path)
    monkeypatch.undo()
    result = run_cli("export", tiny_model_dir, "--out", out, "--force")
    assert result.code == 0, result.err
    assert not (out / "old.txt").exists() and (out / "config.json").is_file()
    assert "No evaluation was attached" in (out / "README.md").read_text()
    assert "licence is unknown" in result.out and "license: other" in (out / "README.md").read_text()


def test_the_card_names_the_preference_method_the_model_was_trained_with():
    from huggingface_hub import ModelCard

    from taskalign.export import card

    chain = [{"name": "aligned", "kind": "kto", "steps": 237, "settings": {"learning_rate": 0.0035}},
             {"name": "sft", "kind": "sft", "steps": 35, "settings": {}}, {"name": "embedded", "kind": "base"}]
    info = {"name": "tm-kto", "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct", "license": "apache-2.0",
            "license_known": True, "runs": {}, "own_run": None, "chain": chain, "prefs": [], "dataset_id": None,
            "settings": {"profile": "default", "judge": "cross", "method": "kto"}, "pipeline": True}
    parsed = ModelCard(card.model_card(info))
    assert "kto" in parsed.data.tags and "dpo" not in parsed.data.tags
    assert "preference-trained with KTO" in parsed.text and "KTO teaches judgement" in parsed.text
