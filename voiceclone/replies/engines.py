"""Choosing the reply engine from settings."""

from __future__ import annotations

from django.conf import settings

from .offline import OfflineEngine
from .openai_compatible import (
    DEFAULT_HISTORY_CHAR_BUDGET,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL,
    DEFAULT_TIMEOUT_S,
    OpenAICompatibleEngine,
)
from .types import CompletionRequest, ReplyEngine, ReplyRequest, ReplyResult


def get_engine() -> ReplyEngine:
    """The OpenAI-compatible engine when LLM_BASE_URL is set, else the offline responder.

    Reads settings on every call, so override_settings and a changed
    environment take effect without a restart. Raises ValueError for unusable
    numbers (the settings module is expected to have validated them).
    """
    base_url = (getattr(settings, "LLM_BASE_URL", "") or "").strip()
    if not base_url:
        return OfflineEngine()
    return OpenAICompatibleEngine(
        base_url,
        api_key=getattr(settings, "LLM_API_KEY", None) or None,
        model=getattr(settings, "LLM_MODEL", DEFAULT_MODEL) or DEFAULT_MODEL,
        timeout_s=_setting_number("LLM_TIMEOUT_S", DEFAULT_TIMEOUT_S, float),
        max_tokens=_setting_number("LLM_MAX_TOKENS", DEFAULT_MAX_TOKENS, int),
        history_char_budget=_setting_number(
            "LLM_HISTORY_CHAR_BUDGET", DEFAULT_HISTORY_CHAR_BUDGET, int
        ),
    )


def _setting_number(name: str, default: float, kind: type) -> float:
    # None or "" means "not configured": use the default rather than fail.
    value = getattr(settings, name, None)
    return kind(default if value in (None, "") else value)


def generate_reply(request: ReplyRequest) -> ReplyResult:
    """The clone's next reply to `request`, from the configured engine.

    Raises ReplyEngineError (with `retryable`) when a configured language model
    fails; the offline engine does not fail. Makes network calls, so never call
    it inside transaction.atomic.
    """
    return get_engine().reply(request)


def complete_text(request: CompletionRequest) -> ReplyResult | None:
    """A language model's answer to a writing job, or None when no model is configured.

    With None the caller writes its own deterministic offline text and labels it as such (the
    offline responder only writes chat replies). Raises ReplyEngineError like `generate_reply`.
    Makes network calls: never inside transaction.atomic.
    """
    engine = get_engine()
    if not isinstance(engine, OpenAICompatibleEngine):
        return None
    return engine.complete(request)
