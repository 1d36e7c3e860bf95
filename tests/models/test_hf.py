"""Hugging Face backend on tiny random Llamas: batching, order, EOS and token counts (both engines), PEFT adapters,
user errors.

    .venv/bin/python -m pytest tests/models/test_hf.py -q
"""

import json
import shutil

import pytest

from taskalign.errors import UserError
from taskalign.models import GenerationConfig, load_model
from taskalign.models.hf import HFModel


def _texts(model, conversations, **config):
    return [r.text for r in model.generate(conversations, GenerationConfig(**config))]


@pytest.mark.parametrize("engine", ["prefix", "plain"])
def test_batched_left_padded_generation_matches_one_at_a_time_in_input_order(lively_model_dir, conversations,
                                                                               reference, engine):
    # fp32: in bf16, padding changes the rounding, so batched and single greedy replies may part on near-ties.
    model = load_model(str(lively_model_dir), precision="fp32", engine=engine)
    batched = _texts(model, conversations, max_new_tokens=16, batch_size=4)  # two batches, reordered by length inside
    singles = [_texts(model, [c], max_new_tokens=16)[0] for c in conversations]
    assert batched == singles
    assert batched == [text for text, _, _ in reference(lively_model_dir, 16)]
    assert len(set(batched)) >= 4, "the fixture model must answer different prompts differently for this to mean anything"


def test_max_new_tokens_and_token_counts(lively_model_dir, conversations):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(lively_model_dir)
    replies = load_model(str(lively_model_dir)).generate(conversations, GenerationConfig(max_new_tokens=5, batch_size=8))
    assert len(replies) == len(conversations)
    assert any(r.finish_reason == "length" for r in replies)
    for conv, reply in zip(conversations, replies):
        prompt = tok.apply_chat_template(conv, add_generation_prompt=True, return_dict=True)["input_ids"]
        assert reply.prompt_tokens == len(prompt)  # padding is not counted
        assert 1 <= reply.completion_tokens <= 5
        assert reply.finish_reason in (("length", "stop") if reply.completion_tokens == 5 else ("stop",))
        assert reply.error is None and reply.latency_s > 0


@pytest.mark.parametrize("engine", ["prefix", "plain"])
def test_generation_stops_at_eos_and_counts_tokens_up_to_it(stopping_model_dir, conversations, reference, engine):
    model = load_model(str(stopping_model_dir), precision="fp32", engine=engine)  # the reference is fp32 (see above)
    batched = model.generate(conversations, GenerationConfig(max_new_tokens=16, batch_size=8))
    expected = reference(stopping_model_dir, 16)
    got = [(r.text, r.completion_tokens, r.finish_reason == "stop") for r in batched]
    assert got == expected
    assert {stopped for _, _, stopped in expected} == {True, False}, "fixture must mix early stops and full lengths"
    singles = [model.generate([c], GenerationConfig(max_new_tokens=16))[0] for c in conversations]
    assert [(r.text, r.completion_tokens) for r in singles] == [(t, n) for t, n, _ in expected]


def test_adapter_changes_output_and_loads_from_its_own_folder(lively_model_dir, lora_dir, conversations):
    from peft import PeftModel

    base = _texts(load_model(str(lively_model_dir)), conversations[:3], max_new_tokens=12)
    explicit = load_model(str(lively_model_dir), adapter=str(lora_dir))
    assert isinstance(explicit.model, PeftModel)
    adapted = _texts(explicit, conversations[:3], max_new_tokens=12)
    assert adapted != base
    by_folder = load_model(str(lora_dir))  # the adapter names its base in adapter_config.json
    assert isinstance(by_folder.model, PeftModel) and by_folder.spec == str(lora_dir)
    assert _texts(by_folder, conversations[:3], max_new_tokens=12) == adapted


def test_adapter_for_another_architecture_is_a_user_error(lively_model_dir, lora_dir, tmp_path):
    wrong = tmp_path / "wrong-targets"
    shutil.copytree(lora_dir, wrong)
    config = json.loads((wrong / "adapter_config.json").read_text())
    config["target_modules"] = ["c_attn"]  # GPT-2 module names: nothing to attach to in a Llama
    (wrong / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="does not match the model"):
        load_model(str(lively_model_dir), adapter=str(wrong))


def test_adapter_with_other_shapes_is_a_user_error(lively_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(lively_model_dir)
    config.hidden_size, config.intermediate_size = 64, 128
    peft = get_peft_model(AutoModelForCausalLM.from_config(config), LoraConfig(r=4, target_modules=["q_proj"]))
    peft.save_pretrained(tmp_path / "big")
    with pytest.raises(UserError, match="does not match the model"):
        load_model(str(lively_model_dir), adapter=str(tmp_path / "big"))


def test_adapter_folder_problems_are_user_errors(lively_model_dir, lora_dir, tmp_path):
    with pytest.raises(UserError, match="no adapter_config.json"):
        load_model(str(lively_model_dir), adapter=str(tmp_path))
    with pytest.raises(UserError, match="itself an adapter folder"):
        load_model(str(lora_dir), adapter=str(lora_dir))
    orphan = tmp_path / "orphan"
    shutil.copytree(lora_dir, orphan)
    config = json.loads((orphan / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = None
    (orphan / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="does not name its base model"):
        load_model(str(orphan))


@pytest.mark.parametrize("spec", ["nonsense", "./no/such/folder", "/no/such/folder", "a/b/c", "ollama:llama3"])
def test_unknown_specs_and_missing_folders_are_user_errors(spec):
    with pytest.raises(UserError) as info:
        load_model(spec)
    assert "\n" not in str(info.value)


def test_folders_without_a_model_are_user_errors(tiny_model_dir, tmp_path):
    with pytest.raises(UserError, match="no config.json"):
        load_model(str(tmp_path))
    (tmp_path / "config.json").write_text((tiny_model_dir / "config.json").read_text())  # config but no weights
    with pytest.raises(UserError, match="Could not load"):
        load_model(str(tmp_path))


def test_hub_id_that_cannot_be_fetched_is_a_user_error():
    with pytest.raises(UserError, match="taskalign-test/no-such-model"):
        load_model("taskalign-test/no-such-model")


def test_hf_model_spec_and_close(tiny_model_dir):
    model = HFModel(str(tiny_model_dir), spec="my-spec")
    assert model.spec == "my-spec"
    model.close()
    assert model.model is None


def test_precision_picks_bf16_only_where_asked_and_native(lively_model_dir, monkeypatch):
    import torch

    from taskalign.models import hf

    assert load_model(str(lively_model_dir), precision="fp32").model.dtype == torch.float32
    assert load_model(str(lively_model_dir), precision="bf16").model.dtype == torch.bfloat16
    for native in (True, False):
        monkeypatch.setattr(hf, "cpu_has_bf16", lambda: native)
        assert hf.use_bf16("fast", "cpu") is native
        assert hf.use_bf16("auto", "cpu") is False  # the training default on a CPU stays fp32
    with pytest.raises(UserError, match="precision .half."):
        hf.use_bf16("half", "cpu")
