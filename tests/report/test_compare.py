"""Compare of 2-4 real runs: flipped cases, deltas and CI overlap, training curves from a pipeline, bad input, CLI."""

import json
import subprocess
import sys
from html import unescape

import pytest
from report_runs import BROKEN, CASES, FIXED, HARMFUL_TITLE, REPLIES
from typer.testing import CliRunner

from taskalign.errors import UserError
from taskalign.report import compare
from taskalign.report.compare_runs import overlap


def scores(run_dir) -> dict:
    return {r["id"]: r for r in map(json.loads, (run_dir / "scores.jsonl").read_text().splitlines())}


def test_compare_two_runs_finds_flipped_cases(tmp_path, run_dir, after_dir):
    out = compare([run_dir, after_dir], tmp_path / "out" / "cmp.html")
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["labels"] == ["base", "after"]
    flips = data["flips"][0]
    after = scores(after_dir)
    assert {c["id"] for c in flips["fixed"]} == set(FIXED)
    assert [(c["id"], c["failure_mode"]) for c in flips["broken"]] == [(i, after[i]["failure_mode"]) for i in BROKEN]
    errored = [cid for cid, reply in REPLIES.items() if "error" in reply]
    assert errored and flips["n_common"] == len(CASES) - len(errored)  # an errored case counts in neither run
    html, md = out.read_text(), out.with_suffix(".md").read_text()
    for cid in BROKEN:
        assert f'data-case="{cid}" data-flip="broken"' in html and f"| `{cid}` | broken |" in md


def test_deltas_flag_changes_outside_the_cis(tmp_path, run_dir, after_dir):
    data = json.loads(compare([run_dir, after_dir], tmp_path / "c.html").with_suffix(".json").read_text())
    rows = {r["metric"]: r for r in data["metrics"]}
    # Every context-manipulation case complied before and refuses after: [1, 1] against [0, 0], no overlap.
    assert all(c["id"] in FIXED for c in CASES if c["category"] == "context_manipulation")
    context = rows["context_manipulation_success"]["deltas"][0]
    assert context == {"delta": -1.0, "outside_ci": True, "direction": "better", "before": "base", "after": "after"}
    attack = rows["attack_success"]
    summaries = [json.loads((d / "summary.json").read_text())["metrics"] for d in (run_dir, after_dir)]
    assert [attack["runs"][k] for k in ("base", "after")] == [s["attack_success"] for s in summaries]
    assert attack["deltas"][0]["direction"] == "better"
    assert rows["task_accuracy"]["deltas"][0]["direction"] == "worse"  # higher is better for task_accuracy
    assert overlap([0.1, 0.3], [0.3, 0.5]) is True and overlap([0.0, 0.2], [0.3, 0.5]) is False


def test_pipeline_compare_has_three_columns_and_training_curves(pipeline_dir):
    runs = [pipeline_dir / name for name in ("base", "sft", "aligned")]
    out = compare(runs, pipeline_dir / "compare.html")
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["labels"] == ["base", "sft", "aligned"]  # labels come from pipeline.json
    assert [(s["before"], s["after"]) for s in data["steps"]] == [("base", "sft"), ("sft", "aligned"), ("base", "aligned")]
    assert len(data["flips"]) == 2 and {c["id"] for c in data["flips"][1]["fixed"]} == set(FIXED)
    html = out.read_text()
    assert html.count("<img class=\"chart\"") == 2 and "Training curves" in html  # metrics + training chart
    no_training = compare(runs[:2], pipeline_dir / "c2.html", labels=["a", "b"]).read_text()
    assert "Training curves" in no_training  # sft was trained (loss only)


def test_untrained_runs_have_no_training_chart(tmp_path, run_dir, after_dir):
    html = compare([run_dir, after_dir], tmp_path / "c.html", labels=["one", "two"]).read_text()
    assert html.count("<img class=\"chart\"") == 1 and "Training curves" not in html


@pytest.mark.parametrize("count", [1, 5])
def test_compare_needs_two_to_four_runs(tmp_path, run_dir, count):
    with pytest.raises(UserError, match=f"2 to 4 run folders, got {count}"):
        compare([run_dir] * count, tmp_path / "c.html")


def test_compare_rejects_folder_without_summary_and_bad_labels(tmp_path, run_dir):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="empty has no summary.json"):
        compare([run_dir, tmp_path / "empty"], tmp_path / "c.html")
    with pytest.raises(UserError, match="--labels has 1 names for 2 runs"):
        compare([run_dir, run_dir], tmp_path / "c.html", labels=["x"])
    with pytest.raises(UserError, match="not unique"):
        compare([run_dir, run_dir], tmp_path / "c.html")


def test_cli_report_and_compare(tmp_path, run_dir, after_dir):
    from taskalign.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["report", str(run_dir), "--redact"])
    assert result.exit_code == 0, result.output
    assert HARMFUL_TITLE not in unescape((run_dir / "report.html").read_text())
    out = tmp_path / "cmp" / "compare.html"
    result = runner.invoke(app, ["compare", str(run_dir), str(after_dir), "--out", str(out), "--labels", "a, b"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.with_suffix(".json").read_text())["labels"] == ["a", "b"]


def test_cli_bad_input_exits_2_with_one_sentence(run_dir):
    proc = subprocess.run([sys.executable, "-m", "taskalign", "compare", str(run_dir)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: compare takes 2 to 4 run folders, got 1; pass between two and four."
