"""Property-based run of the app's own OpenAPI schema (schemathesis + hypothesis) against a live server.

Valid and invalid generated requests, each checked for: no 5xx, a status code the schema declares for that route, a
body that matches the declared schema, and every error in the OpenAI shape. Deterministic (derandomized) and bounded.
Requests carry a valid key so generated bodies reach the handlers, not just the auth check.
"""

import hypothesis
import pytest
import schemathesis
from fastapi.routing import APIRoute
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from taskalign.models import load_model
from taskalign.serve.app import Limits, create_app
from taskalign.serve.store import Store
from tests.serve.conftest import CALL, mock_file, running

REPLIES = [{"match": "a", "reply": "Done. " + CALL("create_task", {"title": "fuzzed"})},
           {"match": "b", "reply": CALL("list_tasks", {}) + CALL("delete_task", {"task": "fuzzed"})},
           {"reply": "Hello there."}]
EXAMPLES = 50  # per route and mode: about 800 requests in all


def openai_error_shape(ctx, response, case):
    """An error status comes with {"error": {"message", "type", "param", "code"}} and nothing else."""
    if response.status_code < 400:
        return None
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict) and set(body) == {"error"}, f"not an OpenAI error body: {response.text[:300]}"
    assert set(error) == {"message", "type", "param", "code"}, f"error fields: {sorted(error)}"
    assert isinstance(error["message"], str) and error["message"] and isinstance(error["type"], str), error
    assert error["param"] is None or isinstance(error["param"], str), error
    assert error["code"] == response.status_code, error
    return None


CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, openai_error_shape]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    db = tmp / "tasks.sqlite"
    key = Store(db).add_key("fuzzer")
    app = create_app(load_model(f"mock:{mock_file(tmp / 'm.jsonl', REPLIES)}"), db, limits=Limits(max_body_bytes=20000))
    declared = {(method, route.path) for route in app.routes
                if isinstance(route, APIRoute) and route.include_in_schema for method in route.methods}
    with running(app) as url:
        yield url, key, declared


def _fuzz(operation, url: str, key: str, mode) -> None:
    @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        case.call_and_validate(base_url=url, headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)

    check()


# schemathesis' own pytest plugin (from_fixture) does not run under pytest 9, so operations are walked here.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_fuzzed_requests_conform(live, mode):
    url, key, declared = live
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == declared  # every route the app declares is fuzzed
    for operation in operations:
        _fuzz(operation, url, key, mode)


def test_every_route_declares_its_errors_in_the_error_shape(live):
    url, _, _ = live
    spec = schemathesis.openapi.from_url(f"{url}/openapi.json").raw_schema
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            errors = {code: r for code, r in operation["responses"].items() if code.startswith(("4", "5"))}
            assert {"401", "413", "500"} <= set(errors), (method, path)
            for code, response in errors.items():
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorResponse"), (method, path, code)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
