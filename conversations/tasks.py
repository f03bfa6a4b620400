"""django-q2 entry points for conversations: load by id, call one service."""

from . import services


def message_reply_generate(message_id) -> None:
    services.message_reply_generate(message_id=message_id)


def messages_pending_sweep() -> int:
    return services.messages_pending_sweep()
