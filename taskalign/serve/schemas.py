"""Request and response bodies of the Task API and the OpenAI-compatible chat endpoint (pydantic models).

Not run directly. These models are the app's OpenAPI schema, which schemathesis fuzzes in tests/serve.
Every string is checked for lone surrogates, which JSON allows but SQLite and tokenizers cannot encode.
"""

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _encodable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid UTF-8 (no lone surrogates)") from None
    return value


Text = Annotated[str, AfterValidator(_encodable)]
Title = Annotated[Text, Field(min_length=1, max_length=200)]
Tag = Annotated[Text, Field(min_length=1, max_length=50)]
Date = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]
Priority = Literal["low", "medium", "high", "urgent"]
Notes = Annotated[Text, Field(max_length=4000)]


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
    name: Annotated[Text, Field(min_length=1, max_length=64)]
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
