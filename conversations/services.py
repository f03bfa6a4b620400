"""Writes for conversations and the chat-turn pipeline.

A turn: the request stores the user message and a pending assistant message and enqueues the
work on commit. The task runs speech-to-text (voice input) → reply engine → text-to-speech with
the voice's current version → stores the audio as a generated ClipSample → only then marks the
message ready. Every step records its result, so a retry after a crash resumes where it stopped:
no second reply text, no second TTS when the audio is already stored, never a duplicate clip.
"""

import logging
import re
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from clones import storage
from clones.analysis import speech_seconds
from clones.audio import MIN_SPEECH_SAMPLE_RATE_HZ, AudioProbeError, probe_and_decode, probe_audio
from clones.models import ClipSample, Voice
from clones.selectors import voice_is_usable_by
from clones.services import generated_audio_register
from voiceclone import provider, ratelimit, replies
from voiceclone.background import enqueue_on_commit
from voiceclone.errors import ApplicationError, InvalidState, RateLimited, wait_phrase
from voiceclone.events.services import event_emit
from voiceclone.leases import (
    is_transient_db_error,
    lease_cutoff,
    lease_heartbeat,
    stopped_work_find,
    worker_identity,
)
from voiceclone.validators import plain_text_validate

from usage.context import usage_attributed

from . import selectors, speech
from .models import Conversation, Message
from .render_reuse import render_key, reply_render_reuse

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 2000
HISTORY_TURNS = 20


def conversation_create(*, user, voice: Voice, title: str = "") -> Conversation:
    """Start a conversation with a ready voice the user owns or that is shared with every user.
    Raises InvalidState otherwise. The conversation is private to `user`."""
    if voice.status != Voice.Status.READY:
        raise InvalidState(f"The voice “{voice.name}” is not ready to talk yet (status: {voice.status}).")
    if not voice_is_usable_by(user=user, voice=voice):
        raise InvalidState(f"The voice “{voice.name}” is not shared with you.")
    plain_text_validate(title=title)
    conversation = Conversation(user=user, voice=voice, title=(title or "").strip()[:200])
    conversation.full_clean()
    conversation.save()
    return conversation


def conversation_update(*, conversation: Conversation, title: str | None = None,
                        is_archived: bool | None = None) -> Conversation:
    plain_text_validate(title=title)
    if title is not None:
        conversation.title = title.strip()[:200]
    if is_archived is not None:
        conversation.is_archived = is_archived
    conversation.save(update_fields=["title", "is_archived", "updated_at"])
    return conversation


def message_send(
    *,
    conversation: Conversation,
    text: str = "",
    audio: bytes | None = None,
    audio_filename: str = "",
    idempotency_key: str = "",
    paced: bool = True,
) -> tuple[Message, Message]:
    """Store a user message (text or a recording) and a pending assistant reply; enqueue the turn.

    `paced=False` skips the turn rate (CHAT_TURN_RATE) for turns the system itself seeds (`manage.py demo
    --history` sends two dozen at once); the daily TTS allowance still applies.

    Returns (user_message, assistant_message). With an `idempotency_key` already used in this
    conversation, returns the existing pair instead of creating a second turn, also when the
    duplicates arrive at once (the unique constraint picks one; the others answer its pair and
    remove the recording they stored). Raises ApplicationError `invalid_idempotency_key` for a
    malformed key, ValidationError for empty/oversized input, InvalidState when the conversation is
    archived or the voice is not ready.
    """
    if idempotency_key:
        idempotency_key_validate(idempotency_key)
        existing = _turn_for_key(conversation, idempotency_key)
        if existing is not None:
            return existing
    if conversation.is_archived:
        raise InvalidState("This conversation is archived; start a new one to keep talking.")
    voice = conversation.voice
    if voice.status != Voice.Status.READY:
        raise InvalidState(f"The voice “{voice.name}” is not available (status: {voice.status}).")
    if not voice_is_usable_by(user=conversation.user, voice=voice):
        raise InvalidState(f"The voice “{voice.name}” is no longer shared with you.")
    try:
        _turn_allowance_check(user_id=conversation.user_id, paced=paced)
    except RateLimited:
        # Concurrent repeats of one key each count as an attempt: one whose turn exists by now
        # answers that turn, like any repeat, rather than a 429.
        existing = _turn_for_key(conversation, idempotency_key) if idempotency_key else None
        if existing is None:
            raise
        return existing

    text = (text or "").strip()
    if audio is None and not text:
        raise ValidationError({"text": ["Write a message or send a recording."]})
    if audio is not None and text:
        raise ValidationError({"non_field_errors": ["Send either text or a recording, not both."]})
    if len(text) > MAX_TEXT_CHARS:
        raise ValidationError({"text": [f"Messages are limited to {MAX_TEXT_CHARS} characters."]})

    user_message = Message(
        conversation=conversation, role=Message.Role.USER, text=text, idempotency_key=idempotency_key
    )
    stored = None
    if audio is not None:
        info = _validate_recording(audio, audio_filename)
        user_message.input_kind = Message.InputKind.AUDIO
        user_message.user_audio_content_type = info.content_type
        # Private to its owner and never a training source: it lives outside clone_responses/.
        # The path holds this attempt's own message id, so a racing duplicate never overwrites it.
        path = storage.user_audio_path(
            user_id=conversation.user_id,
            conversation_id=conversation.pk,
            message_id=user_message.pk,
            extension=info.extension,
        )
        stored = user_message.user_audio = storage.save_bytes(path, audio)

    try:
        with transaction.atomic():
            user_message.save()
            assistant = Message.objects.create(
                conversation=conversation,
                role=Message.Role.ASSISTANT,
                status=Message.Status.PENDING,
                in_reply_to=user_message,
            )
            Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
            event_emit(type="message.pending", user=conversation.user, voice=conversation.voice,
                       conversation=conversation,
                       payload={"message_id": str(assistant.pk), "user_message_id": str(user_message.pk)})
            enqueue_on_commit("conversations.tasks.message_reply_generate", assistant.pk)
    except BaseException as exc:
        # The file was stored before the row (no transaction across storage I/O): remove it when
        # the row is not written, so a lost race or a failed insert leaves nothing orphaned.
        if stored:
            storage.default_storage.delete(stored)
        if isinstance(exc, IntegrityError) and idempotency_key:
            # Another request with the same key inserted first (the unique constraint decided).
            existing = _turn_for_key(conversation, idempotency_key)
            if existing is not None:
                return existing
        raise
    return user_message, assistant


IDEMPOTENCY_KEY_MAX_CHARS = 128
_IDEMPOTENCY_KEY_RE = re.compile(r"[A-Za-z0-9._:+/=-]+")


def idempotency_key_validate(key: str) -> None:
    """Raise ApplicationError `invalid_idempotency_key` unless `key` is 1–128 characters of
    letters, digits and `. _ : + / = -` (UUIDs, ULIDs and base64 tokens all fit)."""
    if len(key) > IDEMPOTENCY_KEY_MAX_CHARS or not _IDEMPOTENCY_KEY_RE.fullmatch(key):
        raise ApplicationError(
            f"Idempotency-Key must be 1–{IDEMPOTENCY_KEY_MAX_CHARS} characters of letters, digits and "
            "“. _ : + / = -”, e.g. a UUID.",
            code="invalid_idempotency_key",
        )


def _turn_for_key(conversation: Conversation, key: str) -> tuple[Message, Message] | None:
    existing = (
        Message.objects.filter(conversation=conversation, role=Message.Role.USER, idempotency_key=key)
        .select_related("reply")
        .first()
    )
    return (existing, existing.reply) if existing is not None else None


def _turn_allowance_check(*, user_id, paced: bool = True) -> None:
    """Refuse a turn (RateLimited, 429) when today's TTS budget is spent or turns come too fast.

    The budget is refused here, before anything is stored, when it is already used up: the user
    learns it at once instead of waiting for a reply that fails. A reply that would overrun what is
    left fails in the task (`tts_budget_exhausted`), where its length is known.
    """
    budget = settings.TTS_DAILY_CHARS_PER_USER
    if budget and selectors.tts_characters_used_today(user_id=user_id) >= budget:
        resets_in = selectors.tts_budget_resets_in_s()
        raise RateLimited(
            f"Today's spoken-reply allowance of {budget:,} characters is used up. It renews "
            f"{wait_phrase(resets_in)} (00:00 UTC).",
            code="tts_budget_exhausted", retry_after_s=resets_in,
        )
    if paced:
        ratelimit.attempt_or_refuse("chat-turn", str(user_id), settings.CHAT_TURN_RATE, what="messages")


def _tts_budget_check(message: Message) -> None:
    """Before paying for TTS: fail the turn when its text would overrun the owner's daily budget."""
    budget = settings.TTS_DAILY_CHARS_PER_USER
    if not budget:
        return
    used = selectors.tts_characters_used_today(user_id=message.conversation.user_id)
    if used + len(message.text) > budget:
        raise _TurnFailed(
            "tts_budget_exhausted",
            f"Today's spoken-reply allowance is used up ({used:,} of {budget:,} characters; this reply needs "
            f"{len(message.text):,}). Retry after 00:00 UTC.",
        )


def _validate_recording(audio: bytes, filename: str):
    if len(audio) > settings.UPLOAD_MAX_BYTES:
        raise ValidationError(
            {"audio": [f"The recording is larger than {settings.UPLOAD_MAX_BYTES / (1024 * 1024):g} MB."]}
        )
    try:
        info, samples = probe_and_decode(audio, filename=filename)
    except AudioProbeError as exc:
        raise ValidationError({"audio": [str(exc)]}) from None
    if info.sample_rate < MIN_SPEECH_SAMPLE_RATE_HZ:
        raise ValidationError({"audio": [f"The recording's sample rate of {info.sample_rate} Hz is too low for speech."]})
    if info.duration_s > settings.UPLOAD_MAX_DURATION_S:
        raise ValidationError({"audio": [f"Recordings are limited to {settings.UPLOAD_MAX_DURATION_S:g} s."]})
    if info.duration_s < 0.3:
        raise ValidationError({"audio": ["The recording is too short to understand."]})
    # Silence would be transcribed as nothing (or, by some recognisers, as words nobody said) and then
    # answered: refuse it while the sender is still there to record again.
    if speech_seconds(samples, info.sample_rate) < settings.VOICE_MESSAGE_MIN_SPEECH_S:
        raise ValidationError({"audio": [ValidationError(
            "No speech was heard in this recording (it is silent or too quiet). Record your message again, "
            "closer to the microphone.", code="no_speech")]})
    return info


def message_retry(*, message: Message) -> Message:
    """Retry a failed reply. Raises InvalidState unless it is a failed assistant message, RateLimited
    like a new turn (it costs the same)."""
    if message.role == Message.Role.ASSISTANT and message.status == Message.Status.FAILED:
        _turn_allowance_check(user_id=message.conversation.user_id)
    with transaction.atomic():
        updated = Message.objects.filter(
            pk=message.pk, role=Message.Role.ASSISTANT, status=Message.Status.FAILED
        ).update(status=Message.Status.PENDING, failure_code="", failure_reason="", claimed_at=None)
        if not updated:
            raise InvalidState("Only a failed reply can be retried.")
        enqueue_on_commit("conversations.tasks.message_reply_generate", message.pk)
    message.refresh_from_db()
    return message


class _TurnFailed(Exception):
    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _claim(message_id) -> bool:
    """Take the lease on a pending reply; False when it is done or a live worker holds it (its
    heartbeat keeps `claimed_at` younger than WORK_LEASE_S, voiceclone.leases)."""
    now = timezone.now()
    return bool(
        Message.objects.filter(pk=message_id, role=Message.Role.ASSISTANT, status=Message.Status.PENDING)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=lease_cutoff(now)))
        .update(claimed_at=now, claimed_by=worker_identity(), attempt_count=F("attempt_count") + 1)
    )


def _mine(message: Message):
    """The message as long as this attempt still holds it (no other worker took the lease over)."""
    return Message.objects.filter(pk=message.pk, status=Message.Status.PENDING, attempt_count=message.attempt_count)


def message_reply_generate(*, message_id) -> Message | None:
    """Produce the spoken reply for a pending assistant message. Safe to run twice or after a crash.

    Every way a turn can end is recorded: `ready`; `failed` with a readable reason when the provider
    or the reply engine cannot help (after the adapter's own retries with backoff), or for any
    unexpected error (`internal_error`), leaving `message_retry` possible; or, when the database
    itself failed (locked, connection lost), pending again for another attempt, at most
    WORK_MAX_ATTEMPTS in all. A heartbeat keeps the claim alive while the worker lives.
    """
    if not _claim(message_id):
        return None
    message = Message.objects.select_related(
        "conversation__voice", "conversation__user", "in_reply_to", "clip").get(pk=message_id)
    try:
        with lease_heartbeat(_mine(message)):
            clip, timings = _turn_run(message)
    except _TurnFailed as exc:
        return _mark_failed(message, exc.code, exc.reason)
    except Exception as exc:  # noqa: BLE001 - the turn must end somewhere; the traceback is logged
        return _turn_unexpected_error(message, exc)
    if clip is None:
        return None  # another worker took the turn over
    return _mark_ready(message, clip, timings)


def _turn_run(message: Message) -> tuple[ClipSample | None, dict]:
    timings = {}
    user_message = message.in_reply_to
    if user_message.input_kind == Message.InputKind.AUDIO and not user_message.text:
        t0 = time.monotonic()
        _transcribe(user_message)
        timings["stt_ms"] = _ms(t0)
    if not message.text:
        t0 = time.monotonic()
        _write_reply(message)
        timings["reply_ms"] = _ms(t0)
    if message.clip_id is None and not _mine(message).exists():
        return None, timings  # lost the lease meanwhile: never pay for speech another worker pays for
    t0 = time.monotonic()
    clip = _speak_and_store(message)
    timings["tts_ms"] = _ms(t0)
    return clip, timings


def _turn_unexpected_error(message: Message, exc: Exception) -> Message | None:
    """A database failure gets another attempt (bounded); anything else ends the turn `failed`."""
    if is_transient_db_error(exc) and message.attempt_count < settings.WORK_MAX_ATTEMPTS:
        logger.warning("reply %s: attempt %s hit a database error, trying again: %s", message.pk,
                       message.attempt_count, exc)
        released = _mine(message).update(claimed_at=None)
        if released:
            async_task("conversations.tasks.message_reply_generate", message.pk)
        return None
    logger.exception("reply %s failed with an unexpected error", message.pk)
    return _mark_failed(
        message, "internal_error",
        f"Something went wrong on our side while producing this reply ({type(exc).__name__}). Retry it.",
    )


def _mark_ready(message: Message, clip: ClipSample, timings: dict) -> Message:
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        if locked.status != Message.Status.PENDING:
            return locked
        locked.status = Message.Status.READY
        locked.voice_version = clip.version
        locked.completed_at = timezone.now()
        locked.claimed_at = None
        locked.total_ms = int((locked.completed_at - locked.created_at).total_seconds() * 1000)
        for key, value in timings.items():
            setattr(locked, key, value)
        locked.save()
        conversation = message.conversation
        event_emit(
            type="message.ready",
            user=conversation.user,
            voice=conversation.voice,
            conversation=conversation,
            payload={"message_id": str(locked.pk), "voice_version": clip.version.number},
        )
        enqueue_on_commit("clones.tasks.clip_analyse", clip.pk)
    return locked


def _ms(t0: float) -> int:
    return int((time.monotonic() - t0) * 1000)


@usage_attributed(lambda m: {"kind": "stt", "user_id": m.conversation.user_id, "voice_id": m.conversation.voice_id})
def _transcribe(user_message: Message) -> None:
    audio = storage.read_bytes(user_message.user_audio.name)
    try:
        result = provider.stt(
            audio=audio,
            filename=user_message.user_audio.name.rsplit("/", 1)[-1],
            content_type=user_message.user_audio_content_type or "application/octet-stream",
            language_code=user_message.conversation.voice.language or None,
        )
    except provider.ProviderError as exc:
        raise _TurnFailed("stt_failed", f"Speech recognition failed: {exc.message}") from None
    text = result.text.strip()
    if not text:
        raise _TurnFailed("stt_empty", "No speech was recognised in the recording.")
    Message.objects.filter(pk=user_message.pk).update(text=text)
    user_message.text = text


def _history(message: Message) -> list[replies.Turn]:
    """The conversation up to the user message being answered, ending with it.

    Only what came before that message counts: with two messages sent at once (two open tabs), each
    reply answers its own message, whatever order the replies are written in or the rows got their
    timestamps. Replies that failed or have no text yet are left out.
    """
    answered = message.in_reply_to
    earlier = list(
        Message.objects.filter(conversation_id=message.conversation_id)
        .filter(Q(created_at__lt=answered.created_at) | Q(created_at=answered.created_at, id__lt=answered.pk))
        .exclude(pk__in=[message.pk, answered.pk])
        .exclude(role=Message.Role.ASSISTANT, status=Message.Status.FAILED)
        .exclude(text="")
        .order_by("-created_at", "-id")[:HISTORY_TURNS - 1]
    )
    turns = [replies.Turn(role=m.role, text=m.text) for m in reversed(earlier)]
    return [*turns, replies.Turn(role=Message.Role.USER, text=answered.text)]


def _write_reply(message: Message) -> None:
    from personas.services import conversation_memory_for_reply

    voice = message.conversation.voice
    request = replies.ReplyRequest(
        persona=voice.persona, voice_name=voice.name, history=_history(message), language=voice.language or "en",
        # A long conversation's older messages, summarised (docs/personas.md); may enqueue a refresh.
        memory=conversation_memory_for_reply(conversation=message.conversation),
    )
    try:
        result = replies.generate_reply(request)
    except replies.ReplyEngineError as exc:
        raise _TurnFailed("reply_failed", f"The reply engine failed: {exc}") from None
    tag = replies.engine_tag(result)
    conversation = message.conversation
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(text=result.text, reply_engine=tag)
        event_emit(type="message.text_ready", user=conversation.user, voice=conversation.voice,
                   conversation=conversation, payload={"message_id": str(message.pk), "text": result.text})
    message.text = result.text
    message.reply_engine = tag


@usage_attributed(lambda m: {"kind": "tts", "user_id": m.conversation.user_id, "voice_id": m.conversation.voice_id})
def _speak_and_store(message: Message) -> ClipSample:
    """TTS with the voice's current version and store the clip; reuse audio a crashed attempt stored."""
    clip = message.clip
    if clip is not None and clip.file:
        return clip  # stored and complete: only the ready mark was missing
    if clip is not None and clip.sha256:
        # The row knows the audio's hash from before the write: reuse the file only if it is whole.
        path = storage.generated_clip_path(clip)
        if storage.default_storage.exists(path):
            audio = storage.read_bytes(path)
            if storage.sha256_hex(audio) == clip.sha256:
                return _clip_finish(clip, audio=audio)

    voice = message.conversation.voice
    version = Voice.objects.select_related("current_version").get(pk=voice.pk).current_version
    # An identical render is stored: copy it, no provider call (a crashed attempt's own row is completed below).
    reused = reply_render_reuse(message=message, version=version) if clip is None else None
    if reused is not None:
        return reused
    _tts_budget_check(message)
    try:
        # Streamed: each chunk reaches the reply's spool, and so its listeners, as it arrives (speech.py).
        result = speech.reply_speak(message=message, voice_id=version.provider_voice_id)
    except provider.VoiceNotFound:
        # A promotion may have replaced the version while we were working: re-read once.
        fresh = Voice.objects.select_related("current_version").get(pk=voice.pk).current_version
        if fresh is None or fresh.pk == version.pk:
            raise _TurnFailed("voice_gone", "The cloned voice no longer exists at the provider.") from None
        version = fresh
        try:
            result = speech.reply_speak(message=message, voice_id=version.provider_voice_id)
        except provider.ProviderError as exc:
            raise _TurnFailed("tts_failed", f"Speech synthesis failed: {exc.message}") from None
    except provider.ProviderError as exc:
        raise _TurnFailed("tts_failed", f"Speech synthesis failed: {exc.message}") from None

    facts = {
        "version": version,
        "text": message.text,
        "lineage_depth": version.generated_lineage_depth,
        "provider_request_id": (result.request_id or "")[:64],
        "character_cost": result.character_cost,
        "sha256": result.sha256,  # of the bytes streamed, which are the bytes stored
        "size_bytes": len(result.audio),
        "render_key": render_key(version=version, text=message.text),
    }
    if clip is not None:
        # A crashed attempt recorded the clip row but never wrote its file: complete that row.
        for field, value in facts.items():
            setattr(clip, field, value)
        clip.save(update_fields=list(facts))
    else:
        with transaction.atomic():
            clip = ClipSample.objects.create(
                voice=voice, source=ClipSample.Source.GENERATED, content_type="audio/mpeg", **facts
            )
            Message.objects.filter(pk=message.pk).update(clip=clip)
    return _clip_finish(clip, audio=result.audio)


def _clip_finish(clip: ClipSample, *, audio: bytes) -> ClipSample:
    """Write the audio at the clip's canonical path, then record the file: from now on it is stored."""
    path = storage.save_bytes(storage.generated_clip_path(clip), audio)
    # MP3 from the provider: length from the frame headers, no second decode before the reply is ready.
    measured = speech.mp3_duration(audio) if clip.content_type == "audio/mpeg" else None
    info = None
    if measured is None:
        try:
            info = probe_audio(audio, filename=path)
        except AudioProbeError:
            logger.warning("provider audio for clip %s could not be decoded", clip.pk)
        measured = (info.duration_s, info.sample_rate) if info else (None, None)
    with transaction.atomic():
        clip.file = path
        clip.duration_s, clip.sample_rate = measured
        clip.save(update_fields=["file", "duration_s", "sample_rate"])
        # The hash only: the fingerprint needs a decode, which the clip analysis (enqueued with the ready
        # mark) does anyway and completes it from (clones.services.generated_audio_fingerprint_complete).
        generated_audio_register(sha256=clip.sha256, clip=clip)
    return clip


def _mark_failed(message: Message, code: str, reason: str) -> Message:
    logger.warning("reply %s failed: %s", message.pk, reason)
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        if locked.status != Message.Status.PENDING:
            return locked
        locked.status = Message.Status.FAILED
        locked.failure_code = code
        locked.failure_reason = reason
        locked.claimed_at = None
        locked.save(update_fields=["status", "failure_code", "failure_reason", "claimed_at", "updated_at"])
        conversation = message.conversation
        event_emit(
            type="message.failed",
            user=conversation.user,
            voice=conversation.voice,
            conversation=conversation,
            payload={"message_id": str(locked.pk), "code": code, "reason": reason},
        )
    return locked


def messages_pending_sweep(*, older_than_s: int | None = None) -> int:
    """Re-enqueue pending replies whose work stopped. Returns the count.

    Two kinds (voiceclone.leases.stopped_work_find): a claim whose worker stopped, which is released so the
    page shows `retrying` until a worker takes it — its heartbeat is older than WORK_LEASE_S, or (found
    sooner) the worker process that holds it no longer runs on this host (`claimed_by`); and a reply never
    claimed for longer than `older_than_s` (default Q_TIMEOUT_S: its task was lost by the broker).
    """
    pending = Message.objects.filter(role=Message.Role.ASSISTANT, status=Message.Status.PENDING)
    lost, dead = stopped_work_find(pending, limit=500, older_than_s=older_than_s)
    for pk in lost + dead:
        async_task("conversations.tasks.message_reply_generate", pk)
    if dead:
        logger.warning("re-enqueued %s reply(ies) whose worker stopped: %s", len(dead), dead)
    return len(lost) + len(dead)
