"""The domain folder format: TaskMaster read through load_domain gives today's prompt, tools, taxonomy and suite."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from taskalign import taxonomy
from taskalign.domain import load_domain, system_prompt
from taskalign.errors import UserError
from taskalign.files import dumps
from taskalign.suite import builtin_cases_path, domain_cases, load_cases, suite_version
from taskalign.suite.build import build_cases

ROOT = Path(__file__).resolve().parents[2]


def test_the_builtin_suite_rebuilt_through_the_domain_is_byte_identical_to_the_committed_file():
    domain = load_domain("taskmaster")
    built = "".join(dumps(c) + "\n" for c in build_cases(domain, seed=0)).encode()
    assert built == domain.cases_path.read_bytes() == builtin_cases_path().read_bytes()
    assert len(load_cases()) == 980


def test_the_suite_builder_script_writes_the_committed_file(tmp_path):
    out = tmp_path / "cases.jsonl"
    done = subprocess.run([sys.executable, "-m", "dev.suite.build", "--domain", "taskmaster", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == builtin_cases_path().read_bytes()


def test_taskmaster_prompt_tools_and_taxonomy_come_from_its_folder():
    domain = load_domain()
    assert domain.name == "taskmaster" and domain.assistant == "TaskMaster" and domain.wire_format == "tool_call"
    assert domain.system_prompt().startswith("You are TaskMaster") and "Today is 2026-03-02." in domain.system_prompt()
    assert system_prompt(today="2026-05-01") == domain.system_prompt("2026-05-01")
    assert [t["function"]["name"] for t in domain.tools][:2] == ["create_task", "list_tasks"]
    assert domain.taxonomy is taxonomy.DATA and taxonomy.DATA_PATH == domain.path("taxonomy")
    assert {i["harm_category"] for i in domain.intents} <= set(taxonomy.HARM_CATEGORIES)
    assert domain.bank["refusals"]


@pytest.fixture
def copy(tmp_path):
    """TaskMaster's folder without its prebuilt suite: the suite is then built from its data files."""
    folder = tmp_path / "tm"
    shutil.copytree(load_domain().root, folder)
    (folder / "cases.jsonl").unlink()
    return folder


def test_a_domain_without_a_cases_file_builds_the_same_suite_and_names_itself_in_the_version(copy):
    text = (copy / "domain.yaml").read_text().replace("name: taskmaster", "name: tm-copy")
    (copy / "domain.yaml").write_text(text)
    assert domain_cases(copy) == load_cases()
    assert suite_version(copy).startswith("tm-copy-") and suite_version(copy).endswith(suite_version().split("+")[1])


def test_a_domain_without_optional_files_has_no_cases_of_those_kinds(copy):
    text = "\n".join(l for l in (copy / "domain.yaml").read_text().splitlines()
                     if not l.startswith(("ambiguous:", "capability:", "cases:")))
    (copy / "domain.yaml").write_text(text)
    categories = {c["category"] for c in domain_cases(copy)}
    assert "ambiguous" not in categories and "capability" not in categories and "benign_edge" in categories


def test_a_domain_taxonomy_file_replaces_only_its_sections(copy):
    harms = {"phishing": {"what": "tricking people", "guard": {"reason": "it deceives people", "alternatives": "x",
                                                                "patterns": ["\\bphish"]}}}
    (copy / "harms.yaml").write_text(json.dumps({"harm_categories": harms}))
    (copy / "domain.yaml").write_text((copy / "domain.yaml").read_text().replace("taxonomy: taxonomy.yaml",
                                                                               "taxonomy: harms.yaml"))
    merged = load_domain(copy).taxonomy
    assert list(merged["harm_categories"]) == ["phishing"] and merged["metrics"] == taxonomy.DATA["metrics"]


@pytest.mark.parametrize("edit, message", [
    (("name: taskmaster", "name: Task Master"), "'name' must be lower-case"),
    (("wire_format: tool_call", "wire_format: xml"), "line 9: wire_format must be one of tool_call, python_tag"),
    (("bank: refusals.json", "bank: refusals.json\ncolour: blue"), "unknown key 'colour'"),
    (("tools: tools.json", "tools: missing.json"), "tools file"),
])
def test_a_broken_domain_yaml_is_one_sentence_naming_the_file(copy, edit, message):
    (copy / "domain.yaml").write_text((copy / "domain.yaml").read_text().replace(*edit))
    with pytest.raises(UserError, match=message) as err:
        load_domain(copy).tools
    assert str(copy / "domain.yaml") in str(err.value) or "missing.json" in str(err.value)


def test_an_unknown_domain_name_says_what_exists(tmp_path):
    with pytest.raises(UserError, match="no built-in domain of that name \\(taskmaster"):
        load_domain("mailbot-nope")
