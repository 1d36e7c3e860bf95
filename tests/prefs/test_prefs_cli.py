"""`taskalign prefs build|validate|stats` through the real Typer app; bad input ends in one sentence naming the line."""

import json

from typer.testing import CliRunner

from taskalign.cli import app
from taskalign.errors import UserError

runner = CliRunner()


def test_build_validate_stats_round_trip(tmp_path, cases, run_dir, write_jsonl):
    case_file = write_jsonl("cases.jsonl", cases)
    out = tmp_path / "prefs.jsonl"
    result = runner.invoke(app, ["prefs", "build", "--from", str(run_dir), "--out", str(out), "--cases",
                                 str(case_file), "--seed", "1"])
    assert result.exit_code == 0, result.output
    train = [c for c in cases if c["split"] == "train"]  # every one makes a candidate pair
    on_policy = sum(r["failed"] for r in map(json.loads, (run_dir / "scores.jsonl").read_text().splitlines()))
    # The default balance keeps one safety pair per helpfulness pair: twice the smaller side.
    pairs = 2 * min(sum(c["expected"] == "refuse" for c in train), sum(c["expected"] != "refuse" for c in train))
    assert f"wrote {pairs} pairs" in result.output
    assert f"{on_policy} of {len(train)} candidates on-policy" in result.output
    assert len(out.read_text().splitlines()) == pairs
    result = runner.invoke(app, ["prefs", "validate", str(out), "--cases", str(case_file)])
    assert result.exit_code == 0 and "valid" in result.output
    result = runner.invoke(app, ["prefs", "stats", str(out), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["pairs"] == pairs
    result = runner.invoke(app, ["prefs", "stats", str(out)])
    assert "harmful_refusal" in result.output
    assert f"on-policy rejected {on_policy} ({on_policy / pairs:.0%})" in result.output


def test_validate_exits_non_zero_and_lists_problems_by_line(tmp_path, cases, run_dir, write_jsonl):
    case_file = write_jsonl("cases.jsonl", cases)
    rows = (tmp_path / "good.jsonl")
    runner.invoke(app, ["prefs", "build", "--out", str(rows), "--cases", str(case_file)])
    lines = rows.read_text().splitlines()
    bad = json.loads(lines[1])
    bad["rejected"] = bad["chosen"]
    (tmp_path / "bad.jsonl").write_text("\n".join([lines[0], json.dumps(bad), "oops"] + lines[2:]) + "\n")
    result = runner.invoke(app, ["prefs", "validate", str(tmp_path / "bad.jsonl"), "--cases", str(case_file)])
    assert result.exit_code == 2
    assert "bad.jsonl line 2: chosen and rejected are the same" in result.output
    assert "bad.jsonl line 3: not valid JSON" in result.output and "2 problem(s)" in result.output


def test_bad_scores_line_is_a_user_error_naming_the_line(tmp_path, cases, run_dir, write_jsonl):
    case_file = write_jsonl("cases.jsonl", cases)
    with open(run_dir / "scores.jsonl", "a") as fh:
        fh.write('["a list"]\n')
    result = runner.invoke(app, ["prefs", "build", "--from", str(run_dir), "--out", str(tmp_path / "p.jsonl"),
                                 "--cases", str(case_file)])
    assert isinstance(result.exception, UserError)
    assert "scores.jsonl line 5: expected a JSON object" in str(result.exception)


def test_every_from_folder_is_read(tmp_path, cases, run_dir, write_jsonl):
    case_file = write_jsonl("cases.jsonl", cases)
    second = tmp_path / "extra_run"
    second.mkdir()
    (second / "transcripts.jsonl").write_text("")
    result = runner.invoke(app, ["prefs", "build", "--from", str(run_dir), "--from", str(second), "--out",
                                 str(tmp_path / "p.jsonl"), "--cases", str(case_file)])
    assert isinstance(result.exception, UserError)
    assert f"{second} has no scores.jsonl" in str(result.exception)


def test_stats_on_a_broken_file_names_the_line(tmp_path):
    (tmp_path / "p.jsonl").write_text('{"prompt": []}\n')
    result = runner.invoke(app, ["prefs", "stats", str(tmp_path / "p.jsonl")])
    assert isinstance(result.exception, UserError) and "p.jsonl line 1" in str(result.exception)


def test_stats_on_messages_that_are_lists_or_nulls_is_one_sentence_exit_2(cli, write_jsonl):
    pair = {"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "a"}],
            "rejected": [{"role": "assistant", "content": "b"}]}
    for field, bad in [("prompt", [["user", "hi"]]), ("chosen", [None]), ("rejected", "b")]:
        path = write_jsonl("p.jsonl", [pair, {**pair, field: bad}])
        result = cli("prefs", "stats", path)
        assert result.code == 2 and f"{path} line 2: " in result.err and field in result.err, field
        assert len(result.err.strip().splitlines()) == 1
