"""Reads for conversations and messages, scoped to the asking user in one place."""

from django.db.models import QuerySet

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
    return conversation.messages.select_related("voice_version", "clip")


def message_get_for_user(*, user, message_id) -> Message:
    """A message of one of the user's conversations (staff: any). Raises Message.DoesNotExist."""
    qs = Message.objects.select_related("conversation", "conversation__voice", "voice_version", "clip")
    if not user.is_staff:
        qs = qs.filter(conversation__user=user)
    return qs.get(pk=message_id)
