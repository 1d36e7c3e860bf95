"""The SQLite store: migrations are numbered and idempotent, keys are hashed, every query is scoped to its owner."""

import sqlite3

from taskalign.serve.store import MIGRATIONS, Store, hash_key


def test_migrations_recorded_once_and_wal(tmp_path):
    db = tmp_path / "t.sqlite"
    Store(db)
    Store(db)  # reopening applies nothing twice
    conn = sqlite3.connect(db)
    versions = [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == [v for v, _, _ in MIGRATIONS]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_keys_are_stored_hashed_and_revocable(tmp_path):
    store = Store(tmp_path / "t.sqlite")
    key = store.add_key("alice")
    raw = (tmp_path / "t.sqlite").read_bytes() + (tmp_path / "t.sqlite-wal").read_bytes()
    assert key.encode() not in raw and hash_key(key).encode() in raw
    assert store.owner_for_key(key) == "alice"
    assert store.owner_for_key(key + "x") is None
    assert store.revoke_keys(owner="alice") == 1
    assert store.owner_for_key(key) is None
    assert store.list_keys()[0]["revoked_at"] is not None


def test_tasks_are_scoped_to_their_owner(tmp_path):
    store = Store(tmp_path / "t.sqlite")
    task = store.create_task("alice", {"title": "Pay rent", "tags": ["home"], "priority": "high",
                                       "due_date": "2026-03-05"})
    store.create_task("alice", {"title": "Later", "due_date": "2026-04-01"})
    assert store.get_task("bob", task["id"]) is None
    assert store.find_task("bob", "Pay rent") is None
    assert store.update_task("bob", task["id"], {"title": "hacked"}) is None
    assert store.complete_task("bob", task["id"]) is None
    assert store.delete_task("bob", task["id"]) is False
    assert store.list_tasks("bob") == []
    assert [t["title"] for t in store.list_tasks("alice", tag="home")] == ["Pay rent"]
    assert [t["title"] for t in store.list_tasks("alice", due_before="2026-03-10")] == ["Pay rent"]
    assert store.find_task("alice", "pay RENT")["id"] == task["id"]
    assert store.complete_task("alice", task["id"])["status"] == "done"
    assert [t["title"] for t in store.list_tasks("alice", status="open")] == ["Later"]


def test_a_failed_transaction_writes_nothing(tmp_path):
    store = Store(tmp_path / "t.sqlite")
    try:
        with store.transaction() as conn:
            store.create_task("alice", {"title": "half"}, conn)
            raise RuntimeError("crash mid-request")
    except RuntimeError:
        pass
    assert store.list_tasks("alice") == []
