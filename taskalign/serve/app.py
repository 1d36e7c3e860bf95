"""The FastAPI app behind `taskalign serve`: Task REST API, OpenAI-compatible chat, and the playground page at `/`.

    from taskalign.serve.app import create_app
    app = create_app(load_model("mock:replies.jsonl"), "tasks.sqlite")     # then: uvicorn.run(app)
Every /v1 route needs `Authorization: Bearer <key>`; the key decides the owner, and every query is scoped to it.
"""

from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from types import SimpleNamespace
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Response
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from taskalign.serve import chat, errors
from taskalign.serve.batcher import Batcher, Busy, ModelError
from taskalign.serve.errors import declared, error_response
from taskalign.serve.schemas import (ChatRequest, Date, Deleted, IdempotencyKey, Priority, Task, TaskCreate, TaskList,
                                     TaskUpdate)
from taskalign.serve.store import IdempotencyConflict, Store


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1_000_000
    max_tokens: int = 512
    default_max_tokens: int = 256
    max_messages: int = 64
    max_batch: int = 16
    batch_wait_ms: float = 10.0
    max_queue: int = 256


class BodyLimit:
    """ASGI middleware: refuse bodies over `limit` bytes with 413 before any handler reads them."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            return await error_response(413, f"request body over {self.limit} bytes")(scope, receive, send)
        body, more = b"", True
        while more:  # chunked bodies carry no length: count while reading
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
            if len(body) > self.limit:
                return await error_response(413, f"request body over {self.limit} bytes")(scope, receive, send)
        done = False

        async def replay():
            nonlocal done
            if done:
                return await receive()
            done = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


def create_app(model, db_path, guard=None, mode: Literal["agent", "plain"] = "agent", model_name: str = "taskmaster",
               limits: Limits = Limits(), domain=None) -> FastAPI:
    """domain: whose persona and tools a chat request without its own system message or tools gets (default
    TaskMaster); agent mode executes TaskMaster's tools."""
    if mode not in ("agent", "plain"):
        raise ValueError(f"mode must be 'agent' or 'plain', not {mode!r}")
    store = Store(db_path)
    state = SimpleNamespace(store=store, mode=mode, guard=guard, limits=limits, model_name=model_name, domain=domain,
                            batcher=Batcher(model, limits.max_batch, limits.batch_wait_ms, limits.max_queue))

    @asynccontextmanager
    async def lifespan(_app):
        state.batcher.start()
        yield
        await state.batcher.stop()
        store.close()

    app = FastAPI(title="TaskMaster", version="1", lifespan=lifespan, responses=declared(401, 413, 500),
                  description="Task API and OpenAI-compatible chat endpoint served by taskalign.")
    app.state.serve = state
    app.add_middleware(BodyLimit, limit=limits.max_body_bytes)
    _add_error_handlers(app)
    bearer = HTTPBearer(auto_error=False)

    def owner(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
        found = store.owner_for_key(credentials.credentials) if credentials else None
        if found is None:
            raise HTTPException(401, "missing or invalid API key; send Authorization: Bearer <key>")
        return found

    Owner = Annotated[str, Depends(owner)]
    _add_task_routes(app, store, Owner)
    _add_chat_routes(app, state, Owner)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    errors.install(app)  # before any route is added: it sets the strict-JSON route class

    @app.exception_handler(ModelError)
    async def model_failed(_request, exc: ModelError):
        return error_response(500, f"the model failed: {str(exc)[:300]}", "model_error")

    @app.exception_handler(Busy)
    async def busy(_request, exc: Busy):
        return error_response(503, "the server is busy; retry shortly")


def _add_task_routes(app: FastAPI, store: Store, Owner) -> None:
    def found(task: dict | None, task_id: str) -> dict:
        if task is None:  # also for another owner's task: its existence is not revealed
            raise HTTPException(404, f"no task {task_id!r}")
        return task

    @app.post("/v1/tasks", response_model=Task, status_code=201, tags=["tasks"], responses=declared(400, 409, 415, 422))
    def create_task(body: TaskCreate, who: Owner, response: Response,
                    idempotency_key: Annotated[IdempotencyKey | None, Header()] = None):
        """Create a task owned by the caller; a retry with the same Idempotency-Key returns the first task."""
        if idempotency_key is None:
            return store.create_task(who, body.model_dump())
        try:
            task, replayed = store.create_task_once(who, body.model_dump(), idempotency_key)
        except IdempotencyConflict:
            raise HTTPException(409, "this Idempotency-Key was already used with a different body") from None
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return task

    @app.get("/v1/tasks", response_model=TaskList, tags=["tasks"], responses=declared(422))
    def list_tasks(who: Owner, status: Literal["open", "done", "all"] = "all", priority: Priority | None = None,
                   tag: Annotated[str | None, Query(max_length=50)] = None, due_before: Date | None = None):
        """The caller's tasks, optionally filtered."""
        return {"object": "list", "data": store.list_tasks(who, status, priority, tag, due_before)}

    @app.get("/v1/tasks/{task_id}", response_model=Task, tags=["tasks"], responses=declared(404, 422))
    def get_task(task_id: str, who: Owner):
        return found(store.get_task(who, task_id), task_id)

    @app.patch("/v1/tasks/{task_id}", response_model=Task, tags=["tasks"], responses=declared(400, 404, 415, 422))
    def update_task(task_id: str, body: TaskUpdate, who: Owner):
        return found(store.update_task(who, task_id, body.model_dump(exclude_unset=True)), task_id)

    @app.post("/v1/tasks/{task_id}/complete", response_model=Task, tags=["tasks"], responses=declared(404, 422))
    def complete_task(task_id: str, who: Owner):
        return found(store.complete_task(who, task_id), task_id)

    @app.delete("/v1/tasks/{task_id}", response_model=Deleted, tags=["tasks"], responses=declared(404, 422))
    def delete_task(task_id: str, who: Owner):
        if not store.delete_task(who, task_id):
            raise HTTPException(404, f"no task {task_id!r}")
        return {"id": task_id, "deleted": True}


def _add_chat_routes(app: FastAPI, state, Owner) -> None:
    @app.post("/v1/chat/completions", tags=["chat"], responses=declared(400, 415, 422, 503))
    async def chat_completions(body: ChatRequest, who: Owner):
        """OpenAI-compatible chat completion (plain: tool_calls returned; agent: executed on the caller's tasks)."""
        response = await chat.complete(state, body, who)
        if body.stream:
            return StreamingResponse(chat.stream_events(response), media_type="text/event-stream")
        return response

    @app.get("/v1/models", tags=["chat"])
    def list_models(who: Owner):
        return {"object": "list", "data": [{"id": state.model_name, "object": "model", "created": 0,
                                            "owned_by": "taskalign"}]}

    @app.get("/health", include_in_schema=False)
    def health():
        return {"ok": True, "schema_version": state.store.schema_version(), "batches": len(state.batcher.batch_sizes)}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def playground():
        return (resources.files("taskalign.serve") / "static" / "playground.html").read_text()
