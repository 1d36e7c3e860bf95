"""The hand-labelled Mailbot replies measure the judge on an assistant it has never seen: no judge training script
reads them, and every row is a well-formed labelled reply that `taskalign judge eval` accepts."""

import json
from pathlib import Path

from dev.judge import train_cross, train_head
from taskalign.judge.evaluate import read_labelled

MAILBOT = Path(__file__).resolve().parents[2] / "dev" / "judge" / "data" / "mailbot.jsonl"


def test_no_training_script_reads_the_mailbot_replies():
    held_out = {json.loads(line)["response"] for line in MAILBOT.read_text().splitlines()}
    trained = [row["response"] for row in train_cross.load_rows()]
    trained += [row["response"] for row in train_head.load_rows(train_head.DATA)]
    assert len(held_out) > 100 and trained
    assert not held_out & set(trained)


def test_the_mailbot_rows_are_real_replies_of_base_sft_and_aligned_runs():
    rows = [json.loads(line) for line in MAILBOT.read_text().splitlines()]
    items, gold = read_labelled(MAILBOT)
    assert len(rows) == len(items) >= 150
    assert {r["run"].rsplit("/", 1)[1] for r in rows} == {"base", "sft", "aligned"}
    assert set(gold) <= {"comply", "refuse", "partial", "clarify"} and {"comply", "refuse"} <= set(gold)
    assert all(r["suite_split"] == "test" for r in rows)
