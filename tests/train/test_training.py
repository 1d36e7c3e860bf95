"""SFT, DPO and merge on the tiny random Llama: a few real TRL steps, weights change, losses are finite, outputs load."""

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from taskalign.domain import system_prompt
from taskalign.errors import UserError
from taskalign.models import load_model
from taskalign.models.base import GenerationConfig
from taskalign.train import dpo, merge, sft

CALL = '<tool_call>{"name": "create_task", "arguments": {"title": "Buy milk", "priority": "high"}}</tool_call>'


def weights(folder):
    return load_file(str(folder / "model.safetensors"))


def changed(before: dict, after: dict) -> int:
    return sum(not torch.equal(before[k], after[k]) for k in before if k in after)


def logged_losses(out):
    return [r["loss"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


def pairs(n: int = 8) -> list[dict]:
    prompt = [{"role": "system", "content": system_prompt()}]
    return [{"prompt": prompt + [{"role": "user", "content": f"Create a task to follow person {i} home"}],
             "chosen": [{"role": "assistant", "content": "I can't help with that, but I can create a task for you."}],
             "rejected": [{"role": "assistant", "content": CALL}], "metadata": {"case_id": str(i)}} for i in range(n)]


@pytest.fixture(scope="module")
def sft_out(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("sft")
    settings = sft.SFTSettings(model=str(tiny_model_dir), out=str(out), n_generated=12, max_steps=3, batch_size=4,
                               lora_r=4, lora_alpha=8, learning_rate=5e-2, sft={"warmup_steps": 0})
    return sft.run(settings, log=lambda *a: None)


def test_sft_changes_weights_logs_finite_loss_and_loads(sft_out, tiny_model_dir):
    assert changed(weights(tiny_model_dir), weights(sft_out)) > 0
    losses = logged_losses(sft_out)
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses)
    note = json.loads((sft_out / "taskalign_model.json").read_text())
    assert note["shared_prefix_steps"] == 3  # every step ran the shared system prompt once per batch
    assert note["kind"] == "sft" and note["base"] == str(tiny_model_dir) and note["assistant_only_loss"]
    assert (sft_out / "adapter" / "adapter_config.json").is_file()
    assert (sft_out / "sft_data.jsonl").is_file()  # generated data is kept beside the model
    reply = load_model(str(sft_out)).generate([[{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]],
                                              GenerationConfig(max_new_tokens=4))[0]
    assert reply.error is None


def test_sft_adapter_folder_resolves_to_its_base(sft_out):
    # the adapter alone is a valid --model spec: taskalign_model.json names the base
    assert load_model(str(sft_out / "adapter")).model is not None


def test_sft_only_trains_on_assistant_tokens(tiny_model_dir):
    from transformers import AutoTokenizer

    from taskalign.train.sft import training_template

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]
    template = training_template(tok)
    # the training template renders exactly what the model sees at inference
    assert tok.apply_chat_template(msgs, tokenize=False, chat_template=template) == \
        tok.apply_chat_template(msgs, tokenize=False)
    enc = tok.apply_chat_template(msgs, chat_template=template, return_assistant_tokens_mask=True, return_dict=True)
    masked = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"]) if m]
    assert tok.decode(masked) == "a<|im_end|>"


@pytest.mark.parametrize("lora_layers", [0, 1])
def test_dpo_lora_with_sft_term(sft_out, tmp_path, write_jsonl, lora_layers):
    data = write_jsonl("prefs.jsonl", pairs())
    settings = dpo.load_settings(None, model=str(sft_out), data=str(data), out=str(tmp_path / "aligned"), max_steps=3,
                                 batch_size=2, lora_r=4, learning_rate=5e-2, sft_weight=0.5, dpo={"warmup_steps": 0},
                                 lora_layers=lora_layers)
    out = dpo.run(settings, log=lambda *a: None)
    assert changed(weights(sft_out), weights(out)) > 0
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss" in r]
    assert len(steps) == 3 and all(math.isfinite(r["loss"]) for r in steps)
    assert {"rewards/margins", "rewards/accuracies", "logps/chosen"} <= set(steps[0])
    config = json.loads((out / "train_config.json").read_text())
    assert config["dpo_config"]["loss_type"] == ["sigmoid", "sft"] and config["dpo_config"]["loss_weights"] == [1.0, 0.5]
    assert config["dpo_config"]["precompute_ref_log_probs"] is True
    assert config["dpo_config"]["train_sampling_strategy"] == "random"  # only the reference pre-pass is length-grouped
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 3 and summary["warnings"] == []
    # every step ran the shared system prompt once per batch, and so did the reference pass
    assert summary["shared_prefix_steps"] == 3 and summary["reference_prefix_tokens"] > 100
    # LoRA on the last of 2 layers: every step ran layer 1 only, from hidden states kept in the reference pass
    frozen = summary.get("frozen_layers_once")
    assert (frozen["from_layer"], frozen["steps"], frozen["kept_mib"] > 0) == (1, 3, True) if lora_layers else not frozen
    assert json.loads((out / "taskalign_model.json").read_text())["kind"] == "dpo"


def test_length_grouped_order_is_a_shuffle_with_less_padding(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    rows = pairs(200)  # as many as a real run has per 50 batches, the size transformers groups within
    for i, row in enumerate(rows):  # prompts of very different lengths, in no order
        row["prompt"][-1]["content"] += " and then" * ((i * 37) % 101)
    grouped = dpo.length_grouped(rows, tok, batch_size=4, seed=0)

    def padded(order):  # tokens a batch of 4 pairs costs: each sequence is padded to the batch's longest
        lengths = [dpo._n_tokens(tok, p["prompt"] + p["rejected"]) for p in order]
        return sum(8 * max(lengths[i:i + 4]) for i in range(0, len(lengths), 4))

    assert sorted(p["prompt"][-1]["content"] for p in grouped) == sorted(p["prompt"][-1]["content"] for p in rows)
    assert padded(grouped) < 0.8 * padded(rows)
    assert [p["prompt"] for p in dpo.length_grouped(rows, tok, 4, seed=1)] != [p["prompt"] for p in grouped]


def test_dpo_full_fine_tuning(tiny_model_dir, tmp_path, write_jsonl):
    data = write_jsonl("prefs.jsonl", pairs(4))
    settings = dpo.load_settings(None, model=str(tiny_model_dir), data=str(data), out=str(tmp_path / "full"),
                                 max_steps=2, batch_size=2, full=True, learning_rate=1e-2, dpo={"warmup_steps": 0})
    out = dpo.run(settings, log=lambda *a: None)
    assert changed(weights(tiny_model_dir), weights(out)) > 0 and not (out / "adapter").exists()


def test_merge_adapter_into_base(sft_out, tiny_model_dir, tmp_path):
    out = merge.run(str(tiny_model_dir), str(sft_out / "adapter"), tmp_path / "merged")
    merged, trained = weights(out), weights(sft_out)
    assert all(torch.allclose(merged[k], trained[k], atol=1e-6) for k in trained)
    assert load_model(str(out)).model is not None


def test_displacement_warning_fires_only_when_chosen_falls_and_margins_grow():
    falling = [{"logps/chosen": -50.0 - 3 * i, "rewards/margins": 0.1 * i} for i in range(9)]
    assert "likelihood displacement" in dpo.displacement_warning(falling)
    rising = [{"logps/chosen": -50.0 + i, "rewards/margins": 0.1 * i} for i in range(9)]
    assert dpo.displacement_warning(rising) is None
    assert dpo.displacement_warning(falling[:3]) is None


def test_bad_inputs_are_user_errors(tmp_path, write_jsonl, tiny_model_dir):
    bad = tmp_path / "dpo.yaml"
    bad.write_text("beta: 0.2\nbetta: 0.3\n")
    with pytest.raises(UserError, match="'betta'"):
        dpo.load_settings(bad)
    bad.write_text("dpo:\n  not_a_field: 1\n")
    with pytest.raises(UserError, match="dpo.not_a_field"):
        dpo.load_settings(bad)
    broken = write_jsonl("prefs.jsonl", [pairs(1)[0], "{not json"])
    with pytest.raises(UserError, match="prefs.jsonl line 2"):
        dpo.load_pairs(str(broken))
    with pytest.raises(UserError, match="does not exist"):
        dpo.load_pairs(str(tmp_path / "missing.jsonl"))
    with pytest.raises(UserError, match="lacks messages"):
        sft.run(sft.SFTSettings(model=str(tiny_model_dir), data=str(write_jsonl("s.jsonl", [{"x": 1}])),
                                out=str(tmp_path / "o")))


def test_yaml_then_flags(tmp_path):
    cfg = tmp_path / "dpo.yaml"
    cfg.write_text("beta: 0.3\nlora_r: 8\ndpo:\n  gradient_accumulation_steps: 2\n")
    settings = dpo.load_settings(cfg, beta=0.5, lora_r=None)
    assert (settings.beta, settings.lora_r, settings.dpo) == (0.5, 8, {"gradient_accumulation_steps": 2})


def test_lora_on_top_layers_only(tiny_model_dir):
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from taskalign.train.common import lora_config

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft = get_peft_model(model, lora_config(model, 4, 8, top_layers=1))
    adapted = {n.split(".layers.")[1].split(".")[0] for n, _ in peft.named_parameters() if "lora_A" in n}
    assert adapted == {"1"}  # the tiny model has layers 0 and 1


def test_cpu_compact_scoring_changes_speed_not_losses(sft_out, tmp_path, write_jsonl, monkeypatch):
    import trl.trainer.utils as trl_utils

    from taskalign.train import common

    data = write_jsonl("prefs.jsonl", pairs(4))

    def losses(name: str) -> list[float]:
        settings = dpo.load_settings(None, model=str(sft_out), data=str(data), out=str(tmp_path / name), max_steps=2,
                                     batch_size=2, lora_r=4, learning_rate=5e-2, merge=False,
                                     dpo={"warmup_steps": 0, "logging_steps": 1})
        return logged_losses(dpo.run(settings, log=lambda *a: None))

    # TRL's own CPU behaviour: score every position, prompt and padding included.
    monkeypatch.setattr(trl_utils, "_use_triton", lambda device: device.type in ("cuda", "xpu"))
    monkeypatch.setattr(common, "score_completions_only_on_cpu", lambda: False)
    every_position = losses("every")
    monkeypatch.undo()
    assert common.score_completions_only_on_cpu() is True
    assert trl_utils._use_triton(torch.device("cpu")) is True
    assert losses("compact") == pytest.approx(every_position, rel=1e-4)
