"""The training-only bank (prefs/data/train_*.jsonl) never touches the suite's test split, and builds clean pairs."""

import json
import re

import pytest

from taskalign.errors import UserError
from taskalign.prefs import build, validate
from taskalign.prefs.bank import AMBIGUOUS, BENIGN, INTENTS, PLAIN, STYLED, STYLED_BENIGN, extra_cases
from taskalign.redteam.score import task_correct
from taskalign.suite import load_cases, load_intents
from taskalign.domain import load_domain

SUITE_DATA = load_domain().root

NEAR = 0.5  # word-set Jaccard at or above this = the same request reworded


def _words(text):
    return frozenset(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


def _jaccard(a, b):
    return len(a & b) / max(1, len(a | b))


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_bank_rows_are_train_only_with_new_ids_in_the_suites_harm_categories():
    intents, benign, ambiguous = load_intents(INTENTS), _rows(BENIGN), _rows(AMBIGUOUS)
    suite_intents, suite_benign = load_intents(), _rows(SUITE_DATA / "benign_edge.jsonl")
    suite_ambiguous = _rows(SUITE_DATA / "ambiguous.jsonl")
    assert len(intents) >= 60 and len(benign) >= 48 and len(ambiguous) >= 60
    assert all(r["split"] == "train" for r in intents + benign + ambiguous)
    for rows in (intents, benign, ambiguous):  # bank case ids are "bank/<id>": a repeated id would be two cases
        assert len({r["id"] for r in rows}) == len(rows)
    assert not {r["id"] for r in intents} & {r["id"] for r in suite_intents}
    assert not {r["id"] for r in benign} & {r["id"] for r in suite_benign}
    assert not {r["id"] for r in ambiguous} & {r["id"] for r in suite_ambiguous}
    assert {r["harm_category"] for r in intents + benign + ambiguous} == {r["harm_category"] for r in suite_intents}
    assert all(r["clarify_question"].strip().endswith(("?", ".")) and "?" in r["clarify_question"] for r in ambiguous)


def _texts(row):
    """The texts that carry a row's scenario (the attack templates around them are shared by design)."""
    if "request" in row and "softened" not in row:
        return [row["request"]]
    return [row["request"], row["softened"], row["reframe"], row["escalation"][-1]]


def test_no_bank_scenario_is_a_near_duplicate_of_a_test_split_one():
    test_rows = [r for name in ("intents.jsonl", "benign_edge.jsonl", "ambiguous.jsonl")
                 for r in _rows(SUITE_DATA / name) if r["split"] == "test"]
    test_texts = [_words(t) for r in test_rows for t in _texts(r)]
    bank_texts = [t for r in load_intents(INTENTS) + _rows(BENIGN) + _rows(AMBIGUOUS) for t in _texts(r)]
    bank_texts += [t for r in load_intents(PLAIN) for t in _texts(r)]
    bank_texts += [r["request"] for r in _rows(STYLED) + _rows(STYLED_BENIGN)]
    worst = max((_jaccard(_words(text), other), text) for text in bank_texts for other in test_texts)
    assert worst[0] < NEAR, worst


def test_styled_rows_stay_apart_from_the_out_of_distribution_dev_set():
    """dev/ood/ chooses settings for these rows, so none of them may reword one of its requests."""
    from dev.ood.evaluate import BENIGN as DEV_BENIGN, EVERYDAY as DEV_EVERYDAY, HARMFUL as DEV_HARMFUL

    dev = [_words(r["request"]) for path in (DEV_HARMFUL, DEV_BENIGN, DEV_EVERYDAY) for r in _rows(path)]
    rows = load_intents(PLAIN) + _rows(STYLED) + _rows(STYLED_BENIGN)
    worst = max((_jaccard(_words(t), d), t) for r in rows for t in _texts(r) for d in dev)
    assert worst[0] < NEAR, worst


def test_styles_spec_adds_both_sides_in_every_style(tmp_path):
    styled = [c for c in extra_cases("builtin:euphemism,styles") if c not in extra_cases("builtin:euphemism")]
    harmful = [c for c in styled if c["category"] == "harmful_direct"]
    benign = [c for c in styled if c["category"] == "benign_edge"]
    assert len(harmful) == len(_rows(PLAIN)) + len(_rows(STYLED)) and len(benign) == len(_rows(STYLED_BENIGN))
    styles = {c["style"] for c in harmful}
    assert len(styles) == 5 and styles == {c["style"] for c in benign}  # no style belongs to one side only
    assert all(c["turns"] == [c["turns"][0]] and c["template"] == 0 for c in harmful)  # as written, no wrapper
    assert len(extra_cases("builtin:styles")) == len(extra_cases("builtin")) + len(styled)
    path = build(None, load_cases(), tmp_path / "p.jsonl", balance=1.0, extra_cases="builtin:euphemism,styles")
    ids = {c["id"] for c in styled}
    kinds = {r["metadata"]["pair_type"] for r in _rows(path) if r["metadata"]["case_id"] in ids}
    assert kinds == {"harmful_refusal", "edge_case_comply"}
    assert validate(path, load_cases()) == []


def test_benign_bank_reference_calls_match_their_own_expectations():
    # The scorer's own check: a chosen reply built from the reference call must count as task-correct.
    for row in _rows(BENIGN) + _rows(STYLED_BENIGN):
        call = {**row["reference_call"], "valid": True}
        assert task_correct(row["expected_tool"], [call]), row["id"]


def test_builtin_bank_builds_pairs_that_validate_clean(tmp_path):
    cases = load_cases()
    notes = {}
    path = build(None, cases, tmp_path / "p.jsonl", balance=1.0, extra_cases="builtin", notes=notes)
    rows = _rows(path)
    bank = [r for r in rows if r["metadata"]["case_id"].startswith("bank/")]
    assert len(bank) > 100 and notes["cases"] > len([c for c in cases if c["split"] == "train"])
    assert {r["metadata"]["pair_type"] for r in bank} >= {"harmful_refusal", "persona_jailbreak", "edge_case_comply"}
    assert validate(path, cases) == []


def test_builtin_spec_picks_strategies_and_keeps_the_benign_look_alikes():
    everything = extra_cases("builtin")
    only = extra_cases("builtin:euphemism, direct")
    harmful = [c for c in only if c["category"] != "benign_edge"]
    assert {c["strategy"] for c in harmful} == {"euphemism", "direct"}
    assert len(harmful) == 2 * len(load_intents(INTENTS))
    # the same cases as the whole bank's, and all of its benign look-alikes
    assert only == [c for c in everything if c.get("strategy") in ("euphemism", "direct", None)]
    with pytest.raises(UserError, match="unknown strategy 'euphemisms'"):
        extra_cases("builtin:euphemisms")


def test_the_ambiguous_bank_is_its_own_spec_and_builds_clarify_pairs(tmp_path):
    ambiguous = extra_cases("ambiguous")
    assert len(ambiguous) == len(_rows(AMBIGUOUS)) >= 60
    assert all(c["category"] == "ambiguous" and c["expected"] == "clarify" and c["split"] == "train" for c in ambiguous)
    assert not any(c["category"] == "ambiguous" for c in extra_cases("builtin"))
    path = build(None, load_cases(), tmp_path / "p.jsonl", balance=1.0, extra_cases="ambiguous")
    pairs = [r for r in _rows(path) if r["metadata"]["case_id"].startswith("bank/ambiguous/")]
    assert pairs and all(r["metadata"]["pair_type"] == "ambiguous_clarify" for r in pairs)
    row = next(r for r in _rows(AMBIGUOUS) if f"bank/ambiguous/{r['id']}" == pairs[0]["metadata"]["case_id"])
    assert row["clarify_question"] in pairs[0]["chosen"][0]["content"]
    # One first word for every clarifying question, as every refusal opens with "I": greedy decoding picks one token.
    assert {r["chosen"][0]["content"].split()[0] for r in pairs} == {"Quick"}
    # Among the builtin bank's words, "ambiguous" adds them to the bank.
    both = extra_cases("builtin:euphemism,ambiguous")
    assert [c for c in both if c["category"] == "ambiguous"] == ambiguous
    assert [c for c in both if c["category"] != "ambiguous"] == extra_cases("builtin:euphemism")


def test_extra_cases_none_is_empty_and_a_missing_file_is_named(tmp_path):
    assert extra_cases(None) == [] and extra_cases("none") == []
    with pytest.raises(Exception, match="nope.jsonl"):
        extra_cases(tmp_path / "nope.jsonl")
