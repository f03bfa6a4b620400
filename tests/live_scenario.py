"""Steps run in a subprocess against a `tests.live.LiveStack` database (not the pytest database).

    python -m tests.live_scenario user NAME               -> {"user_id", "token"}
    python -m tests.live_scenario conversation NAME       -> {"user_id", "token", "conversation", "voice"}
                                                             (a new user with a ready voice and a conversation)
    python -m tests.live_scenario turns CONVERSATION_ID   -> {"user_messages", "assistant_messages", "queued"}

The caller sets DJANGO_SETTINGS_MODULE, DATABASE_URL and MEDIA_ROOT (LiveStack.env).
"""

import json
import sys


def user(name: str) -> dict:
    from rest_framework.authtoken.models import Token

    from tests.factories import UserFactory

    account = UserFactory(username=name)
    token, _ = Token.objects.get_or_create(user=account)
    return {"user_id": account.pk, "token": token.key}


def conversation(name: str) -> dict:
    from django.contrib.auth import get_user_model

    from tests.factories import ConversationFactory, VoiceFactory

    account = user(name)
    voice = VoiceFactory(owner=get_user_model().objects.get(pk=account["user_id"]))
    return {**account, "conversation": str(ConversationFactory(voice=voice).pk), "voice": str(voice.pk)}


def turns(conversation_id: str) -> dict:
    from django.conf import settings
    from django_q.brokers import get_broker

    from conversations.models import Message

    messages = Message.objects.filter(conversation_id=conversation_id)
    # The ORM broker's queue is this database's own; a Redis one may be shared with other tests.
    queued = get_broker().queue_size() if "orm" in settings.Q_CLUSTER else None
    return {
        "user_messages": messages.filter(role="user").count(),
        "assistant_messages": messages.filter(role="assistant").count(),
        "queued": queued,
    }


def main(argv: list[str]) -> None:
    import django

    django.setup()
    command, *args = argv
    print(json.dumps({"user": user, "conversation": conversation, "turns": turns}[command](*args), default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
