"""What each billed provider call consumed, reported to whoever listens (the cost ledger, `usage/`).

The adapter stays free of Django models: the gateway calls :func:`report` after every successful TTS, streaming
TTS and STT call; the `usage` app registers a listener at start-up that writes the ledger row. A listener that
fails is logged and never fails the provider call (the audio is already paid for and must reach the user).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger("voiceclone.provider")


@dataclass(frozen=True)
class ProviderUsage:
    operation: str  # "tts", "tts_stream", "stt"
    characters: int  # billed characters (TTS); 0 for STT
    audio_s: float | None  # seconds of audio transcribed (STT)
    provider_voice_id: str  # empty for STT
    request_id: str
    model_id: str


_listeners: list[Callable[[ProviderUsage], None]] = []


def listener_register(listener: Callable[[ProviderUsage], None]) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def report(usage: ProviderUsage) -> None:
    for listener in list(_listeners):
        try:
            listener(usage)
        except Exception:  # noqa: BLE001 - the call succeeded and was paid for; never lose its result
            logger.exception("recording provider usage failed: %s", usage)
