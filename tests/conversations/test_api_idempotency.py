"""Idempotency-Key on `POST /api/v1/conversations/{id}/messages/`: validated, and one turn per key even
when the repeats arrive at once (issue 9: a 129-character key was a 500; 16 concurrent POSTs with one
key answered 5 of 80 with an IntegrityError 500 and left an audio file orphaned under user_audio/)."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from conversations.models import Message
from tests.audio import wav_bytes
from tests.live import LiveStack, multipart, request

pytestmark = pytest.mark.django_db


def messages_url(conversation_id) -> str:
    return f"/api/v1/conversations/{conversation_id}/messages/"


@pytest.mark.parametrize("key", ["k" * 129, "has space", "naïve", "a,b", "<script>", "line\tbreak"])
def test_a_malformed_key_is_a_400_and_creates_nothing(alice_api, alice_conversation, key):
    response = alice_api.post(messages_url(alice_conversation), {"text": "Hi"}, format="json",
                              headers={"Idempotency-Key": key})
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_idempotency_key"
    assert Message.objects.filter(conversation_id=alice_conversation).count() == 0


@pytest.mark.parametrize("key", ["k" * 128, "0f8fe0c4-4d0e-4bb6-9a7e-0e3b4c5d6e7f", "01J9Z3QK8W.b64+/=:_-"])
def test_a_well_formed_key_of_up_to_128_characters_returns_the_same_turn(alice_api, alice_conversation, key):
    first = alice_api.post(messages_url(alice_conversation), {"text": "Hi"}, format="json",
                           headers={"Idempotency-Key": key})
    again = alice_api.post(messages_url(alice_conversation), {"text": "Hi"}, format="json",
                           headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 202
    assert first.json()["user_message"]["id"] == again.json()["user_message"]["id"]
    assert Message.objects.filter(conversation_id=alice_conversation, idempotency_key=key).count() == 1


def test_a_repeated_audio_turn_stores_one_recording(alice_api, alice_conversation):
    def send():
        audio = SimpleUploadedFile("hi.wav", wav_bytes(1.0, seed=3), content_type="audio/wav")
        return alice_api.post(messages_url(alice_conversation), {"audio": audio}, format="multipart",
                              headers={"Idempotency-Key": "audio-1"})

    first, again = send(), send()
    assert first.json()["user_message"]["id"] == again.json()["user_message"]["id"]
    user_id = Message.objects.get(pk=first.json()["user_message"]["id"]).conversation.user_id
    assert len(stored_files(f"user_audio/{user_id}/{alice_conversation}")) == 1


def stored_files(prefix: str) -> list[str]:
    folders, files = default_storage.listdir(prefix)
    return [f"{prefix}/{f}" for f in files] + [p for d in folders for p in stored_files(f"{prefix}/{d}")]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    stack = LiveStack(tmp_path_factory.mktemp("idempotency")).start()
    yield stack
    stack.stop()


def test_sixteen_concurrent_posts_with_one_key_make_one_turn_and_one_file(live):
    made = live.scenario("conversation", "carol")
    token, conversation = made["token"], made["conversation"]
    url = f"{live.urls[0]}/api/v1/conversations/{conversation}/messages/"
    audio = wav_bytes(1.0, seed=4)

    def send(_):
        body, content_type = multipart({}, {"audio": ("hi.wav", audio, "audio/wav")})
        return request(url, method="POST", body=body, headers={
            "Authorization": f"Token {token}", "Content-Type": content_type, "Idempotency-Key": "burst-1"})

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(send, range(16)))

    assert [status for status, _, _ in answers] == [202] * 16, live.log_tail()
    turns = {(json.loads(body)["user_message"]["id"], json.loads(body)["assistant_message"]["id"])
             for _, _, body in answers}
    assert len(turns) == 1  # every answer names the same turn
    counts = live.scenario("turns", conversation)
    assert counts["user_messages"] == counts["assistant_messages"] == 1
    if counts["queued"] is not None:
        assert counts["queued"] == 1  # one reply job
    assert len(live.files_under("user_audio")) == 1  # the losers removed the recordings they stored
