"""Reads for conversations and messages, scoped to the asking user in one place."""

from datetime import UTC, timedelta

from django.db.models import Max, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, Length
from django.utils import timezone

from voiceclone.events.models import Event

from .models import Conversation, Message


def conversation_list_for_user(*, user, include_archived: bool = True) -> QuerySet[Conversation]:
    """The user's own conversations; staff see all. Foreign rows are never returned."""
    qs = Conversation.objects.select_related("voice", "voice__current_version")
    if not user.is_staff:
        qs = qs.filter(user=user)
    if not include_archived:
        qs = qs.filter(is_archived=False)
    return qs


def conversation_get_for_user(*, user, conversation_id) -> Conversation:
    return conversation_list_for_user(user=user).get(pk=conversation_id)


def message_list_for_conversation(*, conversation: Conversation) -> QuerySet[Message]:
    """The conversation's messages, oldest first, with the voice version joined. The clip is not joined:
    a message's output needs only its `clip_id` (issue 13: whole clip rows were read for it)."""
    # Only what the output reads: the version's number, not its row; a message's bookkeeping columns
    # (updated_at, idempotency key, the reply link, the recording's type) are not parsed per row.
    return conversation.messages.select_related("voice_version").only(*MESSAGE_LIST_FIELDS)


# What `MessageOutputSerializer` reads of a listed message (`is_retrying` reads attempt_count and claimed_at).
MESSAGE_LIST_FIELDS = (
    "id", "conversation_id", "role", "text", "input_kind", "user_audio", "status", "failure_code", "failure_reason",
    "clip_id", "voice_version__id", "voice_version__number", "reply_engine", "attempt_count", "claimed_at",
    "stt_ms", "reply_ms", "tts_ms", "total_ms", "created_at", "completed_at",
)


def message_get_for_user(*, user, message_id) -> Message:
    """A message of one of the user's conversations (staff: any). Raises Message.DoesNotExist."""
    qs = Message.objects.select_related("conversation", "conversation__voice", "voice_version", "clip")
    if not user.is_staff:
        qs = qs.filter(conversation__user=user)
    return qs.get(pk=message_id)


def tts_characters_used_today(*, user_id) -> int:
    """Characters the provider spoke for the user's replies since 00:00 UTC (the TTS budget's day).

    The provider's reported cost where it gave one, else the text's length. Counted from stored clips,
    so it holds across processes and a reply whose TTS was paid counts even if the turn failed later.
    """
    day_start = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    used = Message.objects.filter(
        conversation__user_id=user_id, role=Message.Role.ASSISTANT, clip__isnull=False,
        clip__created_at__gte=day_start,
    ).aggregate(chars=Sum(Coalesce("clip__character_cost", Length("clip__text"))))["chars"]
    return used or 0


def tts_budget_resets_in_s() -> int:
    """Seconds until 00:00 UTC, when every user's TTS budget starts again."""
    now = timezone.now().astimezone(UTC)
    return max(1, int((now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1) - now)
                      .total_seconds()))


# Events about a conversation's voice that its live stream carries besides the conversation's own.
VOICE_EVENT_TYPES = (Event.Type.VOICE_VERSION_PROMOTED, Event.Type.VOICE_VERSION_ROLLED_BACK)


def conversation_events_after(*, conversation: Conversation, after: int, limit: int) -> list[Event]:
    """Events of the conversation (its turns) and of its voice's versions with an id above `after`,
    oldest first: what `GET /conversations/{id}/events/` (SSE) sends."""
    return list(
        Event.objects.filter(Q(conversation_id=conversation.pk)
                             | Q(voice_id=conversation.voice_id, conversation__isnull=True, type__in=VOICE_EVENT_TYPES))
        .filter(id__gt=after).order_by("id")[:limit]
    )


def event_latest_id() -> int:
    """The newest event's id: a live stream opened without a cursor starts after it."""
    return Event.objects.aggregate(latest=Max("id"))["latest"] or 0
