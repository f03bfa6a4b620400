"""Value types shared by every reply engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["user", "assistant"]

ENGINE_OPENAI_COMPATIBLE = "openai-compatible"
ENGINE_OFFLINE = "offline"

# What the chat page shows next to a reply that no language model wrote.
OFFLINE_ENGINE_LABEL = "Offline responder — no language model configured"


@dataclass(frozen=True)
class Turn:
    """One message of the conversation as the engines see it."""

    role: Role
    text: str

    def __post_init__(self) -> None:
        if self.role not in ("user", "assistant"):
            raise ValueError(f"Turn.role must be 'user' or 'assistant', not {self.role!r}")


@dataclass(frozen=True)
class ReplyRequest:
    """Everything an engine needs to write the clone's next reply.

    `history` is oldest first and, when not empty, ends with the user message
    being answered. The pending assistant message is not part of it.
    """

    persona: str
    voice_name: str
    history: Sequence[Turn] = ()
    language: str = "en"
    # A summary of the conversation's older messages (personas.ConversationMemory); engines that call
    # a model send it inside LLM_HISTORY_CHAR_BUDGET (prompting.split_budget).
    memory: str = ""

    def __post_init__(self) -> None:
        # Frozen, so a caller's list cannot change under an engine.
        object.__setattr__(self, "history", tuple(self.history))
        if self.history and self.history[-1].role != "user":
            raise ValueError("ReplyRequest.history must end with the user message being answered")

    @property
    def latest_user_text(self) -> str:
        return self.history[-1].text if self.history else ""


@dataclass(frozen=True)
class ReplyResult:
    text: str
    engine: str
    model: str | None = None
    is_offline: bool = False
    usage: dict[str, Any] | None = field(default=None)

    @property
    def label(self) -> str:
        """A short description of who wrote the reply, for the UI."""
        if self.is_offline:
            return OFFLINE_ENGINE_LABEL
        return self.model or self.engine


@dataclass(frozen=True)
class CompletionRequest:
    """A writing job for a language model that is not a chat reply (a persona draft, a memory summary).

    `instructions` is the system prompt, `material` the user message; the answer keeps its line breaks.
    """

    instructions: str
    material: str
    max_tokens: int = 800


class ReplyEngineError(Exception):
    """The engine could not produce a reply.

    `retryable` says whether trying the same request again later can help
    (network trouble, overload, rate limits) or not (bad credentials, unknown
    model, a reply we cannot read). Compare healthchecks' TransportError.
    """

    def __init__(
        self,
        message: str,
        retryable: bool = False,
        *,
        status_code: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after_s = retry_after_s

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, retryable={self.retryable}, "
            f"status_code={self.status_code})"
        )


class ReplyEngine(Protocol):
    name: str

    def reply(self, request: ReplyRequest) -> ReplyResult: ...


def engine_tag(result: "ReplyResult") -> str:
    """What a stored message records about its writer: `offline` or `openai-compatible:<model>`."""
    if result.is_offline:
        return ENGINE_OFFLINE
    return f"{result.engine}:{result.model}" if result.model else result.engine


def engine_label(tag: str) -> str:
    """The human label for a stored engine tag (see `engine_tag`), for pages and the API."""
    if tag == ENGINE_OFFLINE:
        return OFFLINE_ENGINE_LABEL
    engine, _, model = tag.partition(":")
    return f"AI language model ({model})" if model else "AI language model"
