"""KTO, ORPO and DPO loss variants on the tiny random Llama: real TRL steps, weights change, settings reach TRL."""

import json
import math

import pytest

from taskalign.errors import UserError
from taskalign.train import dpo, kto, orpo

from tests.train.test_training import changed, logged_losses, pairs, weights


def test_kto_reads_pairs_as_desirable_and_undesirable_rows(tmp_path, write_jsonl):
    rows = kto.load_rows(str(write_jsonl("prefs.jsonl", pairs(3))))
    assert [r["label"] for r in rows] == [True, False] * 3
    assert rows[0]["completion"] == pairs(1)[0]["chosen"] and rows[1]["completion"] == pairs(1)[0]["rejected"]


def test_kto_unpaired_rows_are_checked_by_line(tmp_path, write_jsonl):
    p = pairs(1)[0]
    good = {"prompt": p["prompt"], "completion": p["chosen"], "label": True}
    bad = {"prompt": p["prompt"], "completion": p["rejected"], "label": "no"}
    with pytest.raises(UserError, match="row 2: label must be true"):
        kto.load_rows(str(write_jsonl("u.jsonl", [good, bad])))
    with pytest.raises(UserError, match="only desirable rows"):
        kto.load_rows(str(write_jsonl("u2.jsonl", [good, good])))
    with pytest.raises(UserError, match="line 1 lacks completion"):
        kto.load_rows(str(write_jsonl("u3.jsonl", [{"prompt": p["prompt"], "label": True}])))


def test_kto_trains_from_unpaired_rows(tiny_model_dir, tmp_path, write_jsonl):
    rows = [{"prompt": p["prompt"], "completion": p[k], "label": k == "chosen"}
            for p in pairs(4) for k in ("chosen", "rejected")]
    data = write_jsonl("kto.jsonl", rows)
    settings = kto.load_settings(None, model=str(tiny_model_dir), data=str(data), out=str(tmp_path / "kto"),
                                 max_steps=2, batch_size=4, lora_r=4, learning_rate=5e-2, kto={"warmup_steps": 0})
    out = kto.run(settings, log=lambda *a: None)
    assert changed(weights(tiny_model_dir), weights(out)) > 0
    losses = logged_losses(out)
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    config = json.loads((out / "train_config.json").read_text())["kto_config"]
    assert config["precompute_ref_log_probs"] is True and config["desirable_weight"] == 1.0
    summary = json.loads((out / "train_summary.json").read_text())
    assert (summary["n_rows"], summary["n_desirable"]) == (8, 4)
    assert json.loads((out / "taskalign_model.json").read_text())["kind"] == "kto"
    with pytest.raises(UserError, match="at least 2 rows per batch"):
        kto.run(kto.load_settings(None, model=str(tiny_model_dir), data=str(data), out=str(tmp_path / "k1"),
                                  batch_size=1))


def test_orpo_trains_without_a_reference_model(tiny_model_dir, tmp_path, write_jsonl):
    data = write_jsonl("prefs.jsonl", pairs(4))
    settings = orpo.load_settings(None, model=str(tiny_model_dir), data=str(data), out=str(tmp_path / "orpo"),
                                  max_steps=2, batch_size=2, lora_r=4, learning_rate=5e-2, orpo={"warmup_steps": 0})
    out = orpo.run(settings, log=lambda *a: None)
    assert changed(weights(tiny_model_dir), weights(out)) > 0
    losses = logged_losses(out)
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    assert json.loads((out / "taskalign_model.json").read_text())["kind"] == "orpo"
    assert json.loads((out / "train_config.json").read_text())["orpo_config"]["beta"] == 0.1


def test_orpo_pass_through_block_is_checked_against_trl(tmp_path):
    cfg = tmp_path / "orpo.yaml"
    cfg.write_text("orpo:\n  not_a_field: 1\n")
    with pytest.raises(UserError, match="orpo.not_a_field is not a trl.ORPOConfig field"):
        orpo.load_settings(cfg)


@pytest.mark.parametrize("loss", ["ipo", "robust", "hinge"])
def test_dpo_loss_variants_reach_trl(loss, tmp_path):
    settings = dpo.load_settings(None, loss_type=loss, sft_weight=0.5)
    args = dpo.dpo_config(settings, tmp_path)
    assert args.loss_type == [loss, "sft"] and args.loss_weights == [1.0, 0.5]
    assert dpo.dpo_config(dpo.load_settings(None, loss_type=loss), tmp_path).loss_type == [loss]


def test_dpo_ipo_trains(tiny_model_dir, tmp_path, write_jsonl):
    data = write_jsonl("prefs.jsonl", pairs(4))
    settings = dpo.load_settings(None, model=str(tiny_model_dir), data=str(data), out=str(tmp_path / "ipo"),
                                 max_steps=2, batch_size=2, lora_r=4, learning_rate=5e-2, loss_type="ipo",
                                 dpo={"warmup_steps": 0})
    out = dpo.run(settings, log=lambda *a: None)
    assert changed(weights(tiny_model_dir), weights(out)) > 0
    assert json.loads((out / "train_config.json").read_text())["dpo_config"]["loss_type"] == ["ipo"]
