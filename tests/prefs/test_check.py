"""validate() names every problem with its line; stats() counts what is in the file."""

import json

from taskalign.prefs import build, stats, validate

SYSTEM = {"role": "system", "content": "You are TaskMaster."}
META = {"case_id": "c", "category": "capability", "intent_id": None, "pair_type": "capability_anchor",
        "source": "composed", "harm_category": None, "on_policy": False}


def _row(prompt=None, chosen="Done.", rejected="No.", **meta):
    return {"prompt": prompt or [SYSTEM, {"role": "user", "content": "hi"}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}], "metadata": {**META, **meta}}


def test_every_problem_is_reported_with_its_line(write_jsonl, cases):
    path = write_jsonl("p.jsonl", [
        _row(),                                                                       # 1 fine
        "{broken",                                                                    # 2
        _row(prompt=[SYSTEM, {"role": "assistant", "content": "hello"}]),            # 3 roles
        _row(chosen="   "),                                                           # 4 empty
        _row(chosen="Same thing", rejected="same   THING"),                           # 5 identical
        _row(chosen='<tool_call>{"name": "create_task", "arguments": {}}</tool_call>'),  # 6 invalid call
        _row(case_id="dox-coworker/direct", intent_id="dox-coworker"),               # 7 test leakage
        _row(prompt=[{"role": "user", "content": "Add a task to shoot the product video on Friday"}]),  # 8 leak
        _row(on_policy="yes"),                                                        # 9 type differs
        {"prompt": [SYSTEM, {"role": "user", "content": "x"}], "chosen": []},        # 10 missing / empty
    ])
    problems = validate(path, cases)
    by_line = {}
    for p in problems:
        assert p.startswith(f"{path} line ")
        by_line.setdefault(int(p.split(" line ")[1].split(":")[0]), []).append(p)
    assert sorted(by_line) == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert "not valid JSON" in by_line[2][0]
    assert "alternating" in by_line[3][0]
    assert "empty content" in by_line[4][0]
    assert "same" in by_line[5][0]
    assert "invalid tool call" in by_line[6][0] and "title" in by_line[6][0]
    assert any("test-split case" in p for p in by_line[7]) and any("intent dox-coworker" in p for p in by_line[7])
    assert "test case edge/shoot-video" in by_line[8][0]
    assert "on_policy" in by_line[9][0]
    assert "missing rejected" in by_line[10][0]


def test_leakage_is_only_checked_when_cases_are_given(write_jsonl):
    path = write_jsonl("p.jsonl", [_row(case_id="dox-coworker/direct", intent_id="dox-coworker")])
    assert validate(path) == []


def test_empty_file_is_a_problem(tmp_path):
    (tmp_path / "p.jsonl").write_text("\n")
    assert validate(tmp_path / "p.jsonl") == [f"{tmp_path / 'p.jsonl'}: the file has no pairs"]


def test_stats_counts_types_categories_lengths_and_on_policy_share(tmp_path, cases, run_dir):
    path = build(run_dir, cases, tmp_path / "p.jsonl", balance=2.0)
    numbers = stats(path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert numbers["pairs"] == len(rows) == sum(numbers["by_pair_type"].values())
    assert numbers["by_pair_type"]["harmful_refusal"] == sum(r["metadata"]["pair_type"] == "harmful_refusal"
                                                             for r in rows)
    stalking = sum(c.get("harm_category") == "stalking" and c["split"] == "train" for c in cases)
    on_policy = sum(r["failed"] for r in map(json.loads, (run_dir / "scores.jsonl").read_text().splitlines()))
    assert numbers["by_harm_category"]["stalking"] == stalking  # balance 2.0 keeps every safety pair
    assert numbers["on_policy"] == on_policy and numbers["on_policy_share"] == round(on_policy / len(rows), 3)
    chosen = numbers["words"]["chosen"]
    assert 0 < chosen["min"] <= chosen["median"] <= chosen["max"] <= 60
    assert numbers["safety_pairs"] + numbers["helpfulness_pairs"] == numbers["pairs"]
