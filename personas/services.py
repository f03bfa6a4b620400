"""Writes for personas: versions, drafts refined from conversations, rollback, conversation memory.

The "don't retrain" path (docs/personas.md): instead of a new provider voice, the persona (the reply
engine's system prompt) improves from what conversations show, and long conversations keep a memory.
Drafting and summarising call the reply engine (a language model when LLM_BASE_URL is set), so they
run in django-q2 tasks, never inside a transaction; without a model they write deterministic offline
text that says so.
"""

from __future__ import annotations

import difflib
import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from audit.services import audit_record
from clones.models import Voice
from voiceclone import replies
from voiceclone.background import enqueue_on_commit
from voiceclone.errors import InvalidState

from . import offline
from .models import ConversationMemory, PersonaDraft, PersonaVersion

logger = logging.getLogger(__name__)


# --- Versions ------------------------------------------------------------------------------------


def persona_history_ensure(*, voice: Voice) -> PersonaVersion:
    """The voice's latest persona version, creating version 1 (`initial`) from `voice.persona` when the
    voice has none yet (voices made before persona versions existed, or by factories). Idempotent."""
    latest = PersonaVersion.objects.filter(voice=voice).order_by("-number").first()
    if latest is not None:
        return latest
    current = Voice.objects.filter(pk=voice.pk).values_list("persona", flat=True).first() or voice.persona
    try:
        with transaction.atomic():
            return PersonaVersion.objects.create(
                voice=voice, number=1, text=current, source=PersonaVersion.Source.INITIAL,
                created_by_id=voice.owner_id,
            )
    except IntegrityError:  # a concurrent caller made it
        return PersonaVersion.objects.filter(voice=voice).order_by("-number").first()


def _next_number(voice: Voice) -> int:
    return (PersonaVersion.objects.filter(voice=voice).aggregate(n=Max("number"))["n"] or 0) + 1


def _clean_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": ["A persona is required: describe who the clone is and how it speaks."]})
    if len(text) > settings.PERSONA_MAX_CHARS:
        raise ValidationError({"text": [f"A persona is limited to {settings.PERSONA_MAX_CHARS} characters."]})
    return text


def persona_version_record(
    *, voice: Voice, text: str, source: str, by=None, draft: PersonaDraft | None = None,
    based_on: PersonaVersion | None = None,
) -> PersonaVersion | None:
    """Record `text` as the voice's newest persona version. Call inside the transaction that sets
    `voice.persona`; the caller has locked the voice. Returns None when `text` equals the latest version."""
    latest = PersonaVersion.objects.filter(voice=voice).order_by("-number").first()
    if latest is not None and latest.text == text and source == PersonaVersion.Source.MANUAL:
        return None
    return PersonaVersion.objects.create(
        voice=voice, number=_next_number(voice), text=text, source=source, created_by=by, draft=draft,
        based_on=based_on,
    )


def _set_persona(*, voice: Voice, text: str, source: str, by, draft=None, based_on=None) -> PersonaVersion:
    """Lock the voice, write `voice.persona`, record the version. Runs inside a transaction."""
    locked = Voice.objects.select_for_update().get(pk=voice.pk)
    if locked.status == Voice.Status.DISABLED:
        raise InvalidState("A disabled voice cannot be changed.")
    locked.persona = text
    locked.save(update_fields=["persona", "updated_at"])
    voice.persona = text
    return persona_version_record(voice=locked, text=text, source=source, by=by, draft=draft, based_on=based_on)


def persona_rollback(*, voice: Voice, number: int, by) -> PersonaVersion:
    """Make version `number`'s text the persona again, as a new `rollback` version (history is kept).

    Raises PersonaVersion.DoesNotExist for an unknown number, InvalidState for a disabled voice.
    """
    persona_history_ensure(voice=voice)
    target = PersonaVersion.objects.get(voice=voice, number=number)
    with transaction.atomic():
        version = _set_persona(
            voice=voice, text=target.text, source=PersonaVersion.Source.ROLLBACK, by=by, based_on=target
        )
        audit_record(actor=by, action="persona.rolled_back", obj=voice,
                     data={"to_version": target.number, "new_version": version.number})
    return version


# --- Drafts --------------------------------------------------------------------------------------


def persona_draft_request(*, voice: Voice, by) -> PersonaDraft:
    """Start drafting an improved persona from the voice's recent conversations.

    Enqueues `personas.tasks.persona_draft_generate` on commit. Raises InvalidState (code
    `draft_open`) while another draft is being written or waits for a decision, or for a disabled voice.
    """
    if voice.status == Voice.Status.DISABLED:
        raise InvalidState("A disabled voice cannot be changed.")
    base = persona_history_ensure(voice=voice)
    try:
        with transaction.atomic():
            draft = PersonaDraft.objects.create(
                voice=voice, base_version=base, base_text=voice.persona, created_by=by,
            )
            enqueue_on_commit("personas.tasks.persona_draft_generate", draft.pk)
    except IntegrityError:
        raise InvalidState(
            "A persona draft for this voice is already open: accept or discard it first.", code="draft_open"
        ) from None
    return draft


def _recent_conversations(voice: Voice) -> list[list[offline.Line]]:
    from conversations.models import Conversation, Message

    conversations = list(
        Conversation.objects.filter(voice=voice).order_by("-updated_at")
        .values_list("pk", flat=True)[: settings.PERSONA_DRAFT_CONVERSATIONS]
    )
    per = settings.PERSONA_DRAFT_MESSAGES_PER_CONVERSATION
    lines: dict = {pk: [] for pk in conversations}
    rows = (
        Message.objects.filter(conversation_id__in=conversations)
        .exclude(text="").exclude(role=Message.Role.ASSISTANT, status=Message.Status.FAILED)
        .order_by("conversation_id", "-created_at", "-id").values_list("conversation_id", "role", "text")
    )
    for conversation_id, role, text in rows:
        if len(lines[conversation_id]) < per:
            lines[conversation_id].append(offline.Line(role=role, text=text))
    return [list(reversed(lines[pk])) for pk in conversations if lines[pk]]


DRAFT_INSTRUCTIONS = (
    "You improve the persona of an AI voice clone: the system prompt a language model follows when it "
    "speaks as this person. You get the current persona and excerpts of recent conversations. Write an "
    "improved persona that keeps the identity, facts, style and rules of the current one, and adds what "
    "the conversations show: the topics people bring up, the tone and length of reply that suits them, "
    "questions the clone answered poorly. Never copy private details about the users into the persona. "
    "Write in the second person (\"You are ...\"), plain prose and short lists, no markdown headings. "
    "Answer with the new persona text only, at most {max_chars} characters."
)


def _transcripts(conversations: list[list[offline.Line]], budget: int) -> str:
    chunks, used = [], 0
    for index, conversation in enumerate(conversations, start=1):
        body = "\n".join(f"{'User' if line.role == 'user' else 'Clone'}: {line.text}" for line in conversation)
        chunk = f"Conversation {index}:\n{body}"
        if used + len(chunk) > budget:
            break
        chunks.append(chunk)
        used += len(chunk)
    return "\n\n".join(chunks)


def persona_draft_generate(*, draft_id: int) -> PersonaDraft | None:
    """Write the text of a `generating` draft (the task). Idempotent: a draft that is no longer
    generating is left alone. A reply-engine failure marks the draft failed with a readable reason."""
    draft = PersonaDraft.objects.select_related("voice").filter(pk=draft_id).first()
    if draft is None or draft.status != PersonaDraft.Status.GENERATING:
        return draft
    voice = draft.voice
    conversations = _recent_conversations(voice)
    name_words = frozenset(w.lower() for w in offline.words(voice.name))
    stats = offline.conversation_stats(conversations, ignore=name_words)
    engine_tag, is_offline, notes = replies.ENGINE_OFFLINE, True, ""
    try:
        result = replies.complete_text(replies.CompletionRequest(
            instructions=DRAFT_INSTRUCTIONS.format(max_chars=settings.PERSONA_MAX_CHARS),
            material=(
                f"Current persona of {voice.name}:\n{draft.base_text}\n\nRecent conversations:\n"
                + _transcripts(conversations, settings.LLM_HISTORY_CHAR_BUDGET * 2)
            ),
            max_tokens=max(settings.LLM_MAX_TOKENS, settings.PERSONA_MAX_CHARS // 3),
        )) if conversations else None
    except replies.ReplyEngineError as exc:
        return _draft_finish(draft, failure=f"The reply engine could not write a draft: {exc.message}")
    if result is not None:
        text = result.text.strip()[: settings.PERSONA_MAX_CHARS]
        engine_tag, is_offline = replies.engine_tag(result), False
        notes = f"Written by {replies.engine_label(engine_tag)} from {stats.conversations} recent conversations."
    else:
        text, notes = offline.draft_persona(draft.base_text, stats, max_chars=settings.PERSONA_MAX_CHARS)
    if not text:
        return _draft_finish(draft, failure="The reply engine answered with an empty persona.")
    return _draft_finish(draft, text=text, notes=notes, engine=engine_tag, is_offline=is_offline,
                         stats=stats.as_dict())


def _draft_finish(draft: PersonaDraft, *, failure: str = "", **fields) -> PersonaDraft:
    with transaction.atomic():
        locked = PersonaDraft.objects.select_for_update().get(pk=draft.pk)
        if locked.status != PersonaDraft.Status.GENERATING:
            return locked
        if failure:
            logger.warning("persona draft %s failed: %s", draft.pk, failure)
            locked.status, locked.failure_reason = PersonaDraft.Status.FAILED, failure
        else:
            locked.status = PersonaDraft.Status.PENDING
            for key, value in fields.items():
                setattr(locked, key, value)
        locked.save()
    return locked


def persona_draft_accept(*, draft: PersonaDraft, by, text: str | None = None) -> PersonaVersion:
    """Make the draft (or the person's edit of it, `text`) the persona: a new `accepted` version.

    Raises InvalidState (`draft_not_pending`) unless the draft waits for a decision, (`persona_changed`)
    when the persona changed since the draft was made (its diff would hide that change),
    ValidationError for an empty or too long text.
    """
    with transaction.atomic():
        locked = PersonaDraft.objects.select_for_update().select_related("voice").get(pk=draft.pk)
        if locked.status != PersonaDraft.Status.PENDING:
            raise InvalidState(f"This draft is {locked.get_status_display().lower()}; only a waiting draft can "
                               "be accepted.", code="draft_not_pending")
        final = _clean_text(locked.text if text is None else text)
        latest = PersonaVersion.objects.filter(voice=locked.voice).order_by("-number").first()
        if latest is not None and locked.base_version_id and latest.pk != locked.base_version_id:
            raise InvalidState("The persona changed since this draft was written; discard it and draft again.",
                               code="persona_changed")
        version = _set_persona(voice=locked.voice, text=final, source=PersonaVersion.Source.ACCEPTED, by=by,
                               draft=locked)
        locked.status = PersonaDraft.Status.ACCEPTED
        locked.decided_by, locked.decided_at, locked.accepted_version = by, timezone.now(), version
        locked.save(update_fields=["status", "decided_by", "decided_at", "accepted_version"])
        audit_record(actor=by, action="persona.draft_accepted", obj=locked.voice,
                     data={"draft": locked.pk, "version": version.number, "edited": final != locked.text,
                           "offline": locked.is_offline})
    draft.refresh_from_db()
    return version


def persona_draft_discard(*, draft: PersonaDraft, by) -> PersonaDraft:
    """Close an open or failed draft without changing the persona. Raises InvalidState when it was decided."""
    with transaction.atomic():
        updated = PersonaDraft.objects.filter(
            pk=draft.pk, status__in=[*PersonaDraft.OPEN_STATUSES, PersonaDraft.Status.FAILED]
        ).update(status=PersonaDraft.Status.DISCARDED, decided_by=by, decided_at=timezone.now())
        if not updated:
            raise InvalidState("This draft was already decided.", code="draft_not_pending")
        audit_record(actor=by, action="persona.draft_discarded", obj=draft.voice, data={"draft": draft.pk})
    draft.refresh_from_db()
    return draft


def persona_draft_diff(draft: PersonaDraft) -> list[tuple[str, str]]:
    """The draft against its base as (kind, line) pairs, kind in {"same", "added", "removed"} (difflib)."""
    out = []
    for line in difflib.ndiff(draft.base_text.splitlines(), (draft.text or "").splitlines()):
        tag, body = line[:2], line[2:]
        if tag == "? ":
            continue
        out.append(({"  ": "same", "+ ": "added", "- ": "removed"}[tag], body))
    return out


def persona_draft_unified_diff(draft: PersonaDraft) -> str:
    """The draft against its base as a unified diff (API clients)."""
    return "\n".join(difflib.unified_diff(
        draft.base_text.splitlines(), (draft.text or "").splitlines(), "persona (current)", "persona (draft)",
        lineterm="",
    ))


# --- Conversation memory -------------------------------------------------------------------------


def _memory_window() -> int:
    """Messages at the end of a conversation the reply engine sees as they are (never summarised)."""
    from conversations.services import HISTORY_TURNS

    return HISTORY_TURNS


def conversation_memory_for_reply(*, conversation) -> str:
    """The memory text to send with a reply in `conversation` (empty when it has none), and enqueue a
    refresh when the conversation grew past the threshold. Two small queries; no network I/O."""
    from conversations.models import Message

    memory = ConversationMemory.objects.filter(conversation_id=conversation.pk).first()
    count = Message.objects.filter(conversation_id=conversation.pk).count()
    if count >= settings.CONVERSATION_MEMORY_THRESHOLD_MESSAGES:
        older = count - _memory_window()
        covered = memory.covered_messages if memory else 0
        if older - covered >= settings.CONVERSATION_MEMORY_REFRESH_MESSAGES or (memory is None and older > 0):
            conversation_memory_schedule(conversation_id=conversation.pk)
    return memory.summary if memory else ""


def conversation_memory_schedule(*, conversation_id) -> bool:
    """Claim and enqueue one memory refresh (`personas.tasks.conversation_memory_refresh`). False when one
    is already on its way (claimed less than a task timeout ago)."""
    now = timezone.now()
    lease = now - timedelta(seconds=settings.Q_CLUSTER["timeout"])
    ConversationMemory.objects.get_or_create(conversation_id=conversation_id)
    with transaction.atomic():
        claimed = ConversationMemory.objects.filter(conversation_id=conversation_id).filter(
            Q(refresh_requested_at__isnull=True) | Q(refresh_requested_at__lt=lease)
        ).update(refresh_requested_at=now)
        if claimed:
            enqueue_on_commit("personas.tasks.conversation_memory_refresh", conversation_id)
    return bool(claimed)


SUMMARY_INSTRUCTIONS = (
    "You keep the memory of a long conversation between a user and an AI voice clone named {name}. "
    "You get the memory so far (possibly empty) and the next messages. Write the updated memory: the "
    "facts the user shared about themselves, their preferences, what was agreed or promised, and open "
    "questions, one short line each, oldest first, starting each line with '- '. Leave out small talk. "
    "At most {max_chars} characters. Answer with the memory only."
)


def conversation_memory_refresh(*, conversation_id) -> ConversationMemory | None:
    """Summarise the conversation's messages older than the recent window into its memory (the task).

    Incremental: the previous memory plus the messages it does not cover yet. Idempotent: nothing
    is written when no new message needs covering. A reply-engine failure keeps the old memory.
    """
    from conversations.models import Conversation, Message

    conversation = Conversation.objects.select_related("voice").filter(pk=conversation_id).first()
    if conversation is None:
        return None
    memory, _ = ConversationMemory.objects.get_or_create(conversation=conversation)
    messages = list(
        Message.objects.filter(conversation=conversation).order_by("created_at", "id")
        .values_list("role", "text", "created_at", "status")
    )
    older = messages[: max(len(messages) - _memory_window(), 0)]
    if len(older) <= memory.covered_messages:
        ConversationMemory.objects.filter(pk=memory.pk).update(refresh_requested_at=None)
        return memory
    new = [
        offline.Line(role=role, text=text) for role, text, _at, status in older[memory.covered_messages:]
        if text and status != Message.Status.FAILED
    ]
    max_chars = settings.CONVERSATION_MEMORY_MAX_CHARS
    engine_tag, is_offline = replies.ENGINE_OFFLINE, True
    try:
        result = replies.complete_text(replies.CompletionRequest(
            instructions=SUMMARY_INSTRUCTIONS.format(name=conversation.voice.name, max_chars=max_chars),
            material=f"Memory so far:\n{memory.summary or '(empty)'}\n\nNext messages:\n"
                     + "\n".join(f"{'User' if line.role == 'user' else 'Clone'}: {line.text}" for line in new),
            max_tokens=max(settings.LLM_MAX_TOKENS, max_chars // 3),
        ))
    except replies.ReplyEngineError as exc:
        logger.warning("memory of conversation %s not refreshed: %s", conversation_id, exc.message)
        ConversationMemory.objects.filter(pk=memory.pk).update(refresh_requested_at=None)
        return memory
    if result is not None and result.text.strip():
        summary = result.text.strip()[:max_chars]
        engine_tag, is_offline = replies.engine_tag(result), False
    else:
        all_older = [offline.Line(role=r, text=t) for r, t, _a, s in older if t and s != Message.Status.FAILED]
        summary = offline.summarise(all_older, max_chars=max_chars)
    with transaction.atomic():
        ConversationMemory.objects.filter(pk=memory.pk).update(
            summary=summary, covered_messages=len(older), covered_until=older[-1][2], engine=engine_tag,
            is_offline=is_offline, refresh_requested_at=None, updated_at=timezone.now(),
        )
    memory.refresh_from_db()
    return memory
