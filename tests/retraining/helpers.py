"""Building retrainable voices for the retraining tests.

Rows come from factories (20+ conversations with stored clips would be slow through the chat pipeline);
every provider voice a test relies on is real: created at the emulator through the adapter, so the run
task's quota reads, creates, deletions and previews go over HTTP like in production.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.utils import timezone

from clones.models import ClipSample, Voice, VoiceVersion
from tests.audio import mp3_bytes, wav_bytes
from tests.factories import ClipSampleFactory, ConversationFactory, UserFactory, VoiceFactory
from voiceclone import provider

APPROVED = ClipSample.ReviewStatus.APPROVED
_seeds = itertools.count(1000)


def provider_voice(name: str = "Filler", *, description: str | None = None, labels: dict | None = None) -> str:
    """Create a custom voice at the emulator and return its id."""
    return provider.create_voice(
        name=name,
        files=[provider.AudioFile("sample.wav", wav_bytes(1.0, seed=next(_seeds)), "audio/wav")],
        description=description,
        labels=labels or {},
    )


def fill_account(emulator_ctl, *, up_to: int = 30) -> list[str]:
    """Unrelated custom voices (not ours) until the account holds `up_to`."""
    used = len(emulator_ctl.voice_ids())
    return [provider_voice(f"Somebody else {i}") for i in range(max(0, up_to - used))]


def distinct_text(i: int) -> str:
    """Words no other clip shares, so the selection never treats two clips as near-duplicates."""
    return f"alpha{i} bravo{i} charlie{i} delta{i} echo{i}."


def voice_at_provider(owner=None, *, name: str = "Ada", originals_s=(20.0, 20.0, 20.0)) -> Voice:
    """A ready voice whose version 1 is a real provider voice, with approved originals (real audio)."""
    owner = owner or UserFactory()
    voice = VoiceFactory(owner=owner, name=name, with_version=False)
    version = VoiceVersion.objects.create(
        voice=voice, number=1, provider_voice_id=provider_voice(name), state=VoiceVersion.State.ACTIVE
    )
    voice.current_version = version
    voice.save(update_fields=["current_version"])
    for seconds in originals_s:
        ClipSampleFactory(voice=voice, source=ClipSample.Source.ORIGINAL, duration_s=seconds, review_status=APPROVED,
                          text="", audio=mp3_bytes(2.0, seed=next(_seeds)))
    return voice


def add_conversations(voice: Voice, count: int, *, days_spread: float = 0.0, review_status=APPROVED,
                      start: int = 0) -> list[ClipSample]:
    """`count` conversations of the voice, each with one stored generated clip (distinct real audio),
    created evenly over the last `days_spread` days (newest now)."""
    now = timezone.now()
    clips = []
    for i in range(count):
        conversation = ConversationFactory(voice=voice, user=voice.owner)
        clip = ClipSampleFactory(
            voice=voice, review_status=review_status, text=distinct_text(start + i), conversation=conversation,
            audio=mp3_bytes(2.0, seed=next(_seeds)),
        )
        age = days_spread * i / max(1, count - 1)
        ClipSample.objects.filter(pk=clip.pk).update(created_at=now - timedelta(days=age, minutes=1))
        clips.append(clip)
    return clips


def retrainable_voice(owner=None, *, name: str = "Ada", conversations: int = 20) -> Voice:
    voice = voice_at_provider(owner, name=name)
    add_conversations(voice, conversations, days_spread=10)
    return voice


def add_versions(voice: Voice, states: list[str], *, days_ago_start: int = 10) -> list[VoiceVersion]:
    """Versions 2.. of `voice` with real provider voices; archived ones get increasing archived_at
    (the first listed is the oldest). An "active" entry becomes the current version."""
    versions = []
    number = voice.versions.count()
    for offset, state in enumerate(states):
        number += 1
        archived_at = timezone.now() - timedelta(days=days_ago_start - offset) if state == "archived" else None
        if state == VoiceVersion.State.ACTIVE and voice.current_version_id:
            VoiceVersion.objects.filter(pk=voice.current_version_id).update(
                state=VoiceVersion.State.ARCHIVED, archived_at=timezone.now() - timedelta(days=days_ago_start + 1)
            )
        version = VoiceVersion.objects.create(
            voice=voice, number=number, provider_voice_id=provider_voice(f"{voice.name} v{number}"),
            state=state, archived_at=archived_at,
        )
        if state == VoiceVersion.State.ACTIVE:
            voice.current_version = version
            voice.save(update_fields=["current_version"])
        versions.append(version)
    return versions


def voice_with_history(owner=None, *, name: str, archived: int) -> tuple[Voice, list[VoiceVersion]]:
    """A voice whose versions 1..`archived` are archived (v1 oldest) and the next one is active; all real
    provider voices. Returns the voice and its versions by number."""
    voice = voice_at_provider(owner, name=name, originals_s=(20.0,))
    add_versions(voice, ["archived"] * (archived - 1) + ["active"])
    voice.refresh_from_db()
    return voice, list(voice.versions.order_by("number"))


def run_creates(emulator_ctl) -> list[dict]:
    """Create-voice requests made by retrain runs (their description is the run's label), oldest first.
    The tests' own setup voices are left out."""
    return [
        r for r in emulator_ctl.requests(path=r"^/v1/voices/add$", method="POST")
        if str((r.get("fields") or {}).get("description", "")).startswith("voiceclone-run-")
    ]


def uploads(emulator_ctl) -> list[dict]:
    """The files of every create-voice request retrain runs made."""
    return [f for r in run_creates(emulator_ctl) for f in r["files"]]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- a webhook receiver ----------------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """A local HTTP endpoint that records POSTs and answers with the queued statuses (then 200)."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                receiver.received.append(Received(headers=dict(self.headers.items()), body=self.rfile.read(length)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/voiceclone"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
