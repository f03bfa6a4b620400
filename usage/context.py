"""Who a provider call is for: set around the code that makes it, read by the ledger when the call reports.

    @usage_attributed(lambda message: {"user_id": message.conversation.user_id})
    def _speak_and_store(message): ...

    with usage_attribution(kind="preview", voice_id=run.voice_id):
        provider.tts(...)

Without an attribution the ledger finds the voice by its provider voice id and charges the voice's owner.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools

_attribution: contextvars.ContextVar[dict] = contextvars.ContextVar("usage_attribution", default={})


def current() -> dict:
    return _attribution.get()


@contextlib.contextmanager
def usage_attribution(*, kind: str | None = None, user_id=None, voice_id=None):
    values = {**_attribution.get(), **{k: v for k, v in
                                       {"kind": kind, "user_id": user_id, "voice_id": voice_id}.items() if v is not None}}
    token = _attribution.set(values)
    try:
        yield
    finally:
        _attribution.reset(token)


def usage_attributed(who):
    """Decorator: attribute the provider calls the function makes to `who(*args, **kwargs)` (a dict of
    `kind`, `user_id`, `voice_id`)."""

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with usage_attribution(**who(*args, **kwargs)):
                return func(*args, **kwargs)

        return wrapper

    return decorate
