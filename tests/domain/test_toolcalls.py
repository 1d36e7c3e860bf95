"""Tool-call wire format: property tests (render → parse round trips, parse never raises) and malformed examples.

    .venv/bin/python -m pytest tests/domain -q
"""

import json
import re

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskalign.domain import load_tools
from taskalign.domain.toolcalls import (CLOSE, OPEN, PYTHON_TAG, ToolCall, parse_tool_calls, render_tool_call,
                                        split_tool_calls, strip_tool_calls)

TOOLS = load_tools()
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def from_schema(spec: dict) -> st.SearchStrategy:
    """Values valid under the small JSON-schema subset tools.json uses."""
    if "enum" in spec:
        return st.sampled_from(spec["enum"])
    kind = spec.get("type")
    if kind == "string" and spec.get("format") == "date":
        return st.dates().map(lambda d: d.isoformat()).filter(lambda s: len(s) == 10)
    if kind == "string":
        return st.from_regex(spec["pattern"], fullmatch=True) if "pattern" in spec \
            else st.text(min_size=spec.get("minLength", 0), max_size=30)
    if kind == "array":
        return st.lists(from_schema(spec["items"]), max_size=4)
    if kind == "integer":
        return st.integers()
    if kind == "boolean":
        return st.booleans()
    assert kind == "object", f"from_schema does not know {spec}"
    props, required = spec.get("properties", {}), set(spec.get("required", []))
    return st.fixed_dictionaries({k: from_schema(v) for k, v in props.items() if k in required},
                                 optional={k: from_schema(v) for k, v in props.items() if k not in required})


valid_calls = st.sampled_from(sorted(SCHEMAS)).flatmap(lambda name: st.tuples(st.just(name), from_schema(SCHEMAS[name])))
prose = st.text(max_size=40).filter(lambda t: OPEN not in t)
fragments = st.sampled_from([OPEN, CLOSE, "{", "}", "[", "]", '"', "'", ":", ",", '"name"', '"arguments"', "create_task",
                             "\\", "True", "null", " ", "\n", "<tool_", "call>", "1e999", "{1, 2}", "b'x'"])
tagged_garbage = st.lists(st.one_of(fragments, st.text(max_size=8)), max_size=30).map("".join)


def assert_well_formed(calls: list[ToolCall]) -> None:
    for call in calls:
        assert isinstance(call.valid, bool)
        assert call.valid == (call.error is None), call
        if call.valid:
            jsonschema.validate(call.arguments, SCHEMAS[call.name], format_checker=jsonschema.FormatChecker(["date"]))
        json.dumps(call.to_dict())  # transcripts must always be writable


@FAST
@given(valid_calls)
def test_render_then_parse_round_trips(call):
    name, arguments = call
    parsed = parse_tool_calls(render_tool_call(name, arguments))
    assert [(c.name, c.arguments, c.valid, c.error) for c in parsed] == [(name, arguments, True, None)]


@FAST
@given(st.lists(st.tuples(prose, valid_calls), min_size=1, max_size=4), prose)
def test_several_calls_with_prose_round_trip_in_order(pieces, tail):
    text = "".join(p + render_tool_call(*c) for p, c in pieces) + tail
    parsed = parse_tool_calls(text)
    assert [(c.name, c.arguments, c.valid) for c in parsed] == [(n, a, True) for _, (n, a) in pieces]
    assert strip_tool_calls(text) == re.sub(r"\s+", " ", " ".join([p for p, _ in pieces] + [tail])).strip()


@FAST
@given(valid_calls)
def test_rendered_calls_survive_a_regex_parser(call):
    """vLLM's hermes parser cuts at the first closing tag: tags inside argument strings must not end the call."""
    bodies = re.findall(re.escape(OPEN) + "(.*?)" + re.escape(CLOSE), render_tool_call(*call), re.S)
    assert [json.loads(b) for b in bodies] == [{"name": call[0], "arguments": call[1]}]


def test_a_bare_python_tag_is_one_invalid_call():
    """Hypothesis draws the tag itself from the parser's constants: a tag with no body is a call, reported invalid."""
    assert [(c.valid, c.name) for c in parse_tool_calls(PYTHON_TAG)] == [(False, None)]
    assert [c.valid for c in parse_tool_calls(OPEN + PYTHON_TAG)] == [False, False]


@FAST
@given(st.text())
def test_parse_never_raises_on_arbitrary_text(text):
    calls = parse_tool_calls(text)
    if PYTHON_TAG in text:  # Llama 3's format: one tag may open several calls joined by ';'
        assert len(calls) >= 1
    else:
        assert len(calls) == text.count(OPEN)
    assert_well_formed(calls)
    strip_tool_calls(text)


@FAST
@given(tagged_garbage)
def test_parse_never_raises_on_text_with_tag_fragments(text):
    calls = parse_tool_calls(text)
    assert len(calls) <= text.count(OPEN)
    assert_well_formed(calls)
    assert OPEN not in strip_tool_calls(text)
    text_left, calls_too = split_tool_calls(text)
    assert calls_too == calls and OPEN not in text_left


def test_tags_inside_argument_strings_are_content():
    text = 'ok <tool_call>{"name": "create_task", "arguments": {"title": "a </tool_call> <tool_call> b"}}</tool_call> bye'
    [call] = parse_tool_calls(text)
    assert (call.name, call.arguments, call.valid) == ("create_task", {"title": "a </tool_call> <tool_call> b"}, True)
    assert strip_tool_calls(text) == "ok bye"


CREATE = '{"name": "create_task", "arguments": {"title": "Buy milk"}}'
MALFORMED = {
    "truncated JSON": ('<tool_call>{"name": "create_task", "arguments": {"title": "Buy', "not valid JSON"),
    "truncated and closed": ('<tool_call>{"name": "create_task", "arguments": {"title": </tool_call>', "not valid JSON"),
    "missing closing tag": (f"<tool_call>{CREATE}", "missing </tool_call>"),
    "unknown tool": ('<tool_call>{"name": "hack_account", "arguments": {}}</tool_call>', "unknown tool 'hack_account'"),
    "missing required": ('<tool_call>{"name": "create_task", "arguments": {"priority": "high"}}</tool_call>', "'title'"),
    "bad enum": ('<tool_call>{"name": "create_task", "arguments": {"title": "x", "priority": "asap"}}</tool_call>',
                 "create_task schema"),
    "bad date": ('<tool_call>{"name": "create_task", "arguments": {"title": "x", "due_date": "tomorrow"}}</tool_call>',
                 "create_task schema"),
    "extra argument": ('<tool_call>{"name": "complete_task", "arguments": {"task": "x", "force": true}}</tool_call>',
                       "force"),
    "wrong type": ('<tool_call>{"name": "create_task", "arguments": {"title": "x", "tags": "home"}}</tool_call>',
                   "create_task schema"),
    "not an object": ("<tool_call>[1, 2]</tool_call>", "must be a JSON object"),
    "no name": ('<tool_call>{"arguments": {}}</tool_call>', "string 'name'"),
    "arguments not object": ('<tool_call>{"name": "list_tasks", "arguments": [1]}</tool_call>', "object 'arguments'"),
    "empty body": ("<tool_call></tool_call>", "not valid JSON"),
    "python set value": ("<tool_call>{'name': 'create_task', 'arguments': {'title': {1, 2}}}</tool_call>",
                         "JSON cannot represent"),
}


@pytest.mark.parametrize("text,error_part", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_calls_are_invalid_with_an_error(text, error_part):
    [call] = parse_tool_calls("Sure, here you go: " + text)
    assert call.valid is False
    assert error_part in call.error
    json.dumps(call.to_dict())


def test_single_quotes_are_accepted_as_python_literals():
    [call] = parse_tool_calls("<tool_call>{'name': 'create_task', 'arguments': {'title': 'Run', 'tags': ['am']}}</tool_call>")
    assert (call.name, call.arguments, call.valid) == ("create_task", {"title": "Run", "tags": ["am"]}, True)


def test_string_encoded_arguments_are_decoded():
    text = '<tool_call>{"name": "complete_task", "arguments": "{\\"task\\": \\"t1\\"}"}</tool_call>'
    [call] = parse_tool_calls(text)
    assert (call.arguments, call.valid) == ({"task": "t1"}, True)


def test_several_calls_prose_and_a_bad_one_in_order():
    text = (f"First <tool_call>{CREATE}</tool_call> then <tool_call>{{oops</tool_call> and "
            '<tool_call>{"name": "list_tasks", "arguments": {"status": "open"}}</tool_call> done.')
    calls = parse_tool_calls(text)
    assert [(c.name, c.valid) for c in calls] == [("create_task", True), (None, False), ("list_tasks", True)]
    assert strip_tool_calls(text) == "First then and done."
    kept, same = split_tool_calls(text, keep_invalid=True)
    assert same == calls and kept == "First  then <tool_call>{oops</tool_call> and  done."


def test_split_cuts_the_whole_call_when_an_argument_holds_the_closing_tag():
    text = 'Done. <tool_call>{"name": "create_task", "arguments": {"title": "a </tool_call> b"}}</tool_call>\n'
    prose, [call] = split_tool_calls(text)
    assert prose == "Done."
    assert (call.name, call.arguments, call.valid) == ("create_task", {"title": "a </tool_call> b"}, True)


def test_unclosed_call_followed_by_another_call():
    calls = parse_tool_calls(f'<tool_call>{{"name": "create_task", <tool_call>{CREATE}</tool_call>')
    assert [(c.name, c.valid) for c in calls] == [(None, False), ("create_task", True)]
    assert "missing </tool_call>" in calls[0].error


def test_no_tag_no_calls_and_non_strings_are_empty():
    assert parse_tool_calls("I can't help with that.") == []
    assert parse_tool_calls(None) == [] and parse_tool_calls(42) == []
    assert strip_tool_calls(None) == ""


def test_empty_tool_list_skips_schema_validation():
    [call] = parse_tool_calls('<tool_call>{"name": "anything", "arguments": {"x": 1}}</tool_call>', tools=[])
    assert (call.name, call.valid) == ("anything", True)


@pytest.mark.parametrize("due, valid", [("2024-02-29", True), ("2026-03-09", True), ("2024-02-30", False),
                                        ("2023-02-29", False), ("0000-00-00", False), ("2024-13-45", False),
                                        ("\u0662\u0660\u0662\u0664-\u0660\u0661-\u0660\u0661", False)])
def test_a_tool_call_date_must_be_a_real_calendar_day_in_ascii_digits(due, valid):
    text = '<tool_call>{"name": "create_task", "arguments": {"title": "x", "due_date": "%s"}}</tool_call>' % due
    [call] = parse_tool_calls(text, load_tools())
    assert call.valid is valid, call.error
