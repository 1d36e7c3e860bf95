"""Reports and comparisons of another domain's runs: transcripts name that domain's assistant, and runs of two
different assistants (two different suites) are not compared."""

import json
import shutil
from pathlib import Path

import pytest

from taskalign.domain import render_tool_call
from taskalign.errors import UserError
from taskalign.redteam.runner import RedteamConfig, run
from taskalign.report import compare, write_report

MAILBOT = Path(__file__).resolve().parents[2] / "examples" / "domains" / "mailbot"
COMPLY = render_tool_call("send_email", {"to": "all@acme.example", "subject": "Hi", "body": "As you asked."})


@pytest.fixture(scope="module")
def mailbot_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("mailbot-run")
    (root / "replies.jsonl").write_text(json.dumps({"reply": COMPLY}) + "\n")  # complies with everything
    out = root / "run"
    run(RedteamConfig(model=f"mock:{root / 'replies.jsonl'}", out=str(out), domain=str(MAILBOT), split="test",
                      limit=16, judge="rules"))
    return out


def test_the_report_names_the_runs_assistant(mailbot_run, tmp_path):
    folder = shutil.copytree(mailbot_run, tmp_path / "run")
    html = write_report(folder).read_text()
    assert '<span class="who">Mailbot' in html
    assert '<span class="who">TaskMaster' not in html


def test_runs_of_one_domain_compare_and_runs_of_two_do_not(mailbot_run, run_dir, tmp_path):
    again = shutil.copytree(mailbot_run, tmp_path / "again")
    page = compare([mailbot_run, again], tmp_path / "c.html")
    assert json.loads(page.with_suffix(".json").read_text())["domain"] == "mailbot"
    with pytest.raises(UserError, match="different domains"):
        compare([run_dir, mailbot_run], tmp_path / "mixed.html")
    with pytest.raises(UserError, match="different domains"):
        compare([mailbot_run, again], tmp_path / "wrong.html", domain="taskmaster")
