"""`GET /api/v1/messages/{id}/stream/` for a reply already finished: stored bytes, access rules, failures.

Listening while a reply is being spoken needs a worker and a web server running at once: that is
tests/conversations/test_live_reply_stream.py.
"""

import hashlib

import pytest
from django.core.files.storage import default_storage

from conversations.models import Message

pytestmark = pytest.mark.django_db


def send(api, conversation_id, text, run_tasks) -> str:
    with run_tasks():
        response = api.post(f"/api/v1/conversations/{conversation_id}/messages/", {"text": text}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["assistant_message"]["id"]


def test_a_stored_reply_streams_its_stored_bytes_with_length_and_hash(alice_api, alice_conversation, run_tasks):
    message_id = send(alice_api, alice_conversation, "Hello there!", run_tasks)
    message = Message.objects.select_related("clip").get(pk=message_id)
    with default_storage.open(message.clip.file.name, "rb") as fh:
        stored = fh.read()

    response = alice_api.get(f"/api/v1/messages/{message_id}/stream/")

    assert response.status_code == 200
    assert response["Content-Type"] == "audio/mpeg"
    assert b"".join(response.streaming_content) == stored
    assert response["Content-Length"] == str(len(stored))
    assert response["X-Audio-SHA256"] == hashlib.sha256(stored).hexdigest() == message.clip.sha256
    detail = alice_api.get(f"/api/v1/messages/{message_id}/").json()
    assert detail["audio_sha256"] == message.clip.sha256
    assert detail["stream_url"].endswith(f"/api/v1/messages/{message_id}/stream/")


def test_stream_access_follows_the_audio_rules(alice_api, bob_api, staff_api, alice_conversation, run_tasks):
    message_id = send(alice_api, alice_conversation, "Hello!", run_tasks)
    user_message_id = Message.objects.get(pk=message_id).in_reply_to_id

    assert bob_api.get(f"/api/v1/messages/{message_id}/stream/").status_code == 404
    assert alice_api.get(f"/api/v1/messages/{user_message_id}/stream/").status_code == 404
    assert alice_api.get(f"/api/v1/messages/{user_message_id}/").json()["stream_url"] is None
    staff = staff_api.get(f"/api/v1/messages/{message_id}/stream/")
    assert staff.status_code == 200
    assert b"".join(staff.streaming_content) == b"".join(
        alice_api.get(f"/api/v1/messages/{message_id}/stream/").streaming_content)


def test_a_reply_that_failed_before_speaking_is_a_clear_409(alice_api, alice_conversation, run_tasks, emulator_ctl):
    emulator_ctl.add_fault(path=r"^/v1/text-to-speech/", method="POST", status=400, count=None)
    message_id = send(alice_api, alice_conversation, "Hello!", run_tasks)

    response = alice_api.get(f"/api/v1/messages/{message_id}/stream/")

    assert response.status_code == 409
    assert response.json()["code"] == "reply_failed"
    assert alice_api.get(f"/api/v1/messages/{message_id}/").json()["stream_url"] is None
