"""The adapter's single retry policy.

The SDK's built-in retries are switched off on every call (``NO_SDK_RETRIES``): they drop multipart form fields
on the retried request, never cover streaming calls or transport errors, and would multiply with ours.

Policy: up to ``PROVIDER_MAX_ATTEMPTS`` attempts (the first included) while the error is retryable. Before each
retry we sleep ``Retry-After`` when the provider sent one, otherwise ``PROVIDER_BACKOFF_BASE_S * 2**n`` with ±10 %
jitter; both are capped at ``PROVIDER_BACKOFF_MAX_S``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from voiceclone.observability.metrics import PROVIDER_ERRORS

from .client import setting
from .errors import ProviderError, ProviderUnavailable, RateLimited

logger = logging.getLogger("voiceclone.provider")

T = TypeVar("T")

DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_BACKOFF_BASE_S = 0.5
DEFAULT_BACKOFF_MAX_S = 20.0


def retry_any_retryable(exc: ProviderError) -> bool:
    """Default: retry whatever the error says can be retried."""
    return exc.retryable


def retry_if_not_applied(exc: ProviderError) -> bool:
    """For writes that must not run twice (creating a voice, adding samples).

    After a 5xx, a timeout or a dropped connection the provider may already have applied the request, and a
    retry could create a second voice (and take a second slot). Only retry when the request was certainly
    refused (429) or never sent (connect error).
    """
    if isinstance(exc, RateLimited):
        return True
    return isinstance(exc, ProviderUnavailable) and not exc.request_sent


def backoff_delay_s(retry_number: int, exc: ProviderError) -> float:
    """Seconds to wait before retry number ``retry_number`` (1 for the first retry)."""
    cap = float(setting("PROVIDER_BACKOFF_MAX_S", DEFAULT_BACKOFF_MAX_S))
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return max(0.0, min(float(retry_after), cap))
    base = float(setting("PROVIDER_BACKOFF_BASE_S", DEFAULT_BACKOFF_BASE_S))
    delay = base * (2 ** (retry_number - 1))
    delay *= 1 + random.uniform(-0.1, 0.1)
    return max(0.0, min(delay, cap))


def max_attempts() -> int:
    return max(1, int(setting("PROVIDER_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)))


def call_with_retries(
    operation: str,
    attempt: Callable[[], T],
    *,
    should_retry: Callable[[ProviderError], bool] = retry_any_retryable,
    attempts: int | None = None,
) -> T:
    """Run ``attempt`` (which raises only :class:`ProviderError`) under the retry policy.

    Raises the last error when attempts run out or the error is not one to retry.
    """
    attempts = attempts or max_attempts()
    for number in range(1, attempts + 1):
        try:
            return attempt()
        except ProviderError as exc:
            PROVIDER_ERRORS.labels(operation, type(exc).__name__).inc()
            if number >= attempts or not should_retry(exc):
                raise
            delay = backoff_delay_s(number, exc)
            logger.warning(
                "ElevenLabs %s failed (%s: %s); retry %d of %d in %.2fs",
                operation,
                type(exc).__name__,
                exc.message,
                number,
                attempts - 1,
                delay,
                extra={
                    "provider_operation": operation,
                    "provider_error": type(exc).__name__,
                    "provider_status": exc.status_code,
                    "retry_number": number,
                    "delay_s": delay,
                },
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
