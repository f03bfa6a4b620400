"""The S3 profile: audio stored through django-storages + boto3 (moto's server stands in for S3).

The whole chat turn runs with S3 as the default storage; the audio endpoint answers with a
presigned URL valid for at most 300 seconds, which serves the stored bytes.
"""

import socket
from urllib.parse import parse_qs, urlparse

import boto3
import httpx
import pytest
from django.test import override_settings
from moto.server import ThreadedMotoServer

from clones.models import ClipSample
from conversations.models import Message

BUCKET = "voiceclone-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def s3_storage(s3_endpoint):
    storages = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": BUCKET, "endpoint_url": s3_endpoint, "access_key": "test",
                        "secret_key": "test", "region_name": "us-east-1", "querystring_auth": True,
                        "querystring_expire": 300, "file_overwrite": False},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages, USE_S3=True, AWS_QUERYSTRING_EXPIRE=300):
        yield boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test",
                           aws_secret_access_key="test")


@pytest.mark.django_db
def test_chat_turn_stores_audio_in_s3_and_serves_a_short_lived_presigned_url(
    s3_storage, alice_api, make_voice, run_tasks
):
    voice_id = make_voice(alice_api)
    conversation = alice_api.post("/api/v1/conversations/", {"voice": voice_id}, format="json").json()["id"]
    with run_tasks():
        turn = alice_api.post(f"/api/v1/conversations/{conversation}/messages/", {"text": "Hello from S3"},
                              format="json").json()
    message = Message.objects.get(pk=turn["assistant_message"]["id"])
    assert message.status == Message.Status.READY
    clip = message.clip
    key = clip.file.name
    assert key.startswith(f"clone_responses/{voice_id}/response_")
    stored = s3_storage.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert __import__("hashlib").sha256(stored).hexdigest() == clip.sha256
    originals = ClipSample.objects.filter(voice_id=voice_id, source="original")
    for original in originals:
        s3_storage.head_object(Bucket=BUCKET, Key=original.file.name)

    response = alice_api.get(f"/api/v1/messages/{message.pk}/audio")
    assert response.status_code == 302
    location = response["Location"]
    query = parse_qs(urlparse(location).query)
    expires = int((query.get("X-Amz-Expires") or query.get("Expires"))[0])
    assert 0 < expires <= 300 or expires > 10**9  # SigV4 lifetime, or a SigV2 absolute expiry
    assert httpx.get(location).content == stored


@pytest.mark.django_db
def test_s3_audio_is_still_private(s3_storage, alice_api, bob_api, make_voice, run_tasks):
    voice_id = make_voice(alice_api)
    conversation = alice_api.post("/api/v1/conversations/", {"voice": voice_id}, format="json").json()["id"]
    with run_tasks():
        turn = alice_api.post(f"/api/v1/conversations/{conversation}/messages/", {"text": "Private?"},
                              format="json").json()
    assert bob_api.get(f"/api/v1/messages/{turn['assistant_message']['id']}/audio").status_code == 404
