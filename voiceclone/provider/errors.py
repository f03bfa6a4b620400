"""Error types of the ElevenLabs adapter and the mapping from SDK/httpx failures to them.

Every failure that leaves ``voiceclone.provider`` is a :class:`ProviderError`. Each one says whether a retry
can help (``retryable``), like healthchecks' ``TransportError(message, permanent)``. Callers decide what to do
with the type; they never see ``elevenlabs`` or ``httpx`` exceptions.

Error bodies follow elevenlabs-api.md §8: ``{"detail": {"status", "code", "message"}}`` for application errors,
``{"detail": [{"loc", "msg", "type"}]}`` for 422, or a plain-text body (e.g. a proxy's 500 page).
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from elevenlabs.core.api_error import ApiError
from elevenlabs.core.parse_error import ParsingError

__all__ = [
    "AuthFailed",
    "InvalidRequest",
    "ProviderError",
    "ProviderUnavailable",
    "QuotaExceeded",
    "RateLimited",
    "VoiceLimitReached",
    "VoiceNotFound",
]


class ProviderError(Exception):
    """Base class of every error raised by the provider adapter.

    ``status_code`` is the HTTP status when there was a response, ``code`` the provider's error code
    (``detail.code`` or ``detail.status``), ``retryable`` whether the same request may succeed later.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        retryable: bool,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.retryable = retryable

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status_code={self.status_code!r}, "
            f"code={self.code!r}, retryable={self.retryable!r})"
        )


class VoiceLimitReached(ProviderError):
    """The account has no free custom-voice slot (400 ``voice_limit_reached``).

    The provider's message is kept verbatim, e.g. "You have reached your maximum amount of custom voices (30 / 30). ..."
    """

    def __init__(
        self, message: str, *, status_code: int | None = 400, code: str | None = "voice_limit_reached"
    ) -> None:
        super().__init__(message, status_code=status_code, code=code, retryable=False)


class RateLimited(ProviderError):
    """429 from the provider (concurrency limit, system busy, rate limit).

    ``retry_after`` is the provider's ``Retry-After`` in seconds when it sent one, else None.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = 429,
        code: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, code=code, retryable=True)
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, retry_after={self.retry_after!r})"


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or failed on its side (5xx, 408, timeouts, dropped connections,
    a garbled 2xx reply).

    ``request_sent`` is False only when the request certainly never reached the provider (connection refused,
    connect timeout), so it cannot have been applied. For every other case a write (create voice, add samples)
    may or may not have happened.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        request_sent: bool = True,
    ) -> None:
        super().__init__(message, status_code=status_code, code=code, retryable=True)
        self.request_sent = request_sent


class VoiceNotFound(ProviderError):
    """The provider has no voice with that id (404, or 400/404 ``voice_not_found`` / ``voice_does_not_exist``)."""

    def __init__(self, message: str, *, status_code: int | None = 404, code: str | None = "voice_not_found") -> None:
        super().__init__(message, status_code=status_code, code=code, retryable=False)


class InvalidRequest(ProviderError):
    """The provider rejected the request as malformed (other 400s, 422, ``max_character_limit_exceeded``)."""

    def __init__(self, message: str, *, status_code: int | None = 400, code: str | None = None) -> None:
        super().__init__(message, status_code=status_code, code=code, retryable=False)


class AuthFailed(ProviderError):
    """The API key is missing, wrong or lacks permission (401 ``invalid_api_key`` / ``needs_authorization``, 403)."""

    def __init__(self, message: str, *, status_code: int | None = 401, code: str | None = None) -> None:
        super().__init__(message, status_code=status_code, code=code, retryable=False)


class QuotaExceeded(ProviderError):
    """The account's character/credit quota is used up (401 ``quota_exceeded`` on TTS).

    Deliberately not an :class:`AuthFailed`: the key is fine, the plan is exhausted.
    """

    def __init__(self, message: str, *, status_code: int | None = 401, code: str | None = "quota_exceeded") -> None:
        super().__init__(message, status_code=status_code, code=code, retryable=False)


# --- mapping -----------------------------------------------------------------------------------------------

_VOICE_NOT_FOUND_CODES = frozenset({"voice_not_found", "voice_does_not_exist"})
_MAX_MESSAGE_CHARS = 500


def _parse_detail(body: Any) -> tuple[str | None, set[str], str | None]:
    """Return ``(code, all_codes, message)`` from an error body.

    ``code`` is ``detail.code or detail.status`` (the documented reading order); ``all_codes`` holds both so that
    classification works whichever of the two carries the legacy value.
    """
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, dict):
        codes = {str(v) for v in (detail.get("code"), detail.get("status")) if isinstance(v, str) and v}
        code = detail.get("code") or detail.get("status")
        message = detail.get("message") or detail.get("msg")
        return (str(code) if code else None), codes, (str(message) if message else None)
    if isinstance(detail, list):
        # FastAPI validation errors: [{"loc": [...], "msg": "...", "type": "..."}]
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc") or [])
                msg = item.get("msg") or item.get("message") or ""
                parts.append(f"{loc}: {msg}" if loc else str(msg))
            else:
                parts.append(str(item))
        return None, set(), "; ".join(p for p in parts if p) or None
    if isinstance(detail, str):
        text = detail.strip()
        return None, set(), (text[:_MAX_MESSAGE_CHARS] if text else None)
    if detail is None:
        return None, set(), None
    return None, set(), str(detail)[:_MAX_MESSAGE_CHARS]


def parse_retry_after(headers: dict[str, str] | None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``retry-after-ms``; None if absent/invalid."""
    if not headers:
        return None
    lowered = {str(k).lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        return float(raw)
    parsed = email.utils.parsedate_tz(raw)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def from_api_error(exc: ApiError | ParsingError) -> ProviderError:
    """Translate an SDK ``ApiError`` (any status, including the 2xx "body is not JSON" case) or ``ParsingError``."""
    status = exc.status_code
    if isinstance(exc, ParsingError) or (status is not None and 200 <= status < 300):
        # A 2xx whose body is not the JSON we expect: a broken proxy or a provider hiccup.
        return ProviderUnavailable(
            f"Unexpected response from ElevenLabs (HTTP {status}): {str(exc.body)[:200]}", status_code=status
        )

    code, codes, detail_message = _parse_detail(exc.body)
    message = detail_message or f"ElevenLabs returned HTTP {status}"

    if codes & _VOICE_NOT_FOUND_CODES:
        return VoiceNotFound(message, status_code=status, code=code)
    if status == 400:
        if "voice_limit_reached" in codes:
            return VoiceLimitReached(message, status_code=status, code=code)
        return InvalidRequest(message, status_code=status, code=code)
    if status == 401:
        if "quota_exceeded" in codes:
            return QuotaExceeded(message, status_code=status, code=code)
        return AuthFailed(message, status_code=status, code=code)
    if status == 403:
        return AuthFailed(message, status_code=status, code=code)
    if status == 404:
        # Every 404 we can get is on a voice-addressed path (get, edit, delete, TTS); the real API answers
        # voice_not_found, older versions answered 400 (handled above by code).
        return VoiceNotFound(message, status_code=status, code=code)
    if status == 408:
        return ProviderUnavailable(message, status_code=status, code=code)
    if status == 422:
        return InvalidRequest(message, status_code=status, code=code)
    if status == 429:
        return RateLimited(message, retry_after=parse_retry_after(exc.headers), status_code=status, code=code)
    if status is not None and status >= 500:
        return ProviderUnavailable(message, status_code=status, code=code)
    return ProviderError(message, status_code=status, code=code, retryable=False)


def from_transport_error(exc: httpx.HTTPError | httpx.InvalidURL) -> ProviderError:
    """Translate an httpx failure (the SDK does not wrap them)."""
    name = type(exc).__name__
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        # The TCP/TLS connection was never established, so the request was never sent.
        return ProviderUnavailable(f"Cannot connect to ElevenLabs ({name}: {exc})", request_sent=False)
    if isinstance(exc, httpx.PoolTimeout):
        # Waiting for a free connection from our own pool: nothing was sent either.
        return ProviderUnavailable(f"ElevenLabs connection pool exhausted ({name})", request_sent=False)
    if isinstance(exc, httpx.TimeoutException):
        return ProviderUnavailable(f"ElevenLabs timed out ({name})")
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return ProviderError(f"Bad ElevenLabs base URL ({name}: {exc})", retryable=False)
    # RemoteProtocolError (connection dropped mid-response), ReadError, WriteError, DecodingError, ...
    return ProviderUnavailable(f"ElevenLabs connection failed ({name}: {exc})")


@contextmanager
def translated_errors() -> Iterator[None]:
    """Re-raise SDK and httpx exceptions raised in the block as :class:`ProviderError` (chained)."""
    try:
        yield
    except (ApiError, ParsingError) as exc:  # UnprocessableEntityError is an ApiError
        raise from_api_error(exc) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise from_transport_error(exc) from exc
