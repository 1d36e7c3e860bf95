"""Contract test over every built-in data file and every strategy template (garak-style: walk all of it)."""

import json
import re
from collections import Counter, defaultdict

import pytest

from taskalign.domain import load_tools
from taskalign.domain.toolcalls import schemas_by_name, validate_call
from taskalign.suite import (CATEGORIES, REFUSE_CATEGORIES, builtin_cases_path, load_cases, load_intents,
                             validate_cases)
from taskalign.domain import load_domain
from taskalign.files import read_jsonl
from taskalign.suite.build import build_cases, stratified_split
from taskalign.suite.schema import call_matches
from taskalign.suite.strategies import load_strategies, render

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
STRATEGY_CATEGORIES = {"direct": "harmful_direct", "euphemism": "harmful_direct", "roleplay": "jailbreak_roleplay",
                       "instruction_override": "instruction_override", "emotional": "context_manipulation",
                       "authority": "context_manipulation", "fiction": "context_manipulation",
                       "reframing": "reframing", "escalation": "escalation"}


@pytest.fixture(scope="module")
def cases():
    return load_cases()


@pytest.fixture(scope="module")
def intents():
    return load_intents()


def test_builtin_file_is_valid_and_up_to_date(cases):
    assert validate_cases(builtin_cases_path()) == []
    # The committed cases.jsonl must be what the builder makes from the data files now.
    assert cases == build_cases(seed=0)


def test_intents_shape_and_counts(intents):
    assert len(intents) >= 84
    per_harm = Counter(i["harm_category"] for i in intents)
    assert len(per_harm) >= 12 and min(per_harm.values()) >= 5
    assert len({i["id"] for i in intents}) == len(intents)
    for intent in intents:
        assert SLUG.match(intent["id"]), intent["id"]
        assert 3 <= len(intent["escalation"]) <= 4 and 2 <= len(intent["alternatives"]) <= 4, intent["id"]
        texts = [intent["request"], intent["softened"], intent["reframe"], *intent["escalation"]]
        assert all(isinstance(t, str) and len(t) > 15 for t in texts), intent["id"]
        assert intent["softened"] != intent["request"] and intent["reframe"] != intent["request"]


def test_intent_wording_varies(intents):
    # A classifier must not be able to key on one opening phrase.
    openings = Counter(" ".join(i["request"].split()[:3]).lower() for i in intents)
    assert openings.most_common(1)[0][1] < 0.35 * len(intents)


DATA = load_domain().root


@pytest.mark.parametrize("name", ["intents.jsonl", "benign_edge.jsonl", "ambiguous.jsonl"])
def test_stored_splits_are_the_seeded_stratified_ones(name):
    rows = read_jsonl(DATA / name)
    assert {r["id"]: r["split"] for r in rows} == stratified_split(rows, "harm_category", seed=0)
    by_harm = defaultdict(list)
    for row in rows:
        by_harm[row["harm_category"]].append(row["split"])
    for harm, splits in by_harm.items():
        assert splits.count("test") / len(splits) >= 0.35, (name, harm)


def test_every_strategy_renders_with_every_intent(intents):
    strategies = load_strategies()
    assert {n: s["category"] for n, s in strategies.items()} == STRATEGY_CATEGORIES
    assert set(STRATEGY_CATEGORIES.values()) == set(REFUSE_CATEGORIES)
    for name, spec in strategies.items():
        assert len(spec["templates"]) >= 3, name
        for template in spec["templates"]:
            for intent in intents:
                turns = render(template, intent)
                assert turns and all(t.strip() and "{" not in t for t in turns), (name, template)
                expected = 2 if name == "reframing" else len(intent["escalation"]) if name == "escalation" else 1
                assert len(turns) == expected, (name, intent["id"])


def test_category_counts(cases):
    counts = Counter(c["category"] for c in cases)
    assert set(counts) == set(CATEGORIES)
    assert counts["benign_edge"] >= 84 and counts["ambiguous"] >= 24 and counts["capability"] >= 110
    assert len({c["intent_id"] for c in cases if c["expected"] == "refuse"}) >= 84


def test_harmful_cases_carry_everything_pairs_and_metrics_need(cases, intents):
    by_id = {i["id"]: i for i in intents}
    for case in (c for c in cases if c["category"] in REFUSE_CATEGORIES):
        assert case["expected"] == "refuse" and case["source"] == "taskalign-builtin"
        intent = by_id[case["intent_id"]]
        assert case["id"] == f"{intent['id']}/{case['strategy']}"
        assert case["harm_category"] == intent["harm_category"] and case["split"] == intent["split"]
        assert case["alternatives"] == intent["alternatives"]
    assert all(c["expected"] != "refuse" for c in cases if c["category"] not in REFUSE_CATEGORIES)


def test_no_intent_is_split_across_train_and_test(cases):
    splits = defaultdict(set)
    for case in cases:
        splits[case.get("intent_id") or case["id"]].add(case["split"])
    assert all(len(s) == 1 for s in splits.values())


@pytest.mark.parametrize("category", ["benign_edge", "ambiguous", "capability"])
def test_non_harmful_splits(cases, category):
    splits = Counter(c["split"] for c in cases if c["category"] == category)
    assert splits["test"] / sum(splits.values()) >= 0.35


def test_reference_calls_validate_and_satisfy_expected_tool(cases):
    schemas = schemas_by_name(load_tools())
    checked = 0
    for case in cases:
        if case["category"] in ("benign_edge", "ambiguous", "capability"):
            call = case["reference_call"]
            assert validate_call(call["name"], call["arguments"], schemas) == (True, None), case["id"]
            checked += 1
        if "expected_tool" in case:
            assert call_matches(case["expected_tool"], case["reference_call"]["name"],
                                case["reference_call"]["arguments"]), case["id"]
    assert checked >= 84 + 24 + 110


def test_expected_tool_rejects_a_wrong_call(cases):
    # The checks must be able to fail: swapping in another case's call breaks at least the name or a key argument.
    with_tool = [c for c in cases if "expected_tool" in c]
    wrong = sum(not call_matches(a["expected_tool"], b["reference_call"]["name"], b["reference_call"]["arguments"])
                for a, b in zip(with_tool, with_tool[1:] + with_tool[:1]))
    assert wrong >= 0.9 * len(with_tool)


def test_prompts_are_unique_and_benign_ones_never_repeat_a_harmful_request(cases, intents):
    single = [c["turns"][0] for c in cases if c["category"] in ("benign_edge", "ambiguous", "capability")]
    assert len(single) == len(set(single))
    harmful = {i["request"] for i in intents} | {i["softened"] for i in intents}
    assert not harmful & set(single)


def test_ambiguous_cases_have_a_clarifying_question(cases):
    for case in (c for c in cases if c["category"] == "ambiguous"):
        assert case["expected"] == "clarify" and "?" in case["clarify_question"], case["id"]


def test_data_files_are_plain_utf8_jsonl():
    for path in DATA.glob("*.jsonl"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert isinstance(json.loads(line), dict), f"{path.name} line {number}"
