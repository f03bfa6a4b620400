"""Conversation export (docs/voice-kits.md, "Conversation export"): a zip with the transcript as JSON
and as text, and one audio file of the whole conversation.

The audio is every spoken turn in order — the user's recordings and the clone's replies — decoded
(soundfile for WAV/MP3/OGG/FLAC, PyAV for WebM/M4A, through clones.audio), resampled with PyAV's
resampler to one rate, separated by a short pause, and encoded to MP3 with soundfile (libsndfile's
LAME). Turns are decoded one at a time and written as they come, so memory stays at one turn
whatever the conversation's length; the MP3 goes to a temporary file that the zip streams from.
Text-only user turns (typed) and replies without audio are in the transcript, marked as such.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np
import soundfile as sf
from django.utils import timezone
from django.utils.text import slugify
from zipstream import ZipStream

from audit.services import audit_record
from clones import storage
from clones.audio import AudioProbeError, decode_audio
from voiceclone import replies

from .models import Conversation, Message

logger = logging.getLogger(__name__)

SAMPLE_RATE = 24_000
GAP_S = 0.6
DISCLOSURE = "The clone's replies are AI-generated speech in a cloned voice."


@dataclass
class ConversationExport:
    filename: str
    size_bytes: int
    audio_seconds: float
    stream: ZipStream
    _temp_path: str

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.stream
        finally:
            _remove(self._temp_path)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _resampled(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE:
        return samples.astype(np.float32, copy=False)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.float32)[None, :], format="flt",
                                       layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    parts = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, dtype=np.float32)


def _stamp(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes:02d}:{rest:02d}"


def _speaker(message: Message, voice_name: str) -> str:
    return "You" if message.role == Message.Role.USER else f"{voice_name} (AI voice)"


def conversation_export(*, conversation: Conversation, by=None) -> ConversationExport:
    """Build the export of `conversation` (the audio is encoded now, into a temporary file; the zip streams
    when iterated). Writes an audit entry. Raises nothing for audio that does not decode: that turn is
    noted in the transcript instead."""
    voice = conversation.voice
    messages = list(conversation.messages.select_related("clip").order_by("created_at", "id"))
    handle, temp_path = tempfile.mkstemp(prefix="conversation-", suffix=".mp3")
    os.close(handle)
    entries, position = [], 0.0
    gap = np.zeros(int(GAP_S * SAMPLE_RATE), dtype=np.float32)
    with sf.SoundFile(temp_path, "w", samplerate=SAMPLE_RATE, channels=1, format="MP3") as out:
        for index, message in enumerate(messages, start=1):
            entry = {
                "index": index, "id": str(message.pk), "role": message.role, "speaker": _speaker(message, voice.name),
                "text": message.text, "created_at": message.created_at.isoformat(), "audio": None, "note": "",
            }
            if message.role == Message.Role.ASSISTANT:
                entry["ai_generated"] = True
                if message.reply_engine:
                    entry["reply_engine"] = replies.engine_label(message.reply_engine)
            name = None
            if message.role == Message.Role.USER:
                if message.input_kind == Message.InputKind.AUDIO and message.user_audio:
                    name = message.user_audio.name
                    entry["kind"] = "recording"
                else:
                    entry["kind"] = "typed"
                    entry["note"] = "typed, no audio"
            else:
                entry["kind"] = "reply"
                if voice.status == voice.Status.REVOKED:
                    entry["note"] = "no audio (the speaker revoked their consent)"
                elif message.status == Message.Status.READY and message.clip_id and message.clip.file:
                    name = message.clip.file.name
                else:
                    entry["note"] = f"no audio (reply {message.get_status_display().lower()})"
            if name is not None:
                try:
                    samples, rate = decode_audio(storage.read_bytes(name))
                except (AudioProbeError, OSError) as exc:
                    logger.warning("conversation export %s: message %s audio skipped: %s", conversation.pk,
                                   message.pk, exc)
                    entry["note"] = "audio could not be decoded"
                else:
                    audio = _resampled(samples, rate)
                    if position > 0:
                        out.write(gap)
                        position += GAP_S
                    out.write(audio)
                    duration = len(audio) / SAMPLE_RATE
                    entry["audio"] = {"start_s": round(position, 3), "end_s": round(position + duration, 3)}
                    position += duration
            entries.append(entry)

    title = str(conversation)
    transcript = {
        "conversation": {"id": str(conversation.pk), "title": title, "created_at": conversation.created_at.isoformat()},
        "voice": {"id": str(voice.pk), "name": voice.name},
        "disclosure": DISCLOSURE,
        "exported_at": timezone.now().isoformat(),
        "audio": {"file": "conversation.mp3", "sample_rate": SAMPLE_RATE, "duration_s": round(position, 3),
                  "gap_s": GAP_S},
        "messages": entries,
    }
    lines = [f"{title} — with {voice.name}", DISCLOSURE, ""]
    for entry in entries:
        when = f"[{_stamp(entry['audio']['start_s'])}] " if entry["audio"] else "[--:--] "
        note = f" ({entry['note']})" if entry["note"] else ""
        lines.append(f"{when}{entry['speaker']}{note}: {entry['text']}")
    text = ("\n".join(lines) + "\n").encode()
    body = (json.dumps(transcript, indent=1, ensure_ascii=False) + "\n").encode()
    stream = ZipStream(sized=True)
    stream.add(body, "transcript.json")
    stream.add(text, "transcript.txt")
    stream.add_path(temp_path, "conversation.mp3")
    audit_record(actor=by, action="conversation.exported", obj=conversation, kind="access",
                 data={"voice": str(voice.pk), "messages": len(entries), "audio_s": round(position, 1)})
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return ConversationExport(
        filename=f"conversation-{slugify(title)[:40] or 'export'}-{stamp}.zip", size_bytes=len(stream),
        audio_seconds=position, stream=stream, _temp_path=temp_path,
    )
