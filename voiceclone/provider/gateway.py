"""The ElevenLabs operations the app uses, on top of the official SDK.

Every function takes keyword-only arguments, returns the plain dataclasses below and raises only
:class:`~voiceclone.provider.errors.ProviderError` subclasses. Retries follow ``retry.py``; the SDK's own retries
are off on every call.

Writes that create state at the provider (:func:`create_voice`, :func:`add_samples`) are retried only when the
provider certainly did not apply them (429, or the connection was never made). After any other failure
(5xx, timeout, dropped connection) the voice may exist anyway: the caller must not blindly call again but look
for it first, e.g. retraining adopts a voice it finds by the name/labels it gave it (``list_voices(search=...)``),
and add-samples callers compare ``get_voice(...).samples`` with what they expected.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .client import NO_SDK_RETRIES, get_client, setting
from .errors import ProviderError, ProviderUnavailable, VoiceNotFound, translated_errors
from .retry import call_with_retries, retry_if_not_applied
from .usage import ProviderUsage
from .usage import report as usage_report

logger = logging.getLogger("voiceclone.provider")

DEFAULT_TTS_MODEL = "eleven_multilingual_v2"
DEFAULT_TTS_OUTPUT_FORMAT = "mp3_44100_128"
DEFAULT_STT_MODEL = "scribe_v1"


# --- data --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AudioFile:
    """One audio file to upload."""

    filename: str
    content: bytes
    content_type: str

    def as_sdk_file(self) -> tuple[str, bytes, str]:
        # Bytes (not a file object) so that a retried request can send the same content again.
        return (self.filename, self.content, self.content_type)


@dataclass(frozen=True)
class ProviderSample:
    sample_id: str
    file_name: str | None
    mime_type: str | None
    size_bytes: int | None
    hash: str | None
    duration_s: float | None


@dataclass(frozen=True)
class ProviderVoice:
    voice_id: str
    name: str | None
    category: str | None
    description: str | None
    labels: dict[str, str] = field(default_factory=dict)
    samples: list[ProviderSample] = field(default_factory=list)
    created_at_unix: int | None = None


@dataclass(frozen=True)
class Quota:
    voice_limit: int
    voice_slots_used: int
    character_count: int
    character_limit: int
    tier: str

    @property
    def slots_free(self) -> int:
        return max(0, self.voice_limit - self.voice_slots_used)


@dataclass(frozen=True)
class TTSResult:
    audio: bytes
    request_id: str | None
    character_cost: int | None
    content_type: str


@dataclass(frozen=True)
class STTResult:
    text: str
    language_code: str | None
    duration_s: float | None


class TTSStream:
    """Streaming TTS audio: iterate once over the byte chunks.

    ``request_id``, ``character_cost`` and ``content_type`` come from the response headers and are available
    before iterating. A failure after the first chunk raises :class:`ProviderUnavailable` (the audio already
    handed out cannot be taken back, so there is no retry).
    """

    def __init__(
        self,
        *,
        request_id: str | None,
        character_cost: int | None,
        content_type: str,
        first_chunk: bytes,
        chunks: Iterator[bytes],
        stack: contextlib.ExitStack,
    ) -> None:
        self.request_id = request_id
        self.character_cost = character_cost
        self.content_type = content_type
        self._first_chunk = first_chunk
        self._chunks = chunks
        self._stack = stack
        self._iterated = False
        self._billed: Callable[[], None] | None = None

    def on_billed(self, record: Callable[[], None]) -> None:
        """Call `record` once: after the first chunk was handed out (when the next one is asked for), or when
        the stream closes, whichever comes first. The provider bills an opened stream whole; recording it
        just after the first chunk keeps the ledger's write off the way from the provider's first byte to
        the listener."""
        self._billed = record

    def _bill(self) -> None:
        record, self._billed = self._billed, None
        if record is not None:
            record()

    def __iter__(self) -> Iterator[bytes]:
        if self._iterated:
            raise RuntimeError("A TTSStream can be iterated only once")
        self._iterated = True
        return self._iter_chunks()

    def _iter_chunks(self) -> Iterator[bytes]:
        yield self._first_chunk
        self._bill()
        done = object()
        while True:
            try:
                with translated_errors():
                    chunk = next(self._chunks, done)
            except ProviderUnavailable:
                raise
            except ProviderError as exc:
                raise ProviderUnavailable(f"TTS stream failed after the first chunk: {exc.message}") from exc
            if chunk is done:
                return
            yield chunk  # type: ignore[misc]

    def close(self) -> None:
        self._bill()
        try:
            with translated_errors():
                self._stack.close()
        except ProviderError as exc:
            # The stream is finished or abandoned; a failure while closing the connection changes nothing.
            logger.debug("Closing a TTS stream failed: %s", exc)


# --- helpers -----------------------------------------------------------------------------------------------


def _header(headers: dict[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _int_header(headers: dict[str, str], *names: str) -> int | None:
    for name in names:
        raw = _header(headers, name)
        if raw is None:
            continue
        try:
            return int(float(raw))
        except ValueError:
            logger.warning("ElevenLabs sent a non-numeric %s header: %r", name, raw)
    return None


def _voice_from_sdk(voice: Any) -> ProviderVoice:
    samples = [
        ProviderSample(
            sample_id=s.sample_id,
            file_name=s.file_name,
            mime_type=s.mime_type,
            size_bytes=s.size_bytes,
            hash=s.hash,
            duration_s=s.duration_secs,
        )
        for s in (voice.samples or [])
        if s.sample_id
    ]
    category = voice.category
    return ProviderVoice(
        voice_id=voice.voice_id,
        name=voice.name,
        category=str(category) if category is not None else None,
        description=voice.description,
        labels=dict(voice.labels or {}),
        samples=samples,
        created_at_unix=voice.created_at_unix,
    )


def _get_voice_once(voice_id: str) -> ProviderVoice:
    with translated_errors():
        voice = get_client().voices.get(voice_id, request_options=NO_SDK_RETRIES)
    if not getattr(voice, "voice_id", None):
        raise ProviderUnavailable("ElevenLabs returned a voice without a voice_id")
    return _voice_from_sdk(voice)


# --- voices ------------------------------------------------------------------------------------------------


def create_voice(
    *,
    name: str,
    files: Sequence[AudioFile],
    description: str | None = None,
    labels: dict[str, str] | None = None,
    remove_background_noise: bool = False,
) -> str:
    """Create an instant voice clone (``POST /v1/voices/add``) and return its provider voice id.

    Raises VoiceLimitReached when no slot is free, InvalidRequest, AuthFailed, RateLimited, ProviderUnavailable.
    Not idempotent: after ProviderUnavailable with ``request_sent`` true the voice may exist (see module doc).
    """
    if not files:
        raise ValueError("create_voice needs at least one audio file")
    kwargs: dict[str, Any] = {
        "name": name,
        "files": [f.as_sdk_file() for f in files],
        "remove_background_noise": remove_background_noise,
    }
    if description is not None:
        kwargs["description"] = description
    if labels is not None:
        kwargs["labels"] = dict(labels)

    def attempt() -> str:
        with translated_errors():
            response = get_client().voices.ivc.create(**kwargs, request_options=NO_SDK_RETRIES)
        voice_id = getattr(response, "voice_id", None)
        if not voice_id:
            raise ProviderUnavailable("ElevenLabs accepted the voice but returned no voice_id")
        if getattr(response, "requires_verification", False):
            logger.warning("ElevenLabs voice %s requires verification before use", voice_id)
        return voice_id

    return call_with_retries("create_voice", attempt, should_retry=retry_if_not_applied)


def add_samples(
    *,
    voice_id: str,
    name: str,
    files: Sequence[AudioFile],
    description: str | None = None,
    labels: dict[str, str] | None = None,
) -> list[str]:
    """Add audio samples to an existing voice (``POST /v1/voices/{id}/edit``); the voice id stays the same.

    Returns the ids of the new samples: the edit response carries none, so the voice is read before and after
    and the sample lists compared. ``labels=None`` keeps the voice's current labels.
    Raises VoiceNotFound, InvalidRequest, AuthFailed, RateLimited, ProviderUnavailable. Not idempotent: after
    ProviderUnavailable with ``request_sent`` true the samples may have been added (see module doc).
    """
    if not files:
        raise ValueError("add_samples needs at least one audio file")
    before = call_with_retries("get_voice", lambda: _get_voice_once(voice_id))
    known_ids = {s.sample_id for s in before.samples}

    kwargs: dict[str, Any] = {
        "name": name,
        "files": [f.as_sdk_file() for f in files],
        # Send the current labels rather than letting the SDK send "null" for them.
        "labels": dict(labels) if labels is not None else dict(before.labels),
    }
    if description is not None:
        kwargs["description"] = description

    def attempt() -> None:
        with translated_errors():
            get_client().voices.update(voice_id, **kwargs, request_options=NO_SDK_RETRIES)

    call_with_retries("add_samples", attempt, should_retry=retry_if_not_applied)

    after = call_with_retries("get_voice", lambda: _get_voice_once(voice_id))
    return [s.sample_id for s in after.samples if s.sample_id not in known_ids]


def delete_voice(*, voice_id: str) -> None:
    """Delete a provider voice (``DELETE /v1/voices/{id}``), freeing its slot.

    Raises VoiceNotFound when the voice does not exist. If an earlier attempt of this call failed in a way that
    may have deleted it (5xx, timeout, dropped connection) and the retry finds it gone, that counts as success.
    """
    maybe_deleted = False

    def attempt() -> None:
        nonlocal maybe_deleted
        try:
            with translated_errors():
                get_client().voices.delete(voice_id, request_options=NO_SDK_RETRIES)
        except VoiceNotFound:
            if maybe_deleted:
                logger.info("ElevenLabs voice %s was deleted by an earlier attempt", voice_id)
                return
            raise
        except ProviderUnavailable as exc:
            maybe_deleted = maybe_deleted or exc.request_sent
            raise

    call_with_retries("delete_voice", attempt)


def get_voice(*, voice_id: str) -> ProviderVoice:
    """Read one voice with its samples (``GET /v1/voices/{id}``). Raises VoiceNotFound if it does not exist."""
    return call_with_retries("get_voice", lambda: _get_voice_once(voice_id))


def list_voices(
    *,
    category: str | None = "cloned",
    search: str | None = None,
    page_size: int = 100,
) -> Iterator[ProviderVoice]:
    """Yield the account's voices (``GET /v2/voices``), following ``next_page_token`` while ``has_more``.

    Lazy: pages are fetched (with retries) while iterating, so errors surface during iteration. A voice seen
    on an earlier page is not yielded again (pages are a live snapshot and can shift).
    """
    page_size = max(1, min(int(page_size), 100))  # the API caps page_size at 100
    seen: set[str] = set()
    token: str | None = None
    while True:
        params: dict[str, Any] = {"page_size": page_size}
        if category is not None:
            params["category"] = category
        if search is not None:
            params["search"] = search
        if token is not None:
            params["next_page_token"] = token

        def fetch_page(params: dict[str, Any] = params) -> Any:
            with translated_errors():
                return get_client().voices.search(**params, request_options=NO_SDK_RETRIES)

        page = call_with_retries("list_voices", fetch_page)
        for voice in page.voices or []:
            if voice.voice_id and voice.voice_id not in seen:
                seen.add(voice.voice_id)
                yield _voice_from_sdk(voice)
        if not page.has_more:
            return
        next_token = page.next_page_token
        if not next_token or next_token == token:
            # Stopping here would silently return a partial list (and reconciliation would think voices
            # vanished); following the same token would loop forever.
            raise ProviderUnavailable("ElevenLabs said more voices follow but gave no new next_page_token")
        token = next_token


def voices_marked(*, marker: str, label_key: str) -> list[ProviderVoice]:
    """Cloned voices carrying `marker` as their description or as the label `label_key`, oldest first.

    voiceclone marks every provider voice it creates, so that an attempt whose create answer was lost
    (a crash, a dropped connection) can find and adopt the voice instead of creating a second one.
    """
    found = [
        voice for voice in list_voices(category="cloned", search=marker)
        if voice.description == marker or voice.labels.get(label_key) == marker
    ]
    return sorted(found, key=lambda voice: (voice.created_at_unix or 0, voice.voice_id))


def sample_audio(*, voice_id: str, sample_id: str) -> bytes:
    """The audio of one sample of a voice (``GET /v1/voices/{id}/samples/{sample_id}/audio``).

    A read, retried on rate limits and outages. Raises VoiceNotFound when the voice or sample does not exist.
    Used to adopt the recordings of a provider voice made by a previous installation.
    """

    def attempt() -> bytes:
        with translated_errors():
            chunks = get_client().voices.samples.audio.get(voice_id, sample_id, request_options=NO_SDK_RETRIES)
            return b"".join(chunks)

    return call_with_retries("sample_audio", attempt)


def quota(*, retries: bool = True) -> Quota:
    """Voice slots and character usage from ``GET /v1/user/subscription``.

    ``retries=False``: one attempt, for probes (health checks, metrics) that must answer quickly.
    """

    def attempt() -> Quota:
        with translated_errors():
            sub = get_client().user.subscription.get(request_options=NO_SDK_RETRIES)
        if sub.voice_limit is None or sub.voice_slots_used is None:
            raise ProviderUnavailable("ElevenLabs subscription reply lacks voice_limit/voice_slots_used")
        return Quota(
            voice_limit=int(sub.voice_limit),
            voice_slots_used=int(sub.voice_slots_used),
            character_count=int(sub.character_count or 0),
            character_limit=int(sub.character_limit or 0),
            tier=str(sub.tier or ""),
        )

    return call_with_retries("quota", attempt, attempts=None if retries else 1)


# --- speech ------------------------------------------------------------------------------------------------


def _tts_kwargs(text: str, model_id: str | None, output_format: str | None) -> dict[str, Any]:
    return {
        "text": text,
        "model_id": model_id if model_id is not None else setting("ELEVENLABS_TTS_MODEL", DEFAULT_TTS_MODEL),
        "output_format": (
            output_format
            if output_format is not None
            else setting("ELEVENLABS_TTS_OUTPUT_FORMAT", DEFAULT_TTS_OUTPUT_FORMAT)
        ),
        "request_options": NO_SDK_RETRIES,
    }


def tts(*, voice_id: str, text: str, model_id: str | None = None, output_format: str | None = None) -> TTSResult:
    """Synthesize ``text`` with a voice and return the whole audio plus the request id and character cost.

    The body is read inside the retry loop, so a failure anywhere (status or mid-body) is retried.
    Raises VoiceNotFound, InvalidRequest (e.g. text too long), QuotaExceeded, AuthFailed, RateLimited,
    ProviderUnavailable.
    """
    kwargs = _tts_kwargs(text, model_id, output_format)

    def attempt() -> TTSResult:
        with translated_errors():
            # with_raw_response.convert is a context manager: entering it sends the request and raises on an
            # error status; the body is read while iterating .data.
            with get_client().text_to_speech.with_raw_response.convert(voice_id, **kwargs) as response:
                headers = response.headers
                audio = b"".join(response.data)
        if not audio:
            raise ProviderUnavailable("ElevenLabs returned empty audio", status_code=200)
        return TTSResult(
            audio=audio,
            request_id=_header(headers, "request-id"),
            character_cost=_int_header(headers, "character-cost", "x-character-count"),
            content_type=_header(headers, "content-type") or "audio/mpeg",
        )

    result = call_with_retries("tts", attempt)
    _report_tts("tts", voice_id=voice_id, text=text, model_id=kwargs["model_id"], request_id=result.request_id,
                character_cost=result.character_cost)
    return result


def _report_tts(operation: str, *, voice_id: str, text: str, model_id: str, request_id: str | None,
                character_cost: int | None) -> None:
    usage_report(ProviderUsage(
        operation=operation, characters=character_cost if character_cost is not None else len(text), audio_s=None,
        provider_voice_id=voice_id, request_id=request_id or "", model_id=model_id,
    ))


@contextlib.contextmanager
def tts_stream(
    *, voice_id: str, text: str, model_id: str | None = None, output_format: str | None = None
) -> Iterator[TTSStream]:
    """Stream synthesized audio (``POST /v1/text-to-speech/{id}/stream``).

    Use as ``with tts_stream(...) as stream: for chunk in stream: ...``. Opening the stream is retried until the
    first audio chunk has arrived; after that a failure raises ProviderUnavailable. Raises the same errors as
    :func:`tts` when opening.
    """
    kwargs = _tts_kwargs(text, model_id, output_format)

    def attempt() -> TTSStream:
        stack = contextlib.ExitStack()
        with translated_errors():
            try:
                response = stack.enter_context(
                    get_client().text_to_speech.with_raw_response.stream(voice_id, **kwargs)
                )
                chunks = iter(response.data)
                first_chunk = next(chunks, b"")
                if not first_chunk:
                    raise ProviderUnavailable("ElevenLabs returned an empty audio stream", status_code=200)
            except BaseException:
                stack.close()
                raise
        headers = response.headers
        return TTSStream(
            request_id=_header(headers, "request-id"),
            character_cost=_int_header(headers, "character-cost", "x-character-count"),
            content_type=_header(headers, "content-type") or "audio/mpeg",
            first_chunk=first_chunk,
            chunks=chunks,
            stack=stack,
        )

    stream = call_with_retries("tts_stream", attempt)
    # Billed once the stream is open (the provider charges the whole text, however much is read); recorded
    # once the first chunk is handed out, or when the stream closes (TTSStream.on_billed).
    stream.on_billed(lambda: _report_tts(
        "tts_stream", voice_id=voice_id, text=text, model_id=kwargs["model_id"], request_id=stream.request_id,
        character_cost=stream.character_cost))
    try:
        yield stream
    finally:
        stream.close()


def stt(*, audio: bytes, filename: str, content_type: str, language_code: str | None = None) -> STTResult:
    """Transcribe audio (``POST /v1/speech-to-text``) with ``ELEVENLABS_STT_MODEL``.

    Raises InvalidRequest, AuthFailed, RateLimited, ProviderUnavailable.
    """
    kwargs: dict[str, Any] = {
        "model_id": setting("ELEVENLABS_STT_MODEL", DEFAULT_STT_MODEL),
        "file": (filename, audio, content_type),
        "request_options": NO_SDK_RETRIES,
    }
    if language_code is not None:
        kwargs["language_code"] = language_code

    def attempt() -> STTResult:
        with translated_errors():
            result = get_client().speech_to_text.convert(**kwargs)
        text = getattr(result, "text", None)
        if text is None:
            # A webhook (202) or multichannel reply; we request neither.
            raise ProviderError(
                f"Unexpected speech-to-text reply: {type(result).__name__}", status_code=200, retryable=False
            )
        duration = getattr(result, "audio_duration_secs", None)
        return STTResult(
            text=str(text),
            language_code=getattr(result, "language_code", None),
            duration_s=float(duration) if duration is not None else None,
        )

    result = call_with_retries("stt", attempt)
    usage_report(ProviderUsage(operation="stt", characters=0, audio_s=result.duration_s, provider_voice_id="",
                               request_id="", model_id=kwargs["model_id"]))
    return result
