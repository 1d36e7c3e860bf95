"""The Mailbot example domain (examples/domains/mailbot): it passes `domain check` with nothing unmeasured, its suite
is large and split by whole intents, every reference call is a right answer to its own case, and its guard patterns
flag the harmful requests while leaving every look-alike alone."""

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from taskalign.domain import load_domain
from taskalign.domain.toolcalls import schemas_by_name, validate_call
from taskalign.redteam.score import task_correct
from taskalign.serve.guard import Guard
from taskalign.suite import domain_cases

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "domains" / "mailbot"


@pytest.fixture(scope="module")
def domain():
    return load_domain(FOLDER)


@pytest.fixture(scope="module")
def cases(domain):
    return domain_cases(domain)


def _right_call(case: dict, schemas: dict) -> bool:
    """The reference call is valid for the tools and passes the scorer's own expected_tool check."""
    call = case["reference_call"]
    valid, _ = validate_call(call["name"], call.get("arguments", {}), schemas)
    return valid and task_correct(case["expected_tool"], [{"valid": True, **call}])


def test_domain_check_reports_no_problems_and_nothing_unmeasured(cli):
    result = cli("domain", "check", FOLDER)
    assert result.code == 0, result.out + result.err
    assert result.out.strip().splitlines() == [f"{FOLDER}: OK"]


def test_persona_and_tools(domain):
    assert domain.name == "mailbot" and domain.assistant == "Mailbot" and domain.wire_format == "tool_call"
    prompt = domain.system_prompt("2026-05-01")
    assert prompt.startswith("You are Mailbot") and "Today is 2026-05-01." in prompt
    names = [t["function"]["name"] for t in domain.tools]
    assert len(names) >= 6
    # Capability case ids are capability/<first word>-NN: a shared first word would mix two tools' cases.
    assert len({n.split("_")[0] for n in names}) == len(names)


def test_intents_cover_eight_categories_each_in_both_splits(domain):
    intents = domain.intents
    assert len(intents) >= 40 and len({i["id"] for i in intents}) == len(intents)
    per_category = defaultdict(Counter)
    for intent in intents:
        per_category[intent["harm_category"]][intent["split"]] += 1
    assert len(per_category) >= 8
    assert set(per_category) <= set(domain.taxonomy["harm_categories"])
    for category, splits in per_category.items():
        assert splits["train"] and splits["test"] and sum(splits.values()) >= 4, (category, splits)
    assert 0.5 <= sum(s["train"] for s in per_category.values()) / len(intents) <= 0.65
    for intent in intents:
        assert 2 <= len(intent["escalation"]) <= 4 and intent["alternatives"], intent["id"]


def test_lookalikes_and_ambiguous_requests_cover_the_domain(domain):
    tools = {t["function"]["name"] for t in domain.tools}
    lookalikes, ambiguous = domain.lookalikes, domain.ambiguous
    assert len(lookalikes) >= 40 and len(ambiguous) >= 10
    assert {r["expected_tool"]["name"] for r in lookalikes} == tools
    assert {r["harm_category"] for r in lookalikes} >= {i["harm_category"] for i in domain.intents}
    assert {r["split"] for r in lookalikes} == {r["split"] for r in ambiguous} == {"train", "test"}
    assert [r["id"] for r in ambiguous if "?" not in r["clarify_question"]] == []


def test_every_tool_has_capability_templates_and_cases(domain, cases):
    tools = {t["function"]["name"] for t in domain.tools}
    assert set(domain.capability["tools"]) == tools
    made = Counter(c["reference_call"]["name"] for c in cases if c["category"] == "capability")
    assert set(made) == tools and min(made.values()) >= 12, made


def test_the_suite_keeps_each_intent_in_one_split(cases):
    harmful = [c for c in cases if c["expected"] == "refuse"]
    assert {c["split"] for c in harmful} == {"train", "test"}
    splits = defaultdict(set)
    for case in harmful:
        splits[case["intent_id"]].add(case["split"])
    assert all(len(s) == 1 for s in splits.values()), {i: s for i, s in splits.items() if len(s) > 1}
    assert {c["category"] for c in cases} >= {"harmful_direct", "reframing", "escalation", "benign_edge", "ambiguous",
                                               "capability"}


def test_every_reference_call_is_a_valid_right_answer(domain, cases):
    schemas = schemas_by_name(domain.tools)
    checked = [c for c in cases if c["category"] in ("benign_edge", "capability")]
    assert len(checked) == len(domain.lookalikes) + sum(s["count"] for s in domain.capability["tools"].values())
    assert [c["id"] for c in checked if not _right_call(c, schemas)] == []
    for row in domain.ambiguous:
        if "reference_call" in row:
            call = row["reference_call"]
            assert validate_call(call["name"], call["arguments"], schemas)[0], row["id"]


def test_a_wrong_call_fails_the_lookalike_check(domain):
    # The scorer check above must be able to fail: the same reference call with another message id does not pass.
    row = next(r for r in domain.lookalikes if r["id"] == "forward-phishing-to-security")
    wrong = {**row["reference_call"], "arguments": {**row["reference_call"]["arguments"], "email_id": "msg-9999"}}
    assert not task_correct(row["expected_tool"], [{"valid": True, **wrong}])


def test_guard_patterns_flag_harmful_requests_but_no_lookalike(domain):
    policy = {name: h["guard"] for name, h in domain.taxonomy["harm_categories"].items()}
    guard = Guard(judge=None, policy=policy)
    # Serve checks the user's words and the proposed call's arguments; a legitimate request trips neither.
    flagged = {r["id"]: guard.flag(text) for r in domain.lookalikes
               for text in (r["request"], json.dumps(r["reference_call"]["arguments"], ensure_ascii=False))
               if guard.flag(text)}
    assert flagged == {}
    requests = [i["request"] for i in domain.intents]
    assert sum(guard.flag(r) is not None for r in requests) >= len(requests) / 3
    # No category's patterns are dead: each flags at least one direct request of its own intents.
    for name, rule in policy.items():
        own = [i["request"] for i in domain.intents if i["harm_category"] == name]
        assert any(Guard(judge=None, policy={name: rule}).flag(r) for r in own), name
