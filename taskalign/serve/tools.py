"""Agent mode: execute TaskMaster tool calls against the caller's own tasks, all in one transaction.

Not run directly; `taskalign.serve.chat` calls `execute_calls(store, owner, calls)`. The owner comes from the API key,
never from the model's arguments, so no prompt can reach another owner's tasks. Arguments pass the REST schemas
(taskalign.serve.schemas) first: the same limits, real dates and valid text as POST/PATCH, or an error the model sees.
"""

from pydantic import ValidationError

from taskalign.domain.toolcalls import ToolCall
from taskalign.serve.schemas import TaskCreate, TaskEdit, TaskFilter, TaskRef

ARGUMENTS = {"create_task": TaskCreate, "list_tasks": TaskFilter, "update_task": TaskEdit, "complete_task": TaskRef,
             "delete_task": TaskRef}


def _need_task(store, owner, args, conn) -> dict:
    task = store.find_task(owner, str(args["task"]), conn)
    if task is None:
        # The same answer for "does not exist" and "belongs to someone else": nothing leaks about other owners.
        raise LookupError(f"no task {args['task']!r}")
    return task


def _create(store, owner, args, conn):
    return {"task": store.create_task(owner, args, conn)}


def _list(store, owner, args, conn):
    return {"tasks": store.list_tasks(owner, args.get("status") or "open", args.get("priority"), args.get("tag"),
                                      args.get("due_before"), conn)}


def _update(store, owner, args, conn):
    task = _need_task(store, owner, args, conn)
    return {"task": store.update_task(owner, task["id"], {k: v for k, v in args.items() if k != "task"}, conn)}


def _complete(store, owner, args, conn):
    return {"task": store.complete_task(owner, _need_task(store, owner, args, conn)["id"], conn)}


def _delete(store, owner, args, conn):
    task = _need_task(store, owner, args, conn)
    store.delete_task(owner, task["id"], conn)
    return {"deleted": task["id"], "title": task["title"]}


def checked_arguments(name: str, arguments: dict) -> dict:
    """The arguments as the tool's REST schema accepts them (only those given); else ValueError, one sentence."""
    try:
        return ARGUMENTS[name].model_validate(arguments).model_dump(exclude_unset=True)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()[:3]]
        raise ValueError("invalid arguments: " + "; ".join(problems)) from None


def printable(value):
    """`value` with lone surrogates written as \\uXXXX escapes, so a response can carry what the model sent."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable(v) for v in value]
    return value


HANDLERS = {"create_task": _create, "list_tasks": _list, "update_task": _update, "complete_task": _complete,
            "delete_task": _delete}


def _run(store, owner: str, call: ToolCall, conn) -> dict:
    row = {"name": printable(call.name), "arguments": printable(call.arguments), "ok": False, "result": None,
           "error": printable(call.error)}
    if not call.valid:
        return row
    if call.name not in HANDLERS:
        row["error"] = f"unknown tool {row['name']!r}"
        return row
    try:
        arguments = checked_arguments(call.name, call.arguments)
    except ValueError as exc:
        row["error"] = str(exc)
        return row
    try:
        row["result"], row["ok"] = HANDLERS[call.name](store, owner, arguments, conn), True
    except LookupError as exc:
        row["error"] = str(exc.args[0])
    return row


def execute_calls(store, owner: str, calls: list[ToolCall]) -> list[dict]:
    """One result dict per call: {name, arguments, ok, result, error}. Database errors roll every call back."""
    with store.transaction() as conn:
        return [_run(store, owner, call, conn) for call in calls]


def describe(row: dict) -> str:
    """One line a person can read, for the reply text and the playground."""
    if not row["ok"]:
        return f"✗ {row['name'] or 'tool call'}: {row['error']}"
    result = row["result"]
    if row["name"] == "list_tasks":
        titles = ", ".join(t["title"] for t in result["tasks"][:10]) or "none"
        return f"✓ list_tasks: {len(result['tasks'])} task(s): {titles}"
    if row["name"] == "delete_task":
        return f"✓ delete_task: deleted '{result['title']}' ({result['deleted']})"
    task = result["task"]
    verb = {"create_task": "created", "update_task": "updated", "complete_task": "completed"}[row["name"]]
    return f"✓ {row['name']}: {verb} '{task['title']}' ({task['id']})"
