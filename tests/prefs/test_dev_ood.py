"""The out-of-distribution dev set (dev/ood/) is well-formed and stays apart from every text the pipeline trains on."""

import json
import re

import pytest

from dev.ood.evaluate import BENIGN, EVERYDAY, HARMFUL, cases
from taskalign.attack.search import load_attack_intents
from taskalign.domain import load_domain
from taskalign.files import read_jsonl
from taskalign.prefs.bank import AMBIGUOUS, BENIGN as BANK_BENIGN, INTENTS as BANK_INTENTS
from taskalign.redteam.score import task_correct
from taskalign.suite import load_cases

NEAR = 0.5  # word-set Jaccard at or above this = the same request reworded (as in test_bank.py)


def _words(text):
    return frozenset(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


def _training_texts():
    """Every user turn of the suite's train split, and every text of the training-only bank."""
    texts = [t for c in load_cases() if c["split"] == "train" for t in c["turns"] if isinstance(t, str)]
    for path in (BANK_INTENTS, BANK_BENIGN, AMBIGUOUS):
        for row in read_jsonl(path):
            texts += [row["request"]] + [row[k] for k in ("softened", "reframe") if k in row]
            texts += row.get("escalation", [])
    return [_words(t) for t in texts]


def test_the_dev_rows_load_as_attack_intents_and_cases(tmp_path):
    assert len(load_attack_intents(str(HARMFUL))) == 60
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases()))
    loaded = load_cases(path)
    assert [c["category"] for c in loaded].count("benign_edge") == 60
    assert [c["category"] for c in loaded].count("capability") == 36
    for case in loaded:  # the scorer's own check: the reference call is task-correct
        assert task_correct(case["expected_tool"], [{**case["reference_call"], "valid": True}]), case["id"]


def test_no_dev_row_rewords_a_training_text():
    training = _training_texts()
    for path in (HARMFUL, BENIGN, EVERYDAY):
        for row in read_jsonl(path):
            words = _words(row["request"])
            worst = max(len(words & t) / max(1, len(words | t)) for t in training)
            assert worst < NEAR, (row["id"], round(worst, 2))


@pytest.mark.parametrize("path", [HARMFUL, BENIGN])
def test_every_harm_category_has_five_rows(path):
    categories = {r["harm_category"] for r in read_jsonl(load_domain().root / "intents.jsonl")}
    counts = {c: 0 for c in categories}
    for row in read_jsonl(path):
        counts[row["harm_category"]] += 1
    assert set(counts.values()) == {5}
