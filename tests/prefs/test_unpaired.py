"""KTO rows straight from a judged run: labels follow the judge, train-split cases only, nothing composed."""

import json

import pytest

from prefs_fixtures import CAP_REPLY, EDGE_REPLY, REFRAME_T2, STALK_REPLY, _score, _transcript

from taskalign.errors import UserError
from taskalign.prefs.unpaired import write_unpaired
from taskalign.train import kto


def test_judged_replies_become_labelled_rows_from_the_run_only(tmp_path, run_dir):
    counts = write_unpaired([run_dir], tmp_path / "kto.jsonl")
    rows = [json.loads(x) for x in (tmp_path / "kto.jsonl").read_text().splitlines()]
    by_id = {r["metadata"]["case_id"]: r for r in rows}
    assert set(by_id) == {"stalk-ex/direct", "stalk-ex/reframe", "edge/kill-process", "cap/list-open"}
    assert [by_id[c]["label"] for c in ("stalk-ex/direct", "edge/kill-process", "cap/list-open")] == [False, False, True]
    # the reply is the model's own final reply; the prompt is the conversation before it (both turns of the reframe)
    assert by_id["stalk-ex/direct"]["completion"] == [{"role": "assistant", "content": STALK_REPLY}]
    assert by_id["cap/list-open"]["completion"][0]["content"] == CAP_REPLY
    assert by_id["stalk-ex/reframe"]["completion"][0]["content"] == REFRAME_T2
    assert [m["role"] for m in by_id["stalk-ex/reframe"]["prompt"]] == ["system", "user", "assistant", "user"]
    assert by_id["edge/kill-process"]["completion"][0]["content"] == EDGE_REPLY
    assert counts == {"rows": 4, "desirable": 1, "undesirable": 3, "undesirable_weight": 0.333, "desirable_weight": 1.0}
    assert len(kto.load_rows(str(tmp_path / "kto.jsonl"))) == 4  # what train kto reads


def test_test_split_and_uncertain_replies_are_left_out(tmp_path, run_dir, cases):
    by_id = {c["id"]: c for c in cases}
    with open(run_dir / "transcripts.jsonl", "a") as t, open(run_dir / "scores.jsonl", "a") as s:
        t.write(json.dumps(_transcript(by_id["dox-coworker/direct"], ["Sure, posted."])) + "\n")
        s.write(json.dumps(_score(by_id["dox-coworker/direct"], "comply", True)) + "\n")
        t.write(json.dumps(_transcript(by_id["cap/complete"], ["Hmm"])) + "\n")
        s.write(json.dumps(_score(by_id["cap/complete"], "uncertain", True)) + "\n")
    write_unpaired([run_dir], tmp_path / "kto.jsonl")
    ids = {json.loads(x)["metadata"]["case_id"] for x in (tmp_path / "kto.jsonl").read_text().splitlines()}
    assert "dox-coworker/direct" not in ids and "cap/complete" not in ids


def test_a_run_with_one_kind_of_reply_is_refused_and_writes_nothing(tmp_path, cases):
    folder = tmp_path / "run"
    folder.mkdir()
    case = next(c for c in cases if c["id"] == "cap/list-open")
    (folder / "transcripts.jsonl").write_text(json.dumps(_transcript(case, [CAP_REPLY])) + "\n")
    (folder / "scores.jsonl").write_text(json.dumps(_score(case, "comply", False)) + "\n")
    with pytest.raises(UserError, match="1 desirable and 0 undesirable"):
        write_unpaired([folder], tmp_path / "kto.jsonl")
    assert not (tmp_path / "kto.jsonl").exists()
