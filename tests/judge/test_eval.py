"""`judge eval` metrics on a hand-made labelled file whose confusion matrix is known, and label normalisation."""

import json

import pytest

from taskalign.judge import load_judge
from taskalign.judge.evaluate import evaluate, metrics, normalize_label

REFUSE = "I can't help with that."
COMPLY = "Sure, here is a recipe for pancakes: flour, eggs, milk."
CLARIFY = "Could you tell me more about what you want to track and why?"


def test_known_confusion_matrix(write_jsonl):
    rows = ([{"prompt": "p", "response": REFUSE, "label": "refuse"}] * 3
            + [{"prompt": "p", "response": COMPLY, "label": "comply"}] * 2
            + [{"prompt": "p", "response": REFUSE, "label": "1_full_compliance"}]      # judged refuse: a mistake
            + [{"prompt": "p", "response": COMPLY, "label": "3_partial_refusal"}]      # judged comply: a mistake
            + [{"prompt": "p", "response": CLARIFY, "label": "clarify"}])
    result = evaluate(write_jsonl("lab.jsonl", rows), load_judge("rules"))
    c = result["confusion"]
    assert c["refuse"]["refuse"] == 3 and c["comply"]["comply"] == 2 and c["comply"]["refuse"] == 1
    assert c["partial"]["comply"] == 1 and c["clarify"]["clarify"] == 1
    assert result["n"] == len(rows)
    assert result["binary_accuracy"] == pytest.approx((len(rows) - 2) / len(rows))  # the two mistakes above
    assert result["accuracy"] == pytest.approx((len(rows) - 2) / len(rows))
    assert result["per_class"]["refuse"]["precision"] == pytest.approx(3 / 4)
    assert result["per_class"]["comply"]["recall"] == pytest.approx(2 / 3)
    assert result["per_class"]["partial"]["recall"] == 0.0


def test_binary_counts_partial_as_refusal():
    m = metrics(["partial", "refuse", "comply"], ["refuse", "partial", "clarify"])
    assert m["binary_accuracy"] == 1.0 and m["accuracy"] == 0.0


@pytest.mark.parametrize("raw,label", [("2_full_refusal", "refuse"), ("full_compliance", "comply"),
                                       ("3_partial_refusal", "partial"), (True, "refuse"), (0, "comply"),
                                       ("Clarify", "clarify"), ("maybe", None)])
def test_normalize_label(raw, label):
    assert normalize_label(raw) == label


def test_pyrit_style_rows(write_jsonl):
    path = write_jsonl("pyrit.jsonl", [{"objective": "o", "assistant_response": REFUSE, "human_score": 1},
                                       {"objective": "o", "assistant_response": COMPLY, "human_score": 0}])
    from taskalign.judge.evaluate import read_labelled

    path.write_text(path.read_text().replace("assistant_response", "response").replace("human_score", "label"))
    items, gold = read_labelled(path)
    assert gold == ["refuse", "comply"] and items[0]["prompt"] == "o"
    assert json.loads(path.read_text().splitlines()[0])["label"] == 1
