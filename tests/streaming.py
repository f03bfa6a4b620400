"""What the streaming tests share (tests/conversations/test_live_reply_stream.py, the chat page's
tests/e2e/test_e2e_chat_streaming.py): speech held part-way by arrangement, and a conversation with a voice
cloned at the emulator, made on a live stack."""

import threading

import pytest

from tests.audio import wav_bytes
from voiceclone import provider
from voiceclone.emulator import audio as emulator_audio


@pytest.fixture
def held_speech(monkeypatch):
    """The emulator (in this process) renders the first part of a reply, then waits for `.set()` (at most
    60 s) before the rest: "audio arrives while the reply is still being generated" is arranged, not timed."""
    release = threading.Event()
    render = emulator_audio.render
    calls = []

    def held_render(text, *args, **kwargs):
        calls.append(text)
        if len(calls) == 2:
            release.wait(timeout=60)
        return render(text, *args, **kwargs)

    monkeypatch.setattr(emulator_audio, "render", held_render)
    yield release
    release.set()


def live_conversation(live, name: str, *, seed: int) -> dict:
    """A user `name` (password tests.live_scenario's), a voice cloned at the emulator from one recording and a
    conversation with it, on the live stack: the scenario's answer (`token`, `voice`, `conversation`)."""
    voice_id = provider.create_voice(name=name, files=[
        provider.AudioFile(filename="s.wav", content=wav_bytes(3, seed=seed), content_type="audio/wav")])
    return live.scenario("conversation", name, voice_id)
