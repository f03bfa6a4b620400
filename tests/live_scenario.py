"""Steps run in a subprocess against a `tests.live.LiveStack` database (not the pytest database).

    python -m tests.live_scenario user NAME               -> {"user_id", "token"}
    python -m tests.live_scenario conversation NAME [PROVIDER_VOICE_ID]
                                                          -> {"user_id", "token", "conversation", "voice"}
                                                             (a new user with a ready voice and a conversation)
    python -m tests.live_scenario turns CONVERSATION_ID   -> {"user_messages", "assistant_messages", "queued"}
    python -m tests.live_scenario talkers PREFIX COUNT    -> [{"token", "conversation", "voice"}, ...]
                                                             (users whose voice is real at the stack's emulator)
    python -m tests.live_scenario health                  -> where every reply, voice and task stands
    python -m tests.live_scenario message MESSAGE_ID      -> one message's status, attempts and clip

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


def conversation(name: str, provider_voice_id: str = "") -> dict:
    from django.contrib.auth import get_user_model

    from clones.models import VoiceVersion
    from tests.factories import ConversationFactory, VoiceFactory

    account = user(name)
    voice = VoiceFactory(owner=get_user_model().objects.get(pk=account["user_id"]))
    if provider_voice_id:  # a voice that exists at the stack's provider, so replies can be spoken
        VoiceVersion.objects.filter(pk=voice.current_version_id).update(provider_voice_id=provider_voice_id)
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


def talkers(prefix: str, count: str) -> list[dict]:
    """`count` users, each with a ready voice whose version 1 exists at the provider (the stack's
    emulator) and a conversation with it."""
    from django.contrib.auth import get_user_model

    from clones.models import VoiceVersion
    from tests.audio import wav_bytes
    from tests.factories import ConversationFactory, VoiceFactory
    from voiceclone import provider

    made = []
    for i in range(int(count)):
        account = user(f"{prefix}{i}")
        voice = VoiceFactory(owner=get_user_model().objects.get(pk=account["user_id"]), with_version=False)
        provider_id = provider.create_voice(
            name=voice.name, files=[provider.AudioFile("s.wav", wav_bytes(2, seed=i + 1), "audio/wav")])
        version = VoiceVersion.objects.create(voice=voice, number=1, provider_voice_id=provider_id,
                                              state=VoiceVersion.State.ACTIVE)
        voice.current_version = version
        voice.save(update_fields=["current_version"])
        made.append({"token": account["token"], "voice": str(voice.pk),
                     "conversation": str(ConversationFactory(voice=voice).pk)})
    return made


def health() -> dict:
    from django.db.models import Count
    from django_q.models import Failure

    from clones.models import Voice
    from conversations.models import Message

    replies = Message.objects.filter(role="assistant")
    failures = list(Failure.objects.values_list("func", "result"))
    return {
        "replies": dict(replies.values_list("status").annotate(n=Count("pk")).order_by()),
        "reply_failures": dict(replies.filter(status="failed").values_list("failure_code").annotate(n=Count("pk"))
                               .order_by()),
        "retried_replies": replies.filter(attempt_count__gte=2).count(),
        "voices": dict(Voice.objects.values_list("status").annotate(n=Count("pk")).order_by()),
        "task_failures": len(failures),
        "locked_task_failures": sum("locked" in str(result) for _func, result in failures),
        "task_failure_samples": [f"{func}: {str(result)[:300]}" for func, result in failures[:5]],
    }


def message(message_id: str) -> dict:
    from conversations.models import Message

    found = Message.objects.get(pk=message_id)
    return {"status": found.status, "attempt_count": found.attempt_count, "clip": found.clip_id,
            "is_retrying": found.is_retrying, "claimed_at": found.claimed_at,
            "failure_code": found.failure_code}


def main(argv: list[str]) -> None:
    import django

    django.setup()
    command, *args = argv
    print(json.dumps({"user": user, "conversation": conversation, "turns": turns, "talkers": talkers, "health": health,
                       "message": message}[command](*args), default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
