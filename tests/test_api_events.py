"""The events feed: `GET /api/v1/events/?after=<cursor>`, the caller's own events, oldest first."""

import pytest

from tests.factories import ConversationFactory, VoiceFactory
from voiceclone.events.services import event_emit

pytestmark = pytest.mark.django_db


def test_feed_returns_only_your_events_after_the_cursor(alice, bob, alice_api, bob_api):
    voice = VoiceFactory(owner=alice)
    conversation = ConversationFactory(voice=voice)
    first = event_emit(type="message.ready", user=alice, voice=voice, conversation=conversation,
                       payload={"message_id": "m1"})
    event_emit(type="voice.ready", user=bob, payload={})
    second = event_emit(type="voice.version_promoted", user=alice, voice=voice, payload={"version": 2})

    body = alice_api.get("/api/v1/events/").json()
    assert [e["id"] for e in body["results"]] == [first.pk, second.pk]
    assert body["cursor"] == second.pk and body["has_more"] is False
    item = body["results"][0]
    assert item["type"] == "message.ready"
    assert item["voice"] == str(voice.pk) and item["conversation"] == str(conversation.pk)
    assert item["payload"] == {"message_id": "m1", "voice_id": str(voice.pk), "conversation_id": str(conversation.pk)}

    after = alice_api.get(f"/api/v1/events/?after={first.pk}").json()
    assert [e["id"] for e in after["results"]] == [second.pk]
    empty = alice_api.get(f"/api/v1/events/?after={second.pk}").json()
    assert empty["results"] == [] and empty["cursor"] == second.pk  # the cursor stays put
    assert [e["type"] for e in bob_api.get("/api/v1/events/").json()["results"]] == ["voice.ready"]


def test_feed_filters_by_type_and_pages_with_limit(alice, alice_api):
    events = [event_emit(type="message.ready" if i % 2 else "voice.version_promoted", user=alice, payload={"i": i})
              for i in range(5)]
    promoted = alice_api.get("/api/v1/events/?type=voice.version_promoted").json()["results"]
    assert [e["payload"]["i"] for e in promoted] == [0, 2, 4]
    both = alice_api.get("/api/v1/events/?type=voice.version_promoted&type=message.ready").json()["results"]
    assert len(both) == 5
    page = alice_api.get("/api/v1/events/?limit=2").json()
    assert [e["id"] for e in page["results"]] == [events[0].pk, events[1].pk] and page["has_more"] is True
    rest = alice_api.get(f"/api/v1/events/?after={page['cursor']}&limit=10").json()
    assert len(rest["results"]) == 3 and rest["has_more"] is False


def test_feed_rejects_a_bad_cursor_and_anonymous_callers(alice_api, client):
    assert alice_api.get("/api/v1/events/?after=abc").status_code == 400
    assert client.get("/api/v1/events/").status_code in (401, 403)
