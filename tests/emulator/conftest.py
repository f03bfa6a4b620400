"""Fixtures for the emulator's own tests. They need no Django and no database.

`start_emulator_server()` is the one place that starts an in-process emulator for tests; the
project-wide conftest can import and reuse it.
"""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
import soundfile as sf

from voiceclone.emulator import EmulatorServer
from voiceclone.emulator.control import EmulatorControl

API_KEY = "test-key"


def start_emulator_server(**options) -> EmulatorServer:
    """An emulator on a free 127.0.0.1 port, serving from a daemon thread. Call `.stop()` when done."""
    return EmulatorServer(host="127.0.0.1", port=0, **options).start()


@pytest.fixture(scope="session")
def emulator_server():
    server = start_emulator_server()
    yield server
    server.stop()


@pytest.fixture
def emulator_control(emulator_server) -> EmulatorControl:
    return EmulatorControl(emulator_server.url)


@pytest.fixture(autouse=True)
def _reset_emulator_server(emulator_server):
    """Every test starts with no custom voices, no usage, no faults and an empty request log."""
    EmulatorControl(emulator_server.url).reset()


@pytest.fixture
def emulator_http(emulator_server):
    """httpx client with a valid API key, talking straight to the emulator."""
    with httpx.Client(base_url=emulator_server.url, headers={"xi-api-key": API_KEY}, timeout=30) as client:
        yield client


def make_tone(
    seconds: float = 1.0, audio_format: str = "MP3", frequency_hz: float = 220.0, sample_rate: int = 22050
) -> bytes:
    """A small real audio file (a tone) to upload as a voice sample or transcribe."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    buffer = io.BytesIO()
    sf.write(buffer, (0.3 * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32), sample_rate, format=audio_format)
    return buffer.getvalue()


@pytest.fixture
def tone():
    """Factory fixture: tone(seconds=1.0, audio_format="MP3", frequency_hz=220.0) -> bytes."""
    return make_tone


@pytest.fixture
def create_voice(emulator_http):
    """Create a cloned voice over HTTP and return its id."""

    def create(name: str = "Alice", files: list[tuple[str, bytes, str]] | None = None, **fields) -> str:
        files = files or [("alice_01.mp3", make_tone(1.0), "audio/mpeg")]
        response = emulator_http.post(
            "/v1/voices/add",
            data={"name": name, "labels": "null", **fields},
            files=[("files", upload) for upload in files],
        )
        assert response.status_code == 200, response.text
        return response.json()["voice_id"]

    return create
