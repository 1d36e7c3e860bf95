"""Request and response bodies of the Task API and the OpenAI-compatible chat endpoint (pydantic models).

Not run directly. These models are the app's OpenAPI schema, which schemathesis fuzzes in tests/serve.
Every string is checked for lone surrogates, which JSON allows but SQLite and tokenizers cannot encode. The task
models also check the model's tool-call arguments in agent mode (taskalign.serve.tools), so both paths share one set
of limits.
"""

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"  # [0-9], not \d: \d also matches other scripts' digits


def _encodable(value):
    """Runs before pydantic's own string check, whose message for a lone surrogate says only "not a valid string"."""
    try:
        if isinstance(value, str):
            value.encode("utf-8")
    except UnicodeEncodeError:
        # PydanticCustomError, not ValueError: its error context stays plain data that a response can carry.
        raise PydanticCustomError("text_encoding", "text must be valid UTF-8 (no lone surrogates)") from None
    return value


def calendar_date(value: str) -> str:
    """`value` if it is a real calendar date written YYYY-MM-DD in ASCII digits (2024-02-29 yes, 2023-02-29 no)."""
    try:
        if re.fullmatch(DATE_PATTERN, value):
            date.fromisoformat(value)
            return value
    except ValueError:
        pass
    raise PydanticCustomError("calendar_date", "must be a real calendar date as YYYY-MM-DD (ASCII digits)")


def _text(**limits):
    # The encoding check wraps the limits, so it runs first and the limits keep "at most N characters" messages.
    return Annotated[str, Field(**limits), BeforeValidator(_encodable)]


Text = Annotated[str, BeforeValidator(_encodable)]
Title = _text(min_length=1, max_length=200)
Tag = _text(min_length=1, max_length=50)
# The pattern is for the schema's readers; calendar_date does the checking, with one message for every bad date.
Date = Annotated[str, AfterValidator(calendar_date),
                 Field(json_schema_extra={"format": "date", "pattern": DATE_PATTERN})]
Priority = Literal["low", "medium", "high", "urgent"]
Status = Literal["open", "done", "all"]
Notes = _text(max_length=4000)
TagFilter = _text(max_length=50)
# Visible ASCII, as Stripe-style clients send (a UUID, usually).
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[!-~]+$")]


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Title
    due_date: Date | None = None
    priority: Priority | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] = []
    subtasks: Annotated[list[Title], Field(max_length=50)] = []
    notes: Notes | None = None


class TaskUpdate(BaseModel):
    """Only the fields sent are changed; `null` clears an optional field (a title can not be cleared)."""

    model_config = ConfigDict(extra="forbid")
    title: Title = None
    due_date: Date | None = None
    priority: Priority | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] | None = None
    subtasks: Annotated[list[Title], Field(max_length=50)] | None = None
    notes: Notes | None = None


class TaskFilter(BaseModel):
    """The filters of GET /v1/tasks, as the list_tasks tool takes them."""

    model_config = ConfigDict(extra="forbid")
    status: Status | None = None
    priority: Priority | None = None
    tag: TagFilter | None = None
    due_before: Date | None = None


class TaskRef(BaseModel):
    """complete_task and delete_task: a task id or exact title."""

    model_config = ConfigDict(extra="forbid")
    task: Title


class TaskEdit(TaskUpdate):
    """update_task: which task (id or exact title), then the fields to change."""

    task: Title


class Task(BaseModel):
    id: str
    title: str
    status: Literal["open", "done"]
    priority: str | None
    due_date: str | None
    tags: list[str]
    subtasks: list[str]
    notes: str | None
    created_at: str
    updated_at: str
    completed_at: str | None


class TaskList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Task]


class Deleted(BaseModel):
    id: str
    deleted: bool = True


# -- OpenAI-compatible chat ---------------------------------------------------------------------------------------
class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    text: Text | None = None


class FunctionCall(BaseModel):
    name: Text
    arguments: Text = "{}"


class MessageToolCall(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Text | None = None
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Text | list[ContentPart] | None = None
    tool_calls: list[MessageToolCall] | None = None
    tool_call_id: Text | None = None
    name: Text | None = None


class FunctionDef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: _text(min_length=1, max_length=64)
    description: Text = ""
    parameters: dict = {"type": "object", "properties": {}}


class ToolDef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["function"] = "function"
    function: FunctionDef


class ChatRequest(BaseModel):
    """Unknown OpenAI fields (tool_choice, user, ...) are accepted and ignored; the server's limits are checked later."""

    model_config = ConfigDict(extra="ignore")
    model: Text = "taskmaster"
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    tools: list[ToolDef] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.0
    top_p: Annotated[float, Field(gt=0, le=1)] = 1.0
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    n: Annotated[int, Field(ge=1, le=1)] = 1
    stream: bool = False
