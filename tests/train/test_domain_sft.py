"""SFT conversations for any domain: built from its capability templates with its own prompt, tools and wire format,
every tool in proportion to its count, deterministic, never a test request; `train sft --domain DIR` trains on them."""

import json
from collections import Counter

import pytest

from taskalign.domain import DEFAULT_TODAY, load_domain, parse_tool_calls
from taskalign.errors import UserError
from taskalign.suite import domain_cases
from taskalign.train import domain_sft, sft, sft_data

TOOLS = [
    {"type": "function", "function": {
        "name": "send_email", "description": "Send an email.",
        "parameters": {"type": "object", "required": ["to", "subject"], "properties": {
            "to": {"type": "string"}, "subject": {"type": "string"}, "urgent": {"type": "boolean"}}}}},
    {"type": "function", "function": {
        "name": "archive_folder", "description": "Archive a mail folder.",
        "parameters": {"type": "object", "required": ["folder"], "properties": {
            "folder": {"type": "string", "enum": ["old", "spam", "newsletters"]}}}}}]

CAPABILITY = """
vocab:
  people: [ana@example.com, bo@example.com, cy@example.com, dee@example.com]
  subjects: [the budget, lunch on Friday, the offsite, the contract renewal, holiday plans]
tools:
  send_email:
    count: 6
    draw: {who: {choice: people}, about: {choice: subjects}}
    requests:
      - say: "Email {who} about {about}."
        call: {to: "{who}", subject: "{about}"}
      - say: "Send an urgent note to {who}: {about}."
        call: {to: "{who}", subject: "{about}", urgent: true}
  archive_folder:
    count: 3
    draw: {folder: {choice: [old, spam, newsletters]}}
    requests:
      - say: "Archive my {folder} folder."
        call: {folder: "{folder}"}
      - say: "Please move everything in {folder} to the archive."
        call: {folder: "{folder}"}
"""


def write_domain(folder, capability: bool = True):
    folder.mkdir()
    (folder / "domain.yaml").write_text("name: mailbot\nassistant: Mailbot\npersona: persona.md\ntools: tools.json\n"
                                        "wire_format: python_tag\n" + ("capability: capability.yaml\n" * capability))
    (folder / "persona.md").write_text("You are Mailbot, a careful email assistant. Today is {today}.\n")
    (folder / "tools.json").write_text(json.dumps(TOOLS))
    (folder / "capability.yaml").write_text(CAPABILITY)
    return folder


@pytest.fixture
def folder(tmp_path):
    return write_domain(tmp_path / "mailbot")


def test_rows_use_the_domains_prompt_and_wire_format_and_cover_tools_in_proportion(folder):
    domain = load_domain(folder)
    rows = domain_sft.generate(folder, 30)
    assert len(rows) == 30
    assert Counter(r["kind"] for r in rows) == {"send_email": 20, "archive_folder": 10}  # counts 6 : 3
    for row in rows:
        system, user, call, result, done = row["messages"]
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
        assert system["content"] == domain.system_prompt(DEFAULT_TODAY)
        assert "You are Mailbot" in system["content"] and "TaskMaster" not in system["content"]
        assert call["content"].startswith("<|python_tag|>")
        [parsed] = parse_tool_calls(call["content"], domain.tools)
        assert parsed.valid and parsed.name == row["kind"], parsed.error
        for value in parsed.arguments.values():  # the call carries what the request says
            assert value is True or value in user["content"]
        assert json.loads(result["content"])["status"] == "ok"
        assert done["content"] and "<|python_tag|>" not in done["content"]
        assert row["domain"] == "mailbot"


def test_several_requests_per_conversation_each_with_its_call(folder):
    single = domain_sft.generate(folder, 30)
    rows = domain_sft.generate(folder, 10, per_conversation=3)
    assert len(rows) == 10
    for row in rows:
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["system"] + ["user", "assistant", "tool", "assistant"] * 3
        assert sum(m["role"] == "system" for m in row["messages"]) == 1
    # the same requests as 30 one-request conversations, only grouped three to a conversation
    users = [m["content"] for r in rows for m in r["messages"] if m["role"] == "user"]
    assert users == [r["messages"][1]["content"] for r in single]


def test_rows_split_by_largest_remainder_and_small_n_still_exact():
    assert domain_sft.quotas({"a": 2, "b": 1}, 4) == {"a": 3, "b": 1}
    assert domain_sft.quotas({"a": 1, "b": 1, "c": 1}, 2) == {"a": 1, "b": 1, "c": 0}
    assert sum(domain_sft.quotas({"a": 30, "b": 20, "c": 7}, 601).values()) == 601


def test_same_arguments_same_rows_and_another_seed_differs(folder):
    assert domain_sft.generate(folder, 20, seed=1) == domain_sft.generate(folder, 20, seed=1)
    assert domain_sft.generate(folder, 20, seed=1) != domain_sft.generate(folder, 20, seed=2)


def test_excluded_requests_never_appear_and_test_cases_stay_out(folder):
    texts = {r["messages"][1]["content"] for r in domain_sft.generate(folder, 30)}
    banned = set(sorted(texts)[::2])
    kept = {r["messages"][1]["content"] for r in domain_sft.generate(folder, 30, exclude=banned)}
    assert banned and not kept & banned

    held_out = domain_sft.held_out_requests(folder)
    tests = {c["turns"][0] for c in domain_cases(folder) if c["split"] == "test"}
    assert held_out == tests and tests
    rows = domain_sft.generate(folder, 40, exclude=held_out)
    assert not {r["messages"][1]["content"] for r in rows} & tests


def test_a_domain_without_capability_templates_is_a_user_error_naming_its_folder(tmp_path):
    bare = write_domain(tmp_path / "bare", capability=False)
    with pytest.raises(UserError, match="no capability templates") as error:
        domain_sft.generate(bare, 5)
    assert str(bare.resolve()) in str(error.value) and "capability.yaml" in str(error.value)


def test_taskmaster_data_is_unchanged_by_the_domain_setting(tmp_path):
    rows = sft.load_data(sft.SFTSettings(out=str(tmp_path), n_generated=12, domain="taskmaster"), tmp_path)
    written = (tmp_path / "sft_data.jsonl").read_bytes()
    sft_data.write(sft_data.generate(12, 0), tmp_path / "direct.jsonl")
    assert written == (tmp_path / "direct.jsonl").read_bytes()
    assert rows == [{"messages": r["messages"]} for r in sft_data.generate(12, 0)]


def test_train_sft_on_a_domain_folder_trains_on_its_conversations(folder, tiny_model_dir, tmp_path):
    settings = sft.SFTSettings(model=str(tiny_model_dir), out=str(tmp_path / "out"), domain=str(folder),
                               n_generated=6, max_steps=2, batch_size=2, lora_r=4, lora_alpha=8, learning_rate=5e-2,
                               sft={"warmup_steps": 0})
    out = sft.run(settings, log=lambda *a: None)
    rows = [json.loads(line) for line in (out / "sft_data.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and {r["kind"] for r in rows} == {"send_email", "archive_folder"}
    assert {r["messages"][0]["content"] for r in rows} == {load_domain(folder).system_prompt()}
    assert json.loads((out / "taskalign_model.json").read_text())["domain"] == "mailbot"
    assert json.loads((out / "train_config.json").read_text())["domain"] == str(folder)
