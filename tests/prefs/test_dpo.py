"""The contract end to end: built pairs load with `datasets` unchanged and train one TRL DPOTrainer step."""

import math

from taskalign.prefs import build


def test_pairs_load_with_datasets_and_train_one_dpo_step(tmp_path, cases, run_dir, tiny_model_dir):
    import torch
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    path = build(run_dir, cases, tmp_path / "prefs.jsonl")
    data = load_dataset("json", data_files=str(path), split="train")
    assert len(data) >= 8 and set(data.column_names) == {"prompt", "chosen", "rejected", "metadata"}
    assert data[0]["prompt"][0]["role"] == "system"

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    config = DPOConfig(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, gradient_checkpointing=False,
                       max_steps=1, per_device_train_batch_size=2, report_to="none", learning_rate=1e-2,
                       max_length=512, save_strategy="no", logging_steps=1)
    trainer = DPOTrainer(model=model, args=config, train_dataset=data,
                         processing_class=AutoTokenizer.from_pretrained(tiny_model_dir))
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert losses and all(math.isfinite(x) for x in losses)
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters())
