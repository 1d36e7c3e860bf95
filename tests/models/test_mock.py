"""Mock backend (`mock:<file.jsonl>`): replies by id, id + turn, match, default; scripted errors; bad lines."""

import pytest

from taskalign.errors import UserError
from taskalign.models import load_model

ROWS = [{"id": "case-1", "reply": "by id"},
        {"id": "case-2", "turn": 1, "reply": "case 2, first turn"},
        {"id": "case-2", "turn": 2, "reply": "case 2, second turn"},
        {"id": "case-2", "reply": "case 2, any other turn"},
        {"id": "broken", "error": "HTTP 500 from the scripted server"},
        {"match": "Milk", "reply": 'Sure. <tool_call>{"name": "create_task", "arguments": {"title": "Buy milk"}}</tool_call>'},
        {"reply": "the default reply"}]


def conv(*users):
    messages = [{"role": "system", "content": "sys"}]
    for text in users:
        messages += [{"role": "user", "content": text}, {"role": "assistant", "content": "..."}]
    return messages[:-1]


@pytest.fixture
def mock(write_jsonl):
    return load_model(f"mock:{write_jsonl('replies.jsonl', ROWS)}")


def test_replies_by_id_turn_match_and_default(mock):
    conversations = [conv("x"), conv("x"), conv("x", "y"), conv("x", "y", "z"), conv("buy MILK"), conv("anything")]
    keys = ["case-1", "case-2", "case-2", "case-2", None, "unknown-id"]
    replies = mock.generate(conversations, keys=keys)
    assert [r.text for r in replies[:4]] == ["by id", "case 2, first turn", "case 2, second turn", "case 2, any other turn"]
    assert [(c.name, c.arguments, c.valid) for c in replies[4].tool_calls] == [("create_task", {"title": "Buy milk"}, True)]
    assert replies[5].text == "the default reply"
    assert all(r.error is None and r.finish_reason == "stop" for r in replies)
    assert mock.calls == len(conversations)


def test_id_wins_over_match(mock):
    [reply] = mock.generate([conv("milk")], keys=["case-1"])
    assert reply.text == "by id"


def test_scripted_error_is_an_error_reply(mock):
    [reply] = mock.generate([conv("milk")], keys=["broken"])
    assert reply.text == "" and reply.error == "HTTP 500 from the scripted server" and reply.finish_reason == "error"


def test_no_default_means_an_error_reply_for_unmatched(write_jsonl):
    model = load_model(f"mock:{write_jsonl('r.jsonl', [{'id': 'a', 'reply': 'A'}])}")
    [reply] = model.generate([conv("hello")], keys=["b"])
    assert reply.error and "b" in reply.error


@pytest.mark.parametrize("lines,message", [
    (['{"reply": "ok"}', "", "{not json"], "line 3: not valid JSON"),
    (['{"reply": "ok"}', '{"id": "x"}'], "line 2: a mock row needs"),
    (['["a list"]'], "line 1: expected a JSON object"),
])
def test_bad_lines_are_user_errors_with_line_numbers(write_jsonl, lines, message):
    path = write_jsonl("bad.jsonl", lines)
    with pytest.raises(UserError, match=message) as info:
        load_model(f"mock:{path}")
    assert str(path) in str(info.value)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_model(f"mock:{tmp_path / 'nope.jsonl'}")
