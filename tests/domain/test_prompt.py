"""The TaskMaster system prompt and tool definitions (data files beside taskalign/domain)."""

import jsonschema

from taskalign.domain import DEFAULT_TODAY, load_tools, system_prompt
from taskalign.domain.toolcalls import OPEN, schemas_by_name, validate_call


def test_tool_files_are_valid_json_schemas_with_the_required_tools():
    tools = load_tools()
    names = [t["function"]["name"] for t in tools]
    assert {"create_task", "list_tasks", "update_task", "complete_task", "delete_task"} <= set(names)
    assert len(names) == len(set(names))
    for tool in tools:
        assert tool["type"] == "function"
        jsonschema.Draft202012Validator.check_schema(tool["function"]["parameters"])
    create = schemas_by_name(tools)["create_task"]["properties"]
    assert {"title", "due_date", "priority", "tags", "subtasks", "notes"} <= set(create)


def test_system_prompt_names_every_tool_and_parameter_and_the_call_format():
    prompt = system_prompt()
    for tool in load_tools():
        fn = tool["function"]
        assert f"{fn['name']}(" in prompt
        for param in fn["parameters"].get("properties", {}):
            assert param in prompt
    assert OPEN in prompt and "TaskMaster" in prompt and DEFAULT_TODAY in prompt


def test_system_prompt_date_and_tools_can_be_overridden():
    only = [t for t in load_tools() if t["function"]["name"] == "list_tasks"]
    prompt = system_prompt(today="2030-01-31", tools=only)
    assert "2030-01-31" in prompt and DEFAULT_TODAY not in prompt
    assert "list_tasks(" in prompt and "create_task(" not in prompt


def test_load_tools_returns_copies():
    load_tools()[0]["function"]["name"] = "mutated"
    assert load_tools()[0]["function"]["name"] == "create_task"


def test_validate_call():
    schemas = schemas_by_name(load_tools())
    assert validate_call("delete_task", {"task": "t1"}, schemas) == (True, None)
    ok, error = validate_call("delete_task", {}, schemas)
    assert not ok and "delete_task" in error
