"""django-q2 entry points for personas: load by id, call one service."""

from . import services


def persona_draft_generate(draft_id: int) -> None:
    services.persona_draft_generate(draft_id=draft_id)


def conversation_memory_refresh(conversation_id) -> None:
    services.conversation_memory_refresh(conversation_id=conversation_id)
