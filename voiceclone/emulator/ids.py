"""Identifiers shaped like the real ones: voice, sample, request and history ids are 20 alphanumerics."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(length: int = 20) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_trace_id() -> str:
    """32 hex characters, like the `request_id` inside real error bodies."""
    return secrets.token_hex(16)
