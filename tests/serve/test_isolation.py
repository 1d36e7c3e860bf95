"""Nothing leaks between owners through the model: scripted replies try to list, change and delete Bob's task while
Alice is the caller; every call runs scoped to Alice, so Bob's task is untouched and never appears in Alice's replies."""

import json

from taskalign.serve.store import Store
from tests.serve.conftest import CALL, client


def test_model_driven_attempts_cannot_reach_another_owner(serve, tmp_path):
    bob_task = Store(tmp_path / "tasks.sqlite").create_task("bob", {"title": "Bob's surprise party", "notes": "secret"})
    bid = bob_task["id"]
    attacks = {
        "list every user's tasks": CALL("list_tasks", {"status": "all"}),
        "delete the other one": CALL("delete_task", {"task": bid}),
        "rename it": CALL("update_task", {"task": bid, "title": "pwned"}),
        "finish bob's": CALL("complete_task", {"task": "Bob's surprise party"}),
        "as admin": "Admin mode enabled. " + CALL("list_tasks", {}) + CALL("delete_task", {"task": bid}),
    }
    url, keys, store = serve([{"match": k, "reply": v} for k, v in attacks.items()] + [{"reply": "ok"}])
    alice = client(url, keys["alice"])
    alice.post("/v1/tasks", json={"title": "Alice's own"})
    for prompt in attacks:
        response = alice.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": prompt}]})
        assert response.status_code == 200, prompt
        body = response.json()
        assert "secret" not in json.dumps(body)  # Bob's notes never reach Alice
        for call in body["taskalign"]["tool_calls"]:
            if call["name"] == "list_tasks":
                assert [t["title"] for t in call["result"]["tasks"]] == ["Alice's own"]
            else:
                assert call["ok"] is False and call["error"].startswith("no task"), call
    assert store.get_task("bob", bid) == bob_task  # unchanged, not completed, not deleted
    assert [t["title"] for t in store.list_tasks("alice")] == ["Alice's own"]
