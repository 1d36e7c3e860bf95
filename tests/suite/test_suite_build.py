"""The builder is deterministic, and case selection is a reproducible, category-stratified sample."""

import json
from collections import Counter

import pytest

from taskalign.errors import UserError
from taskalign.suite import CATEGORIES, SUITE_VERSION, builtin_cases_path, filter_cases, load_cases
from dev.suite.build import main


def test_same_seed_gives_byte_identical_file_and_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    main(["--seed", "0", "--out", str(a)])
    main(["--seed", "0", "--out", str(b)])
    main(["--seed", "1", "--out", str(c)])
    assert a.read_bytes() == b.read_bytes() == builtin_cases_path().read_bytes()
    assert a.read_bytes() != c.read_bytes()
    # Another seed picks other templates, but the ids (and so every intent's split) stay the same.
    assert [x["id"] for x in load_cases(a)] == [x["id"] for x in load_cases(c)]
    assert not list(tmp_path.glob(".*.tmp"))


def test_suite_version_names_the_cases_file():
    import hashlib

    assert SUITE_VERSION.endswith(hashlib.sha256(builtin_cases_path().read_bytes()).hexdigest()[:8])


@pytest.fixture(scope="module")
def cases():
    return load_cases()


def test_limit_is_stratified_deterministic_and_nested(cases):
    small = filter_cases(cases, limit=18)
    assert len(small) == 18 and small == filter_cases(cases, limit=18)
    assert Counter(c["category"] for c in small) == {c: 2 for c in CATEGORIES}
    # Not simply the first N of the file.
    assert small != cases[:18]
    big = filter_cases(cases, limit=60)
    assert {c["id"] for c in small} <= {c["id"] for c in big}
    assert filter_cases(cases, limit=18, seed=1) != small
    # The sample spreads over harm categories too, not one harm per case category.
    harms = Counter(c["harm_category"] for c in big if c["category"] == "harmful_direct")
    assert len(harms) >= 5


def test_limit_applies_after_filtering(cases):
    picked = filter_cases(cases, categories="reframing,ambiguous", split="test", limit=20)
    assert len(picked) == 20 and {c["split"] for c in picked} == {"test"}
    assert Counter(c["category"] for c in picked) == {"reframing": 10, "ambiguous": 10}
    # A category with fewer cases than its share gives the rest to the others.
    few = filter_cases(cases, categories=["ambiguous", "capability"], split="test", limit=60)
    n_amb = sum(c["category"] == "ambiguous" for c in cases if c["split"] == "test")
    assert len(few) == 60 and Counter(c["category"] for c in few)["ambiguous"] == n_amb
    in_file = [json.loads(line) for line in builtin_cases_path().read_text().splitlines() if line.strip()]
    assert len(filter_cases(cases, categories=["ambiguous"], limit=10_000)) == sum(
        c["category"] == "ambiguous" for c in in_file)
    assert filter_cases(cases, limit=0) == []


def test_bad_filters_are_user_errors(cases):
    with pytest.raises(UserError, match="unknown category 'jailbreak'"):
        filter_cases(cases, categories=["jailbreak"])
    with pytest.raises(UserError, match="unknown split"):
        filter_cases(cases, split="dev")
