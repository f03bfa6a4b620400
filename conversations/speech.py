"""A reply spoken while it streams: the worker's write path and the web's read path (docs/realtime.md).

Write (worker, the single writer): `reply_speak` opens the provider's streaming TTS, puts each chunk in
the reply's spool (`voiceclone.spool`) as it arrives, announces `message.audio_streaming` after the first
one, and returns the whole audio with its sha256 once the provider is done. The caller
(`services._speak_and_store`) then stores exactly those bytes as the clip, once.

Read (web): `reply_audio_open` answers `GET /api/v1/messages/{id}/stream/`: the stored clip when there is
one, otherwise the spool from its first chunk on, followed until the writer marks it done. A spool that
disappears under a reader (expired, cleaned up) is continued from the stored clip at the same byte offset:
the two hold the same bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from voiceclone import provider, spool
from voiceclone.errors import ApplicationError, InvalidState
from voiceclone.events.services import event_emit
from voiceclone.streaming import async_chunks

from .models import Message

STORED_CHUNK_BYTES = 64 * 1024
SPOOL_POLL_S = 0.01  # a reader's pause between two looks at a spool that has nothing new
STATUS_CHECK_S = 0.25  # while waiting for the first chunk, how often the message row is read again


# --- write: the worker -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpokenAudio:
    audio: bytes
    sha256: str
    request_id: str | None
    character_cost: int | None


def reply_speak(*, message: Message, voice_id: str) -> SpokenAudio:
    """Speak `message.text` with the provider voice `voice_id` through streaming TTS, spooling each chunk.

    Raises the provider's errors: before the first chunk (after the adapter's retries) like `provider.tts`,
    after it `ProviderUnavailable`; the spool is then marked failed, so readers end.
    """
    with provider.tts_stream(voice_id=voice_id, text=message.text) as stream:
        writer = spool.spool_open(str(message.pk))
        digest, parts = hashlib.sha256(), []
        try:
            for index, chunk in enumerate(stream):
                writer.append(chunk)
                digest.update(chunk)
                parts.append(chunk)
                if index == 0:
                    _announce_streaming(message)
        except BaseException:
            writer.fail()
            raise
        sha256 = digest.hexdigest()
        writer.finish(sha256=sha256)
        return SpokenAudio(b"".join(parts), sha256, stream.request_id, stream.character_cost)


def _announce_streaming(message: Message) -> None:
    conversation = message.conversation
    with transaction.atomic():
        event_emit(
            type="message.audio_streaming", user=conversation.user, voice=conversation.voice,
            conversation=conversation, payload={"message_id": str(message.pk)},
        )


# MPEG audio layer III: kbit/s by bitrate index (MPEG-1; MPEG-2/2.5) and sample rates by version bits.
_L3_KBPS = {
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mp3_duration(data: bytes) -> tuple[float, int] | None:
    """(seconds, sample rate) of an MP3 (layer III) from its frame headers, without decoding: the reply is
    marked ready without a second decode of audio the provider just sent (the clip analysis decodes it
    later, off the critical path). None when the bytes are not a clean run of layer III frames."""
    pos = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        pos = 10 + ((data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F))
    frames, rate, first = 0, None, True
    while pos + 4 <= len(data):
        b1, b2 = data[pos + 1], data[pos + 2]
        if data[pos] != 0xFF or b1 & 0xE0 != 0xE0 or (b1 >> 1) & 3 != 1:
            if data[pos:pos + 3] == b"TAG":
                break  # ID3v1 at the end
            return None
        version, bitrate_index, rate_index = (b1 >> 3) & 3, b2 >> 4, (b2 >> 2) & 3
        if version == 1 or rate_index == 3 or bitrate_index in (0, 15):
            return None
        frame_rate = _MPEG_RATES[version][rate_index]
        if rate not in (None, frame_rate):
            return None
        rate = frame_rate
        size = (144 if version == 3 else 72) * _L3_KBPS[version == 3][bitrate_index] * 1000 // rate + ((b2 >> 1) & 1)
        header = data[pos:pos + min(size, 64)]
        if not (first and (b"Xing" in header or b"Info" in header)):  # a VBR info frame holds no audio
            frames += 1
        first = False
        pos += size
    if not frames or rate is None:
        return None
    samples_per_frame = 1152 if version == 3 else 576
    return frames * samples_per_frame / rate, rate


# --- read: web processes ---------------------------------------------------------------------------------


class ReplyFailed(InvalidState):
    default_code = "reply_failed"


class ReplyNotSpeaking(ApplicationError):
    status_code = 503
    default_code = "reply_not_speaking"


@dataclass
class _Wait:
    pass


@dataclass
class _FromStorage:
    offset: int


_WAIT = _Wait()


@dataclass
class ReplyAudio:
    """Where a reply's audio comes from: `stored` (a name in storage, with its size) or a live `reader`."""

    message: Message
    stored_name: str | None = None
    size: int | None = None
    reader: spool.SpoolReader | None = None
    first: bytes = b""
    finished: bool = False  # the first read already held the whole spool

    def chunks(self) -> Iterator[bytes]:
        """The body for a WSGI (sync) response."""
        for item in self._items():
            if item is _WAIT:
                time.sleep(SPOOL_POLL_S)
            elif isinstance(item, _FromStorage):
                yield from _stored_after_ready(self.message.pk, item.offset)
            else:
                yield item

    async def achunks(self) -> AsyncIterator[bytes]:
        """The body for an ASGI response: waits on the event loop, no thread pinned while the reply is spoken.
        Spool reads are non-blocking and local (a file, or Redis); storage reads go to a worker thread."""
        if self.stored_name is not None:
            async for chunk in async_chunks(_stored_chunks(self.stored_name)):
                yield chunk
            return
        for item in self._items():
            if item is _WAIT:
                await asyncio.sleep(SPOOL_POLL_S)
            elif isinstance(item, _FromStorage):
                async for chunk in async_chunks(_stored_after_ready(self.message.pk, item.offset)):
                    yield chunk
            else:
                yield item

    def _items(self):
        if self.stored_name is not None:
            yield from _stored_chunks(self.stored_name)
            return
        reader = self.reader
        try:
            if self.first:
                yield self.first
            if self.finished:
                return
            idle_since = time.monotonic()
            while True:
                read = reader.read()
                if read.data:
                    idle_since = time.monotonic()
                    yield read.data
                if read.state == spool.DONE:
                    if read.size is None or reader.offset >= read.size:
                        return
                elif read.state == spool.FAILED:
                    return  # the provider failed mid-reply; the message turns failed
                elif read.state == spool.MISSING:
                    yield _FromStorage(offset=reader.offset)
                    return
                if not read.data:
                    if time.monotonic() - idle_since > settings.REPLY_STREAM_WAIT_S:
                        return  # the writer is gone (worker killed): the retried turn gets a new stream
                    yield _WAIT
        finally:
            reader.close()


def _stored_chunks(name: str, offset: int = 0) -> Iterator[bytes]:
    with default_storage.open(name, "rb") as fh:
        if offset:
            fh.seek(offset)
        while chunk := fh.read(STORED_CHUNK_BYTES):
            yield chunk


def _stored_after_ready(message_id, offset: int) -> Iterator[bytes]:
    """The rest of a reply whose spool vanished: from its stored clip once the worker has stored it."""
    deadline = time.monotonic() + settings.REPLY_STREAM_WAIT_S
    while time.monotonic() < deadline:
        message = Message.objects.select_related("clip").get(pk=message_id)
        if message.clip is not None and message.clip.file:
            yield from _stored_chunks(message.clip.file.name, offset)
            return
        if message.status != Message.Status.PENDING:
            return
        time.sleep(STATUS_CHECK_S)


def reply_audio_open(*, message: Message) -> ReplyAudio:
    """The audio of an assistant message for the stream endpoint: stored, or live from its first chunk.

    Waits (up to REPLY_STREAM_WAIT_S) for the first chunk of a pending reply. Raises ReplyFailed when the
    turn failed before any audio, ReplyNotSpeaking when nothing came in time.
    """
    deadline = time.monotonic() + settings.REPLY_STREAM_WAIT_S
    next_check = 0.0
    reader = None
    try:
        while True:
            now = time.monotonic()
            if now >= next_check:
                message.refresh_from_db(fields=["status", "clip", "failure_code", "failure_reason"])
                if message.clip is not None and message.clip.file:
                    return ReplyAudio(message, stored_name=message.clip.file.name, size=message.clip.size_bytes)
                if message.status == Message.Status.FAILED:
                    raise ReplyFailed(message.failure_reason or "The reply failed.",
                                      extra={"failure_code": message.failure_code})
                next_check = now + STATUS_CHECK_S
            if message.status == Message.Status.PENDING:
                reader = reader or spool.spool_reader(str(message.pk))
                read = reader.read()
                if read.data:
                    audio = ReplyAudio(message, reader=reader, first=read.data,
                                       finished=read.state == spool.DONE and reader.offset >= (read.size or 0))
                    reader = None
                    return audio
                if read.state in (spool.MISSING, spool.FAILED):
                    # Not started yet, or an earlier attempt's failed spool: the row turns failed, or a
                    # retry restarts the spool, which a fresh reader then finds.
                    reader.close()
                    reader = None
                    if read.state == spool.FAILED:
                        next_check = 0.0
            if now >= deadline:
                raise ReplyNotSpeaking("The reply has not started speaking yet; try again.")
            time.sleep(SPOOL_POLL_S)
    finally:
        if reader is not None:
            reader.close()
