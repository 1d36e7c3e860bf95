"""Bad requests get a 4xx in the OpenAI error shape, and the keep-alive connection stays usable afterwards.

Covers bodies that once gave a 500 (NaN, Infinity, lone surrogates, non-JSON content types), malformed and deeply
nested JSON, huge numbers, wrong types, null and array bodies, unknown routes and methods; then hypothesis raw bodies.
"""

import hypothesis
import hypothesis.strategies as st
import pytest

from taskalign.models import load_model
from taskalign.serve.app import Limits, create_app
from taskalign.serve.store import Store
from tests.serve.conftest import client, mock_file, running

JSON = {"Content-Type": "application/json"}
CHAT = '{"messages": [{"role": "user", "content": "hi"}]%s}'
CASES = [  # (name, method, path, raw body, headers, status)
    ("title NaN", "POST", "/v1/tasks", '{"title": NaN}', JSON, 400),
    ("title Infinity", "POST", "/v1/tasks", '{"title": -Infinity}', JSON, 400),
    ("title lone surrogate", "POST", "/v1/tasks", '{"title": "bad \\ud800 x"}', JSON, 400),
    ("lone surrogate in a key", "POST", "/v1/tasks", '{"title": "x", "\\udfff": 1}', JSON, 400),
    ("JSON as text/plain", "POST", "/v1/tasks", '{"title": "x"}', {"Content-Type": "text/plain"}, 415),
    ("form data", "POST", "/v1/tasks", "title=x", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
    ("multipart", "POST", "/v1/tasks", '--b\r\nContent-Disposition: form-data; name="title"\r\n\r\nx\r\n--b--\r\n',
     {"Content-Type": "multipart/form-data; boundary=b"}, 415),
    ("no content type", "POST", "/v1/tasks", '{"title": "x"}', {}, 415),
    ("chat temperature Infinity", "POST", "/v1/chat/completions", CHAT % ', "temperature": Infinity', JSON, 400),
    ("chat temperature NaN", "POST", "/v1/chat/completions", CHAT % ', "temperature": NaN', JSON, 400),
    ("chat float overflow", "POST", "/v1/chat/completions", CHAT % ', "max_tokens": 1e400', JSON, 400),
    ("chat 5000-digit integer", "POST", "/v1/chat/completions", CHAT % (', "seed": ' + "9" * 5000), JSON, 400),
    ("chat lone surrogate", "POST", "/v1/chat/completions", '{"messages": [{"role": "user", "content": "\\udc00"}]}',
     JSON, 400),
    ("chat as text/plain", "POST", "/v1/chat/completions", CHAT % "", {"Content-Type": "text/plain"}, 415),
    ("patch NaN", "PATCH", "/v1/tasks/t_x", '{"notes": NaN}', JSON, 400),
    ("patch lone surrogate", "PATCH", "/v1/tasks/t_x", '{"title": "\\ud800"}', JSON, 400),
    ("malformed JSON", "POST", "/v1/tasks", '{"title": ', JSON, 400),
    ("invalid UTF-8", "POST", "/v1/tasks", b'{"title": "\xff\xfe"}', JSON, 400),
    ("nested 9,000 deep", "POST", "/v1/tasks", '{"title": ' + "[" * 9_000 + "]" * 9_000 + "}", JSON, 400),
    ("null body", "POST", "/v1/tasks", "null", JSON, 422),
    ("array body", "POST", "/v1/tasks", "[]", JSON, 422),
    ("empty body", "POST", "/v1/tasks", "", JSON, 422),
    ("wrong type in every field", "POST", "/v1/tasks",
     '{"title": 1, "tags": "a", "subtasks": {}, "priority": 3, "due_date": [], "notes": false}', JSON, 422),
    ("chat null body", "POST", "/v1/chat/completions", "null", JSON, 422),
    ("chat messages of wrong types", "POST", "/v1/chat/completions", '{"messages": [1, null, "x"]}', JSON, 422),
    ("long unknown key", "POST", "/v1/tasks", '{"title": "x", "%s": 1}' % ("k" * 5000), JSON, 422),
    ("body over the limit", "POST", "/v1/tasks", '{"title": "%s"}' % ("x" * 30_000), JSON, 413),
    ("unknown route", "GET", "/v1/nope", None, {}, 404),
    ("unknown method", "PUT", "/v1/tasks", None, {}, 405),
    ("no key", "GET", "/v1/tasks", None, {"Authorization": ""}, 401),
]


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    """(base URL, alice's key) of one server for the whole module; its body limit is 20,000 bytes."""
    tmp = tmp_path_factory.mktemp("errors")
    db = tmp / "tasks.sqlite"
    key = Store(db).add_key("alice")
    app = create_app(load_model(f"mock:{mock_file(tmp / 'm.jsonl', [{'reply': 'Hello.'}])}"), db,
                     limits=Limits(max_body_bytes=20_000))
    with running(app) as base:
        yield base, key


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["code"] == status and body["error"]["message"] and len(body["error"]["message"]) <= 2000
    return body["error"]


def _local_port(response) -> int:
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


@pytest.mark.parametrize("name, method, path, body, headers, status", CASES, ids=[c[0] for c in CASES])
def test_bad_request_gets_a_shaped_4xx_and_keeps_the_connection(url, name, method, path, body, headers, status):
    base, key = url
    with client(base, key) as http:
        before = http.get("/v1/models")
        bad = http.request(method, path, content=body, headers=headers)
        assert_error_shape(bad, status)
        after = http.get("/v1/models")
        assert after.status_code == 200
        assert _local_port(before) == _local_port(bad) == _local_port(after)  # one connection, never dropped


def test_messages_name_the_problem(url):
    base, key = url
    with client(base, key) as http:
        nan = http.post("/v1/tasks", content='{"title": NaN}', headers=JSON).json()["error"]["message"]
        assert "NaN is not a valid JSON number" in nan
        surrogate = http.post("/v1/tasks", content='{"title": "a \\ud800"}', headers=JSON).json()["error"]["message"]
        assert "title: text must be valid UTF-8 (no lone surrogates; found U+D800)" in surrogate
        plain = http.post("/v1/tasks", content="{}", headers={"Content-Type": "text/plain"}).json()["error"]
        assert "Content-Type: application/json" in plain["message"] and "text/plain" in plain["message"]
        wrong = http.post("/v1/tasks", json={"title": 1, "priority": 3}).json()["error"]
        assert wrong["message"].startswith("body.title: ") and wrong["param"] == "title"
        assert wrong["type"] == "invalid_request_error"


def test_unknown_routes_and_methods_are_shaped(url):
    base, key = url
    with client(base, key) as http:
        missing = assert_error_shape(http.get("/v2/everything"), 404)
        assert missing["type"] == "not_found_error" and "GET /v2/everything" in missing["message"]
        assert assert_error_shape(http.get(f"/v1/tasks/t_{'0' * 16}"), 404)["message"].startswith("no task")
        wrong = http.put("/v1/tasks")
        assert assert_error_shape(wrong, 405)["message"].endswith("allowed: GET, POST")
        assert wrong.headers["allow"] == "GET, POST"
        assert_error_shape(http.delete("/v1/models"), 405)


BODIES = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                 max_leaves=12).map(lambda value: repr(value).replace("'", '"').encode("utf-8", "surrogatepass")),
)
TYPES = st.sampled_from([None, "application/json", "text/plain", "application/x-www-form-urlencoded",
                         "application/merge-patch+json", "multipart/form-data; boundary=x",
                         "application/json; charset=latin-1"])


@pytest.mark.parametrize("path", ["/v1/tasks", "/v1/chat/completions", "/v1/tasks/t_x"])
def test_any_raw_body_gets_a_shaped_answer_below_500(url, path):
    base, key = url
    method = "PATCH" if path == "/v1/tasks/t_x" else "POST"
    with client(base, key) as http:
        @hypothesis.settings(max_examples=60, deadline=None, database=None, derandomize=True)
        @hypothesis.given(body=BODIES, content_type=TYPES)
        def check(body, content_type):
            response = http.request(method, path, content=body,
                                    headers={"Content-Type": content_type} if content_type else {})
            assert response.status_code < 500, (body[:200], content_type, response.text[:300])
            if response.status_code >= 400:
                assert_error_shape(response, response.status_code)

        check()
