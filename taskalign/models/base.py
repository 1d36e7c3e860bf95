"""The one model interface every backend implements: a batch of conversations in, a list of Replies out.

A conversation is a list of {"role": "system"|"user"|"assistant"|"tool", "content": str} messages. A backend never
raises for one failed request: that reply carries `error` and empty text, and is never counted as a refusal.
"""

from dataclasses import asdict, dataclass, field

from taskalign.domain.toolcalls import ToolCall, parse_tool_calls


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 128
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    seed: int = 0
    batch_size: int = 16


@dataclass
class Reply:
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    error: str | None = None
    finish_reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def failed(cls, error: str, latency_s: float = 0.0) -> "Reply":
        return cls(text="", error=error, latency_s=latency_s, finish_reason="error")

    @classmethod
    def from_text(cls, text: str, **kwargs) -> "Reply":
        return cls(text=text, tool_calls=parse_tool_calls(text), **kwargs)


class ChatModel:
    """Backends subclass this; `spec` is what `--model` accepted, so a run folder can name the model exactly."""

    spec: str = ""

    def generate(self, conversations: list[list[dict]], config: GenerationConfig = GenerationConfig(),
                 keys: list[str] | None = None) -> list[Reply]:
        """One Reply per conversation, in order. `keys` (e.g. case ids) lets scripted backends look replies up."""
        raise NotImplementedError

    def converse(self, conversations: list[list[dict]], turns: list[list[str]],
                 config: GenerationConfig = GenerationConfig(), keys: list[str] | None = None) -> list[list[Reply]]:
        """Send conversation i its user messages turns[i] one after the other, each reply added to it (as an assistant
        message) before the next message; a conversation stops at its first error. Extends `conversations` in place
        and returns each one's replies. Here turn by turn across all conversations (one generate call per turn); the
        Hugging Face backend's `prefix` engine lets each conversation move on as soon as its own reply is done."""
        replies: list[list[Reply]] = [[] for _ in conversations]
        for turn in range(max((len(t) for t in turns), default=0)):
            active = [i for i, t in enumerate(turns)
                      if turn < len(t) and not (replies[i] and replies[i][-1].error)]
            if not active:
                break
            for i in active:
                conversations[i].append({"role": "user", "content": turns[i][turn]})
            outs = self.generate([conversations[i] for i in active], config, keys=[keys[i] for i in active] if keys
                                 else None)
            for i, reply in zip(active, outs):
                replies[i].append(reply)
                if not reply.error:
                    conversations[i].append({"role": "assistant", "content": reply.text})
        return replies

    def close(self) -> None:
        """Release network clients or memory; the default has nothing to release."""
