"""Writing to the event outbox. Call inside the transaction that makes the change."""

from .models import Event


def event_emit(*, type: str, user, voice=None, conversation=None, payload: dict | None = None) -> Event:
    """Record an event for `user` (the owner of what changed).

    Must run inside the caller's transaction so the event exists if and only if the change does.
    """
    body = dict(payload or {})
    if voice is not None:
        body.setdefault("voice_id", str(voice.pk))
    if conversation is not None:
        body.setdefault("conversation_id", str(conversation.pk))
    return Event.objects.create(type=type, user=user, voice=voice, conversation=conversation, payload=body)
