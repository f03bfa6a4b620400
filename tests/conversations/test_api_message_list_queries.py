"""The messages-list API stays flat (issue 13 item 4): its query count does not grow with the page, the
clip rows are never read for a message's `clip_id`, and every audio URL is the message's own."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.api.serializers import MessageOutputSerializer
from tests.factories import ClipSampleFactory, ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def add_turns(conversation, count):
    for i in range(count):
        question = MessageFactory(conversation=conversation, role="user", text=f"Question {i}?")
        clip = ClipSampleFactory(voice=conversation.voice, text=f"Answer {i}.")
        MessageFactory(conversation=conversation, role="assistant", text=f"Answer {i}.", clip=clip,
                       in_reply_to=question, voice_version=conversation.voice.current_version)


def test_message_list_queries_do_not_grow_with_messages_and_read_no_clip(alice, alice_api):
    conversation = ConversationFactory(voice__owner=alice, user=alice)
    url = f"/api/v1/conversations/{conversation.pk}/messages/"
    add_turns(conversation, 1)
    with CaptureQueriesContext(connection) as few:
        assert alice_api.get(url).status_code == 200
    add_turns(conversation, 24)
    with CaptureQueriesContext(connection) as many:
        response = alice_api.get(url)

    assert response.status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)
    assert not [q for q in many.captured_queries if "clones_clipsample" in q["sql"]]
    messages = response.json()["results"]
    assert len(messages) == 50
    # Every declared field, in the declared order (the list writes its rows without DRF's per-field path).
    assert all(list(m) == MessageOutputSerializer.Meta.fields for m in messages)
    for message in messages:
        if message["role"] == "assistant":
            assert message["audio_url"] == f"http://testserver/api/v1/messages/{message['id']}/audio/"
            assert message["voice_version"] == 1
        else:
            assert message["audio_url"] is None
