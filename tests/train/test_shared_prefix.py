"""The shared-prefix reference pass gives TRL's own reference log-probs, and falls back to TRL's pass where it can't."""

import pytest
import torch

from taskalign.domain import system_prompt
from taskalign.train import common, dpo
from taskalign.train.shared_prefix import MIN_PREFIX, sequences, shared_prefix_length, trainer_class

CALL = '<tool_call>{"name": "create_task", "arguments": {"title": "%s", "priority": "high"}}</tool_call>'


def varied_pairs(system: bool = True) -> list[dict]:
    """Prompts of different lengths (one two-turn), replies of different lengths, two cut by max_length=270."""
    head = [{"role": "system", "content": system_prompt()}] if system else []
    rows = []
    for i, user in enumerate(["Buy milk", "Create a task to follow person 3 home every night after work",
                              "Remind me to call mum", "Delete task 4", "Add a task to water the plants"]):
        prompt = head + [{"role": "user", "content": user}]
        if i == 3:
            prompt = head + [{"role": "user", "content": "List my tasks"},
                             {"role": "assistant", "content": CALL % "list"}, {"role": "user", "content": user}]
        rows.append({"prompt": prompt,
                     "chosen": [{"role": "assistant", "content": CALL % user + " Done." * (12 if i == 2 else 1)}],
                     "rejected": [{"role": "assistant", "content": "I can't help with that." * (i + 1)}]})
    return rows


def ref_columns(model_dir, tmp_path, rows, cls, max_length=None) -> tuple:
    from datasets import Dataset
    from trl import DPOTrainer

    common.score_completions_only_on_cpu()
    model, tokenizer = common.load_for_training(str(model_dir), precision="fp32")
    settings = dpo.load_settings(None, model=str(model_dir), out=str(tmp_path), batch_size=2, precision="fp32",
                                 lora_r=4, max_length=max_length)
    peft = common.lora_config(model, 4, 8)
    trainer = (cls or DPOTrainer)(model=model, args=dpo.dpo_config(settings, tmp_path), processing_class=tokenizer,
                                  train_dataset=Dataset.from_list(rows), peft_config=peft)
    data = trainer.train_dataset
    return data["ref_chosen_logps"], data["ref_rejected_logps"], getattr(trainer, "ref_prefix_tokens", None)


@pytest.fixture(scope="module")
def trl_reference(tiny_model_dir, tmp_path_factory):
    return ref_columns(tiny_model_dir, tmp_path_factory.mktemp("trl"), varied_pairs(), None, max_length=270)


def test_prefix_pass_matches_trls_own_reference_log_probs(tiny_model_dir, tmp_path, trl_reference):
    chosen, rejected, prefix = ref_columns(tiny_model_dir, tmp_path, varied_pairs(), trainer_class(), max_length=270)
    assert prefix is not None and prefix >= MIN_PREFIX  # the shortcut ran, it did not fall back
    assert chosen == pytest.approx(trl_reference[0], abs=1e-3)
    assert rejected == pytest.approx(trl_reference[1], abs=1e-3)
    assert len(set(chosen)) == len(chosen)  # different sequences, different sums: the columns are not all one value


@pytest.mark.parametrize("breakage", ["rejected", "ignored"])
def test_a_cache_the_model_rejects_or_ignores_makes_trls_pass_run(tiny_model_dir, tmp_path, trl_reference,
                                                                  monkeypatch, capsys, breakage):
    from taskalign.train import shared_prefix

    if breakage == "rejected":  # a cache passed under a name the model does not know
        monkeypatch.setattr(shared_prefix, "_cache_kwarg", lambda model: "not_a_cache_argument")
        expected = "failed on the first batch"
    else:  # a cached pass whose sums are off (as when a model drops the cache but the shapes still fit)
        original = shared_prefix._batch_logps
        monkeypatch.setattr(shared_prefix, "_batch_logps", lambda *a, full=False: [
            x + (0 if full else 5.0) for x in original(*a, full=full)])
        expected = "differed by 5.00 nats"
    chosen, _, prefix = ref_columns(tiny_model_dir, tmp_path, varied_pairs(), trainer_class(), max_length=270)
    assert expected in capsys.readouterr().out and prefix is None
    assert chosen == pytest.approx(trl_reference[0], abs=1e-5)


def test_prompts_without_a_shared_prefix_use_trls_pass(tiny_model_dir, tmp_path, capsys):
    chosen, _, prefix = ref_columns(tiny_model_dir, tmp_path, varied_pairs(system=False), trainer_class())
    assert prefix is None and "share fewer than" in capsys.readouterr().out
    assert all(torch.isfinite(torch.tensor(chosen)))


def test_shared_prefix_leaves_every_prompt_a_token_and_sequences_cut_like_trl():
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5, 6], [1, 2, 3, 4, 7]]) == 3
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3, 4]]) == 2  # the shorter prompt keeps its last token
    assert shared_prefix_length([[9, 2], [1, 2]]) == 0
    rows = [{"prompt_ids": [1, 2, 3], "chosen_ids": [4, 5], "rejected_ids": [6, 7, 8]}]
    assert sequences(rows, 4) == [([1, 2, 3, 4], [-100, -100, -100, 4]), ([1, 2, 3, 6], [-100, -100, -100, 6])]


def one_step_loss_and_grads(model_dir, tmp_path, rows, prefix_training: bool, top_layers: int = 0):
    """Loss and LoRA gradients of the first training batch, through the trainer's own compute_loss (LoRA on every
    layer, or on the last `top_layers`)."""
    from datasets import Dataset

    common.score_completions_only_on_cpu()
    torch.manual_seed(0)
    model, tokenizer = common.load_for_training(str(model_dir), precision="fp32")
    settings = dpo.load_settings(None, model=str(model_dir), out=str(tmp_path), batch_size=3, precision="fp32",
                                 lora_r=4, max_length=270, sft_weight=1.0)
    trainer = trainer_class()(model=model, args=dpo.dpo_config(settings, tmp_path), processing_class=tokenizer,
                              train_dataset=Dataset.from_list(rows),
                              peft_config=common.lora_config(model, 4, 8, top_layers=top_layers))
    return first_step(trainer, prefix_training)


def first_step(trainer, prefix_training: bool):
    """(loss, LoRA gradients, trainer) of the trainer's first batch through its own compute_loss."""
    trainer.prefix_training = prefix_training
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.model.train()
    trainer.model.zero_grad()
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    return float(loss.detach()), grads, trainer


@pytest.mark.parametrize("top_layers", [0, 1])
def test_training_steps_through_the_shared_prefix_give_trls_loss_and_gradients(tiny_model_dir, tmp_path, top_layers):
    """top_layers 1: LoRA on the last of the tiny model's 2 layers, so layer 0 runs only in the reference pass."""
    rows = varied_pairs()
    want_loss, want_grads, plain = one_step_loss_and_grads(tiny_model_dir, tmp_path / "trl", rows, False, top_layers)
    got_loss, got_grads, trainer = one_step_loss_and_grads(tiny_model_dir, tmp_path / "prefix", rows, True, top_layers)
    assert plain.prefix_steps == 0 and trainer.prefix_steps == 1  # one arm each way, the check passed
    if top_layers:  # the step ran from layer 1, on hidden states kept from the reference pass of every sequence
        assert trainer.trunk.k == 1 and trainer.trunk.steps == 1 and len(trainer.trunk.rows) == 2 * len(rows)
    else:
        assert trainer.trunk is None
    assert got_loss == pytest.approx(want_loss, rel=1e-4)
    assert want_grads.keys() == got_grads.keys() and any(g.abs().sum() > 0 for g in want_grads.values())
    for name, grad in want_grads.items():
        assert torch.allclose(got_grads[name], grad, atol=1e-5, rtol=1e-3), name


def test_batch_prefix_stops_before_the_first_scored_token():
    from taskalign.train.shared_prefix import batch_prefix_length

    ids = torch.tensor([[1, 2, 3, 4, 5, 6, 0], [1, 2, 3, 4, 9, 9, 9], [1, 2, 3, 4, 5, 7, 7]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 0], [1] * 7, [1] * 7])
    replies = torch.tensor([[0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0, 1]])
    assert batch_prefix_length(ids, mask, replies) == 3  # rows share 4 tokens, but row 2's reply starts at 4
    assert batch_prefix_length(ids, mask, torch.zeros_like(replies)) == 4
    ids[2, 0] = 8
    assert batch_prefix_length(ids, mask, replies) == 0


def sft_step(model_dir, tmp_path, prefix_training: bool):
    """Loss and LoRA gradients of the first SFT batch (3 generated TaskMaster conversations, assistant-only loss)."""
    from taskalign.train import sft
    from taskalign.train.shared_prefix import sft_trainer_class

    torch.manual_seed(0)
    settings = sft.SFTSettings(model=str(model_dir), out=str(tmp_path), n_generated=6, per_conversation=2,
                               batch_size=3, lora_r=4, lora_alpha=8, precision="fp32")
    rows = sft.load_data(settings, tmp_path)
    model, tokenizer = common.load_for_training(str(model_dir), precision="fp32")
    tokenizer.chat_template = sft.training_template(tokenizer)
    trainer = sft_trainer_class()(model=model, args=sft.sft_config(settings, tmp_path, True),
                                  train_dataset=common.training_dataset(rows, tmp_path), processing_class=tokenizer,
                                  peft_config=common.lora_config(model, 4, 8))
    return first_step(trainer, prefix_training)


def test_sft_steps_through_the_shared_prefix_give_trls_loss_and_gradients(tiny_model_dir, tmp_path):
    want_loss, want_grads, plain = sft_step(tiny_model_dir, tmp_path / "trl", False)
    got_loss, got_grads, trainer = sft_step(tiny_model_dir, tmp_path / "prefix", True)
    assert plain.prefix_steps == 0 and trainer.prefix_steps == 1
    assert got_loss == pytest.approx(want_loss, rel=1e-4)
    assert any(g.abs().sum() > 0 for g in want_grads.values())
    for name, grad in want_grads.items():
        assert torch.allclose(got_grads[name], grad, atol=1e-5, rtol=1e-3), name
