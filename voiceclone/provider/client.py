"""Builds the ElevenLabs SDK client from Django settings.

The client is cached per ``(api_key, base_url, timeout, pid)``: a settings change (``override_settings`` in tests,
a reconfigured deployment) gets a fresh client, and a forked django-q worker never reuses the parent's
connection pool.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from elevenlabs.client import ElevenLabs

# Every SDK call passes this. The SDK's own retries drop multipart form fields (elevenlabs-api.md §1.3), and we
# want a single retry policy (retry.py) for every call.
NO_SDK_RETRIES: dict[str, Any] = {"max_retries": 0}

DEFAULT_TIMEOUT_S = 30.0


def setting(name: str, default: Any) -> Any:
    """A provider setting, with a default so the adapter works before/without the project's settings."""
    value = getattr(settings, name, None)
    return default if value is None else value


def _base_url() -> str | None:
    base_url = getattr(settings, "ELEVENLABS_BASE_URL", None)
    if not base_url:
        return None  # None or "": the SDK's production environment
    base_url = str(base_url).rstrip("/")
    if base_url.endswith("/v1") or base_url.endswith("/v2"):
        # The SDK appends "v1/..." itself; ".../v1" would give ".../v1/v1/voices" and every call would 404,
        # which the adapter would report as VoiceNotFound.
        raise ImproperlyConfigured(
            f"ELEVENLABS_BASE_URL must be the API root without /v1, got {base_url!r}"
        )
    return base_url


def get_client() -> ElevenLabs:
    """The SDK client for the current settings (cached)."""
    # The API key is always passed explicitly: the SDK's default reads os.environ at import time.
    api_key = getattr(settings, "ELEVENLABS_API_KEY", None)
    timeout = float(setting("ELEVENLABS_TIMEOUT_S", DEFAULT_TIMEOUT_S))
    return _build_client(api_key, _base_url(), timeout, os.getpid())


@functools.lru_cache(maxsize=8)
def _build_client(api_key: str | None, base_url: str | None, timeout: float, pid: int) -> ElevenLabs:
    kwargs: dict[str, Any] = {"api_key": api_key, "timeout": timeout}
    if base_url:
        kwargs["base_url"] = base_url
    return ElevenLabs(**kwargs)
