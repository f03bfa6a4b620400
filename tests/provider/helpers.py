"""Shared helpers for the provider contract tests (audio to upload, reading the emulator's request log)."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import soundfile as sf

from voiceclone import provider


def wav_bytes(*, seconds: float = 1.0, freq_hz: float = 220.0, rate: int = 22050) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    samples = 0.3 * np.sin(2 * np.pi * freq_hz * t)
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def audio_file(name: str = "sample.wav", *, freq_hz: float = 220.0, seconds: float = 1.0) -> provider.AudioFile:
    content = wav_bytes(seconds=seconds, freq_hz=freq_hz)
    return provider.AudioFile(filename=name, content=content, content_type="audio/wav")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def requests_to(ctl, method: str, path_prefix: str) -> list[dict]:
    """The emulator's recorded requests with that method whose path starts with ``path_prefix``."""
    return [r for r in ctl.requests() if r["method"] == method and r["path"].startswith(path_prefix)]


def decoded_duration_s(audio: bytes) -> float:
    data, rate = sf.read(io.BytesIO(audio))
    assert rate > 0
    return len(data) / rate
