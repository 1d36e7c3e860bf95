"""The real SmolLM2 replies to train-split requests (dev/judge/data/smollm_train.jsonl): labelled twice, never on a
test-split request, and trained on only when `train_cross --with-real` asks for them."""

import json

from dev.judge import train_cross
from taskalign.judge.evaluate import read_labelled
from taskalign.suite import load_cases


def _rows() -> list[dict]:
    return [json.loads(line) for line in train_cross.REAL_TRAIN.read_text().splitlines()]


def test_every_row_is_labelled_twice_and_disagreements_are_settled():
    rows = _rows()
    items, gold = read_labelled(train_cross.REAL_TRAIN)  # what `taskalign judge eval` reads
    assert len(items) == len(rows) >= 900 and set(gold) <= {"comply", "refuse", "partial", "clarify"}
    assert {r["run"].split("/")[0] for r in rows} == {"base", "sft", "aligned"}
    for r in rows:
        assert r["label"] in (r["label_a"], r["label_b"])
        assert (r["label_a"] == r["label_b"]) != bool(r.get("adjudicated")), r["id"]


def test_no_reply_answers_a_test_split_request():
    rows = _rows()
    test_turns = {turn for c in load_cases() if c["split"] == "test" for turn in c["turns"]}
    assert all(r["suite_split"] == "train" for r in rows)
    assert not {r["prompt"] for r in rows} & test_turns
    # No (request, reply) of the held-out real replies comes back (a short tool call may answer two requests alike).
    held_out = [json.loads(line) for line in (train_cross.DATA / "smollm.jsonl").read_text().splitlines()]
    assert not {(r["prompt"], r["response"]) for r in rows} & {(r["prompt"], r["response"]) for r in held_out}
    assert not {r["prompt"] for r in rows} & {r["prompt"] for r in held_out}


def test_trained_on_only_with_real():
    plain = train_cross.load_rows()
    real = train_cross.load_rows(real=True)
    assert not any(r["style"] == train_cross.REAL_STYLE for r in plain)
    added = [r for r in real if r["style"] == train_cross.REAL_STYLE]
    assert len(added) == len(_rows()) and all(train_cross.in_training(r, 0.3) for r in added)
    assert train_cross.REAL_STYLE not in train_cross.TEST_STYLES
