"""The SFT data generator: deterministic, valid tool calls first, capability only (no refusals, nothing harmful)."""

import json
import re

from taskalign.domain import system_prompt
from taskalign.domain.toolcalls import parse_tool_calls
from taskalign.train import sft_data

# Words that would mean a safety example slipped into the capability data.
FORBIDDEN = re.compile(r"\b(can't help|cannot help|i can't|i won't|sorry|refuse|unable to|not able to|harm|illegal|"
                       r"weapon|stalk|hack|threat|poison|violence|drugs?)\b", re.I)


def test_same_seed_same_rows_and_other_seed_differs():
    assert sft_data.generate(50, seed=3) == sft_data.generate(50, seed=3)
    assert sft_data.generate(50, seed=3) != sft_data.generate(50, seed=4)


def test_every_task_request_is_answered_first_by_a_valid_tool_call():
    rows = sft_data.generate(300, seed=0)
    kinds = {r["kind"] for r in rows}
    assert {"create", "list", "update", "complete", "delete", "multi", "chat"} <= kinds
    names = set()
    for row in rows:
        msgs = row["messages"]
        assert msgs[0] == {"role": "system", "content": system_prompt()}
        for i, msg in enumerate(msgs):
            if msg["role"] == "user" and row["kind"] != "chat":
                reply = msgs[i + 1]
                calls = parse_tool_calls(reply["content"])
                assert reply["role"] == "assistant" and len(calls) == 1 and calls[0].valid, reply
                # the call comes first, after at most one short sentence
                assert len(reply["content"].split("<tool_call>")[0]) < 20
                assert msgs[i + 2]["role"] == "tool" and json.loads(msgs[i + 2]["content"]) is not None
                assert msgs[i + 3]["role"] == "assistant" and "<tool_call>" not in msgs[i + 3]["content"]
                names.add(calls[0].name)
    assert names == {"create_task", "list_tasks", "update_task", "complete_task", "delete_task"}


def test_arguments_are_varied_and_dates_are_absolute():
    calls = [c for r in sft_data.generate(400) for m in r["messages"] if m["role"] == "assistant"
             for c in parse_tool_calls(m["content"])]
    created = [c.arguments for c in calls if c.name == "create_task"]
    for key in ("due_date", "priority", "tags", "subtasks", "notes"):
        assert any(key in a for a in created), key
    assert len({a["title"] for a in created}) > 40
    dates = [a["due_date"] for a in created if "due_date" in a]
    assert all(re.fullmatch(r"2026-\d\d-\d\d", d) and d >= "2026-03-02" for d in dates)


def test_relative_dates_resolve_against_today():
    import random
    from datetime import date

    seen = {}
    rng = random.Random(0)
    for _ in range(300):
        phrase, iso = sft_data.date_phrase(rng, date(2026, 3, 2))  # a Monday
        seen[phrase] = iso
    assert seen["tomorrow"] == "2026-03-03" and seen["next week"] == "2026-03-09"
    assert seen["Friday"] == "2026-03-06" and seen["the end of the month"] == "2026-03-31"


def test_no_refusal_or_harm_words_anywhere():
    for row in sft_data.generate(600):
        for msg in row["messages"][1:]:
            assert not FORBIDDEN.search(msg["content"]), msg["content"]


def test_cli_writes_jsonl(tmp_path):
    out = tmp_path / "sft.jsonl"
    sft_data.main(["--n", "12", "--out", str(out)])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 12 and rows == sft_data.generate(12)
