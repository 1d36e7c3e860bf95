"""`taskalign domain new|check|list`: a scaffolded folder passes the check and yields a suite; broken files are
reported with their line; missing files say which metrics go unmeasured; bad input writes nothing."""

import json

import pytest
from typer.testing import CliRunner

from taskalign.cli import app
from taskalign.domain import load_domain
from taskalign.errors import UserError
from taskalign.suite import domain_cases

runner = CliRunner()


@pytest.fixture
def tools_file(tmp_path):
    tools = [{"type": "function", "function": {
        "name": "send_email", "description": "Send an email.",
        "parameters": {"type": "object", "required": ["to", "subject"], "properties": {
            "to": {"type": "string"}, "subject": {"type": "string"}, "urgent": {"type": "boolean"}}}}},
        {"type": "function", "function": {"name": "archive", "parameters": {
            "type": "object", "required": ["folder"], "properties": {"folder": {"type": "string",
                                                                                 "enum": ["old", "spam"]}}}}}]
    path = tmp_path / "tools.json"
    path.write_text(json.dumps(tools))
    return path


@pytest.fixture
def folder(tmp_path, tools_file):
    out = tmp_path / "mailbot"
    result = runner.invoke(app, ["domain", "new", "mailbot", "--tools", str(tools_file), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_a_new_domain_passes_the_check_and_makes_a_suite_with_its_tools(folder):
    result = runner.invoke(app, ["domain", "check", str(folder)])
    assert result.exit_code == 0 and "OK" in result.output, result.output
    domain = load_domain(folder)
    assert domain.name == "mailbot" and [t["function"]["name"] for t in domain.tools] == ["send_email", "archive"]
    assert "You are Mailbot" in domain.system_prompt() and "send_email(to, subject, urgent?)" in domain.system_prompt()
    cases = domain_cases(folder)
    by_category = {c["category"] for c in cases}
    assert {"harmful_direct", "jailbreak_roleplay", "benign_edge", "ambiguous", "capability"} <= by_category
    capability = [c for c in cases if c["category"] == "capability"]
    assert {c["reference_call"]["name"] for c in capability} == {"send_email", "archive"}
    assert all(c["reference_call"]["arguments"].get("folder") in (None, "old") for c in capability)
    # Splits stay by whole intents: every case of an intent shares its split.
    assert len({c["split"] for c in cases if c.get("intent_id") == "read-partner-email"}) == 1


def test_check_names_file_and_line_of_each_problem_and_exits_2(folder):
    with (folder / "intents.jsonl").open("a") as f:
        f.write('{"id": "x", "harm_category": "nope", "split": "train"}\n')
    with (folder / "lookalikes.jsonl").open("a") as f:
        f.write(json.dumps({"id": "bad-call", "split": "test", "request": "Archive it",
                            "expected_tool": {"name": "archive", "arguments": {"folder": "old"}},
                            "reference_call": {"name": "archive", "arguments": {"folder": "attic"}}}) + "\n")
    result = runner.invoke(app, ["domain", "check", str(folder)])
    assert result.exit_code == 2
    assert f"{folder / 'intents.jsonl'} line 2: harm_category 'nope' is not in the taxonomy" in result.output
    assert f"{folder / 'intents.jsonl'} line 2: 'escalation' must be a list" in result.output
    assert f"{folder / 'lookalikes.jsonl'} line 2: reference_call arguments do not match the archive schema" in result.output


def test_check_says_which_metrics_missing_files_leave_unmeasured(folder):
    text = (folder / "domain.yaml").read_text().splitlines()
    kept = [line for line in text if not line.startswith(("lookalikes:", "ambiguous:", "capability:"))]
    (folder / "domain.yaml").write_text("\n".join(kept) + "\n")
    result = runner.invoke(app, ["domain", "check", str(folder)])
    assert result.exit_code == 0, result.output
    assert "note: no benign look-alikes ('lookalikes'): false_refusal unmeasured" in result.output
    assert "note: no ambiguous requests ('ambiguous'): clarification unmeasured" in result.output
    assert "no capability cases and no SFT conversations" in result.output
    assert "unmeasured in all: false_refusal, clarification, task_accuracy, tool_call_validity" in result.output


def test_new_refuses_invalid_tools_and_an_existing_folder_and_writes_nothing(tmp_path, tools_file, folder):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"type": "function", "function": {"name": "x", "parameters": {"type": "array"}}}]))
    result = runner.invoke(app, ["domain", "new", "other", "--tools", str(bad), "--out", str(tmp_path / "other")])
    # A UserError: `taskalign` prints it as one line and exits 2.
    assert isinstance(result.exception, UserError) and "tool x: 'parameters' must be a JSON schema" in str(result.exception)
    assert not (tmp_path / "other").exists() and not list(tmp_path.glob(".*tmp"))
    result = runner.invoke(app, ["domain", "new", "mailbot", "--tools", str(tools_file), "--out", str(folder)])
    assert isinstance(result.exception, UserError) and "already exists and is not empty" in str(result.exception)


def test_list_shows_the_builtin_domains():
    result = runner.invoke(app, ["domain", "list"])
    assert result.exit_code == 0 and result.output.startswith("taskmaster\tTaskMaster\t5 tools")
