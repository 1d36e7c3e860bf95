"""The Task API's SQLite store: numbered schema migrations, hashed API keys, and tasks that always belong to one owner.

    store = Store("tasks.sqlite"); key = store.add_key("alice"); owner = store.owner_for_key(key)
    store.create_task(owner, {"title": "Buy milk"})
Every query takes the owner, so no caller can name another owner's task. WAL mode; each write is one transaction.
"""

import hashlib
import json
import secrets
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine, event, text

from taskalign.errors import UserError

# Append-only: a released migration is never edited; a new schema change is a new numbered entry.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "api keys and tasks", [
        """CREATE TABLE api_keys (id INTEGER PRIMARY KEY, name TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE,
           key_prefix TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT)""",
        """CREATE TABLE tasks (id TEXT PRIMARY KEY, owner TEXT NOT NULL, title TEXT NOT NULL,
           status TEXT NOT NULL DEFAULT 'open', priority TEXT, due_date TEXT, tags TEXT NOT NULL DEFAULT '[]',
           subtasks TEXT NOT NULL DEFAULT '[]', notes TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
           completed_at TEXT)"""]),
    (2, "index tasks by owner", ["CREATE INDEX tasks_owner ON tasks (owner, status, due_date)"]),
    (3, "idempotency keys of task creates", [
        """CREATE TABLE idempotency_keys (owner TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL,
           task_id TEXT NOT NULL, response TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (owner, key))"""]),
]
FIELDS = ("title", "priority", "due_date", "tags", "subtasks", "notes")
KEY_PREFIX = "ta-"


class IdempotencyConflict(Exception):
    """An idempotency key sent again with a different request body."""


def hash_key(key: str) -> str:
    """sha256 is enough here: keys are 256-bit random tokens, so there is nothing to brute-force."""
    return hashlib.sha256(key.encode()).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _engine(path: Path, begin: str):
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below), the sqlite3 driver does not
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000", "foreign_keys=ON"):
            dbapi_conn.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql(begin)

    return engine


def _row(row) -> dict:
    task = dict(row._mapping)
    task.pop("owner", None)
    task["tags"], task["subtasks"] = json.loads(task["tags"]), json.loads(task["subtasks"])
    return task


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise UserError(f"Database folder {self.path.parent} does not exist; create it or pass another --db.")
        self.reader = _engine(self.path, "BEGIN")
        # Writers take the write lock up front, so a read-then-write never deadlocks against another writer.
        self.writer = _engine(self.path, "BEGIN IMMEDIATE")
        self.migrate()

    def migrate(self) -> int:
        with self.writer.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                                 "description TEXT NOT NULL, applied_at TEXT NOT NULL)")
            done = {v for (v,) in conn.exec_driver_sql("SELECT version FROM schema_version")}
            for version, description, statements in MIGRATIONS:
                if version in done:
                    continue
                for sql in statements:
                    conn.exec_driver_sql(sql)
                conn.execute(text("INSERT INTO schema_version VALUES (:v, :d, :t)"),
                             {"v": version, "d": description, "t": _now()})
        return self.schema_version()

    def schema_version(self) -> int:
        with self.reader.connect() as conn:
            return conn.exec_driver_sql("SELECT max(version) FROM schema_version").scalar() or 0

    # -- API keys ---------------------------------------------------------------------------------------------------
    def add_key(self, name: str) -> str:
        """A new key for owner `name`; only its hash is stored, so this is the one time it can be shown."""
        if not name.strip():
            raise UserError("A key needs a non-empty NAME (the owner of its tasks).")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.writer.begin() as conn:
            conn.execute(text("INSERT INTO api_keys (name, key_hash, key_prefix, created_at) VALUES (:n, :h, :p, :t)"),
                         {"n": name.strip(), "h": hash_key(key), "p": key[:10], "t": _now()})
        return key

    def list_keys(self) -> list[dict]:
        with self.reader.connect() as conn:
            rows = conn.execute(text("SELECT id, name, key_prefix, created_at, revoked_at FROM api_keys ORDER BY id"))
            return [dict(r._mapping) for r in rows]

    def revoke_keys(self, *, key_id: int | None = None, owner: str | None = None) -> int:
        """Revoke the key with this id, or every key of this owner (exactly one of the two); returns how many."""
        if (key_id is None) == (owner is None):
            raise ValueError("revoke_keys takes exactly one of key_id and owner")
        where, value = ("id = :v", key_id) if owner is None else ("name = :v", owner)
        with self.writer.begin() as conn:
            result = conn.execute(text(f"UPDATE api_keys SET revoked_at = :t WHERE {where} AND revoked_at IS NULL"),
                                  {"v": value, "t": _now()})
            return result.rowcount

    def owner_for_key(self, key: str) -> str | None:
        with self.reader.connect() as conn:
            return conn.execute(text("SELECT name FROM api_keys WHERE key_hash = :h AND revoked_at IS NULL"),
                                {"h": hash_key(key)}).scalar()

    # -- tasks (every method is scoped to one owner) ----------------------------------------------------------------
    def create_task(self, owner: str, fields: dict, conn=None) -> dict:
        task_id, now = "t_" + secrets.token_hex(6), _now()
        values = {f: fields.get(f) for f in FIELDS}
        values["tags"], values["subtasks"] = json.dumps(values["tags"] or []), json.dumps(values["subtasks"] or [])
        with self._write(conn) as c:
            c.execute(text("INSERT INTO tasks (id, owner, title, priority, due_date, tags, subtasks, notes, created_at,"
                           " updated_at) VALUES (:id, :owner, :title, :priority, :due_date, :tags, :subtasks, :notes,"
                           " :now, :now)"), {**values, "id": task_id, "owner": owner, "now": now})
            return self.get_task(owner, task_id, c)

    def create_task_once(self, owner: str, fields: dict, key: str) -> tuple[dict, bool]:
        """(task, replayed): create_task recorded under the client's idempotency key in the same transaction, so a
        retry with that key gets the first task back, even after a crash between the commit and the response.
        The same key with different fields raises IdempotencyConflict; keys are per owner."""
        request = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
        with self.writer.begin() as c:
            first = c.execute(text("SELECT request_hash, response FROM idempotency_keys WHERE owner = :o AND key = :k"),
                              {"o": owner, "k": key}).first()
            if first is not None:
                if first.request_hash != request:
                    raise IdempotencyConflict(key)
                return json.loads(first.response), True
            task = self.create_task(owner, fields, c)
            c.execute(text("INSERT INTO idempotency_keys VALUES (:o, :k, :h, :id, :r, :t)"),
                      {"o": owner, "k": key, "h": request, "id": task["id"], "r": json.dumps(task), "t": _now()})
            return task, False

    def get_task(self, owner: str, task_id: str, conn=None) -> dict | None:
        with self._read(conn) as c:
            row = c.execute(text("SELECT * FROM tasks WHERE owner = :o AND id = :id"), {"o": owner, "id": task_id})
            row = row.first()
            return _row(row) if row else None

    def find_task(self, owner: str, ref: str, conn=None) -> dict | None:
        """A task by id, else by exact (case-insensitive) title, among this owner's tasks only."""
        found = self.get_task(owner, ref, conn)
        if found:
            return found
        with self._read(conn) as c:
            row = c.execute(text("SELECT * FROM tasks WHERE owner = :o AND lower(title) = lower(:t) "
                                 "ORDER BY status = 'done', created_at DESC LIMIT 1"), {"o": owner, "t": ref}).first()
            return _row(row) if row else None

    def list_tasks(self, owner: str, status: str = "all", priority: str | None = None, tag: str | None = None,
                   due_before: str | None = None, conn=None) -> list[dict]:
        sql, params = "SELECT * FROM tasks WHERE owner = :o", {"o": owner}
        if status and status != "all":
            sql, params["s"] = sql + " AND status = :s", status
        if priority:
            sql, params["p"] = sql + " AND priority = :p", priority
        if due_before:
            sql, params["d"] = sql + " AND due_date IS NOT NULL AND due_date < :d", due_before
        with self._read(conn) as c:
            tasks = [_row(r) for r in c.execute(text(sql + " ORDER BY rowid"), params)]
        return [t for t in tasks if tag is None or tag in t["tags"]]

    def update_task(self, owner: str, task_id: str, fields: dict, conn=None) -> dict | None:
        changes = {f: fields[f] for f in FIELDS if f in fields}
        for f in ("tags", "subtasks"):
            if f in changes:
                changes[f] = json.dumps(changes[f] or [])
        sets = ", ".join(f"{f} = :{f}" for f in changes)
        with self._write(conn) as c:
            c.execute(text(f"UPDATE tasks SET {sets + ', ' if sets else ''}updated_at = :now "
                           "WHERE owner = :o AND id = :id"), {**changes, "now": _now(), "o": owner, "id": task_id})
            return self.get_task(owner, task_id, c)

    def complete_task(self, owner: str, task_id: str, conn=None) -> dict | None:
        with self._write(conn) as c:
            c.execute(text("UPDATE tasks SET status = 'done', completed_at = :now, updated_at = :now "
                           "WHERE owner = :o AND id = :id"), {"now": _now(), "o": owner, "id": task_id})
            return self.get_task(owner, task_id, c)

    def delete_task(self, owner: str, task_id: str, conn=None) -> bool:
        with self._write(conn) as c:
            return c.execute(text("DELETE FROM tasks WHERE owner = :o AND id = :id"),
                             {"o": owner, "id": task_id}).rowcount > 0

    def transaction(self):
        """One write transaction for several operations (pass it as `conn=`); commits on exit, rolls back on error."""
        return self.writer.begin()

    def _write(self, conn):
        return _Reuse(conn) if conn is not None else self.writer.begin()

    def _read(self, conn):
        return _Reuse(conn) if conn is not None else self.reader.connect()

    def close(self) -> None:
        self.reader.dispose()
        self.writer.dispose()


class _Reuse:
    """Context manager that hands back a connection already inside the caller's transaction."""

    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        return self.conn

    def __exit__(self, *exc):
        return False
