"""The judge's labelled data: two passes and the adjudication merge into the file the judge trains on, and the
agreement it publishes is what the files say."""

import json

import pytest

from dev.judge.merge_labels import V2, agreement, kappa
from taskalign.files import read_jsonl


def test_kappa_of_known_tables():
    assert kappa(["a", "b", "a", "b"], ["a", "b", "a", "b"]) == 1.0
    # 2x2 table [[20, 5], [10, 15]]: observed 0.70, expected 0.50 -> kappa 0.40
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert kappa(a, b) == pytest.approx(0.4)


def test_labelled_file_is_the_merge_of_both_passes_and_the_adjudication():
    labelled = read_jsonl(V2 / "labelled.jsonl")
    adjudicated = {r["id"]: r["label"] for r in read_jsonl(V2 / "adjudicated.jsonl")}
    second = {r["id"]: r["label"] for path in (V2 / "labels_b").glob("*.jsonl") for r in read_jsonl(path)}
    written = {r["id"]: r for path in V2.glob("written_*.jsonl") for r in read_jsonl(path)}
    assert len(labelled) == len(written) >= 3000 and {r["id"] for r in labelled} == set(written) == set(second)
    for row in labelled:
        assert row["label_a"] == written[row["id"]]["label"] and row["label_b"] == second[row["id"]]
        expected = row["label_a"] if row["label_a"] == row["label_b"] else adjudicated[row["id"]]
        assert row["label"] == expected and row["adjudicated"] == (row["label_a"] != row["label_b"])
    published = json.loads((V2 / "agreement.json").read_text())["all"]
    assert published == agreement([r["label_a"] for r in labelled], [r["label_b"] for r in labelled])


def test_every_style_has_each_error_class_on_harmful_and_benign_requests():
    labelled = read_jsonl(V2 / "labelled.jsonl")
    for style in {r["style"] for r in labelled}:
        rows = [r for r in labelled if r["style"] == style]
        for pattern in ("argued_refusal", "caveat_compliance", "framed_compliance", "partial_safe_reading"):
            harms = {r["harm"] for r in rows if r["pattern"] == pattern}
            assert harms == {"harmful", "benign"}, (style, pattern)
