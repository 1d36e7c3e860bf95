"""The Task REST API over a real server: CRUD, filters, auth, isolation between keys, and the body size limit."""

import httpx

from taskalign.serve.app import Limits
from tests.serve.conftest import client


def test_crud_and_filters(serve):
    url, keys, _ = serve([{"reply": "hi"}])
    with client(url, keys["alice"]) as http:
        made = http.post("/v1/tasks", json={"title": "Pay rent", "priority": "high", "tags": ["home"],
                                            "due_date": "2026-03-05"})
        assert made.status_code == 201
        task = made.json()
        http.post("/v1/tasks", json={"title": "Read book", "priority": "low"})
        assert [t["title"] for t in http.get("/v1/tasks", params={"priority": "high"}).json()["data"]] == ["Pay rent"]
        assert [t["title"] for t in http.get("/v1/tasks", params={"tag": "home"}).json()["data"]] == ["Pay rent"]
        assert len(http.get("/v1/tasks", params={"due_before": "2026-03-06"}).json()["data"]) == 1
        assert http.patch(f"/v1/tasks/{task['id']}", json={"notes": "by transfer"}).json()["notes"] == "by transfer"
        cleared = http.patch(f"/v1/tasks/{task['id']}", json={"title": None})  # a title can not be cleared
        assert cleared.status_code == 422 and cleared.json()["error"]["message"].startswith("body.title")
        assert http.get(f"/v1/tasks/{task['id']}").json()["title"] == "Pay rent"
        assert http.post(f"/v1/tasks/{task['id']}/complete").json()["status"] == "done"
        assert [t["title"] for t in http.get("/v1/tasks", params={"status": "open"}).json()["data"]] == ["Read book"]
        assert http.delete(f"/v1/tasks/{task['id']}").json() == {"id": task["id"], "deleted": True}
        assert http.get(f"/v1/tasks/{task['id']}").status_code == 404
        gone = http.patch(f"/v1/tasks/{task['id']}", json={"notes": "too late"})
        assert gone.status_code == 404 and gone.json()["error"]["type"] == "not_found_error"


def test_auth_required_and_revoked_keys_rejected(serve):
    url, keys, store = serve([{"reply": "hi"}])
    assert httpx.get(f"{url}/v1/tasks").status_code == 401
    assert httpx.get(f"{url}/v1/tasks", headers={"Authorization": "Bearer nope"}).json()["error"]["type"] == \
        "authentication_error"
    store.revoke_keys(owner="bob")
    assert client(url, keys["bob"]).get("/v1/tasks").status_code == 401


def test_one_owner_cannot_touch_another_owners_tasks(serve):
    url, keys, _ = serve([{"reply": "hi"}])
    alice, bob = client(url, keys["alice"]), client(url, keys["bob"])
    task = alice.post("/v1/tasks", json={"title": "Alice's secret"}).json()
    assert bob.get("/v1/tasks").json()["data"] == []
    for response in (bob.get(f"/v1/tasks/{task['id']}"), bob.patch(f"/v1/tasks/{task['id']}", json={"title": "x"}),
                     bob.post(f"/v1/tasks/{task['id']}/complete"), bob.delete(f"/v1/tasks/{task['id']}")):
        assert response.status_code == 404
    assert alice.get(f"/v1/tasks/{task['id']}").json() == task  # unchanged


def test_body_size_limit(serve):
    url, keys, _ = serve([{"reply": "hi"}], limits=Limits(max_body_bytes=2000))
    with client(url, keys["alice"]) as http:
        big = http.post("/v1/tasks", json={"title": "x", "notes": "n" * 3000})
        assert big.status_code == 413 and big.json()["error"]["type"] == "request_too_large"
        chunked = http.post("/v1/tasks", content=iter([b'{"title": "', b"y" * 3000, b'"}']),
                            headers={"Content-Type": "application/json"})
        assert chunked.status_code == 413
        assert http.get("/v1/tasks").json()["data"] == []
