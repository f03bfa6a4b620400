"""A reply heard while it is spoken, on a real stack: uvicorn (ASGI) and a django-q2 cluster, with the
spool in files, in Redis, and the clips in S3 (moto's server).

The emulator (in this process) renders a reply part by part; rendering of the second part is held
until the test lets it go, so "the listener has audio while the reply is still being generated" is a
fact the test arranges, not a timing.
"""

import hashlib
import os
import time

import httpx
import pytest

from tests.live import LiveStack, free_port
from tests.streaming import held_speech, live_conversation  # noqa: F401 - held_speech is a fixture

pytestmark = pytest.mark.cluster

ASK = "Tell me a story about your bread, please."  # answered in several sentences: several parts
# This suite empties its Redis database: TEST_LIVE_REDIS_URL names another one when 4 is someone else's.
REDIS_URL = os.environ.get("TEST_LIVE_REDIS_URL", "redis://127.0.0.1:6379/4")
BUCKET = "voiceclone-live"


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="module", params=["file-spool", "redis-spool", "s3-storage"])
def live(request, tmp_path_factory, emulator):
    env, moto = {}, None
    if request.param == "redis-spool":
        if not _redis_reachable():
            pytest.skip("no Redis at " + REDIS_URL)
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()  # this suite's own database: no stale jobs
        env["REDIS_URL"] = REDIS_URL
    if request.param == "s3-storage":
        import boto3
        from moto.server import ThreadedMotoServer

        port = free_port()
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        moto.start()
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                     aws_secret_access_key="test").create_bucket(Bucket=BUCKET)
        env.update(AWS_STORAGE_BUCKET_NAME=BUCKET, AWS_S3_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="test",
                   AWS_SECRET_ACCESS_KEY="test")
    stack = LiveStack(tmp_path_factory.mktemp(request.param), provider_url=emulator.url, env=env,
                      cluster=True).start()
    stack.s3_endpoint = env.get("AWS_S3_ENDPOINT_URL")
    yield stack
    stack.stop()
    if moto is not None:
        moto.stop()


class Listener:
    def __init__(self, live, name):
        made = live_conversation(live, name, seed=7)
        self.base, self.conversation, self.voice = live.urls[0], made["conversation"], made["voice"]
        self.http = httpx.Client(base_url=self.base, headers={"Authorization": f"Token {made['token']}"},
                                 timeout=60)

    def send(self, text=ASK) -> str:
        response = self.http.post(f"/api/v1/conversations/{self.conversation}/messages/", json={"text": text})
        assert response.status_code == 202, response.text
        return response.json()["assistant_message"]["id"]

    def message(self, message_id) -> dict:
        return self.http.get(f"/api/v1/messages/{message_id}/").json()

    def wait_ready(self, message_id) -> dict:
        deadline = time.monotonic() + 60
        while (detail := self.message(message_id))["status"] == "pending":
            assert time.monotonic() < deadline, detail
            time.sleep(0.05)
        assert detail["status"] == "ready", detail
        return detail

    def stored(self, message_id) -> bytes:
        response = self.http.get(f"/api/v1/messages/{message_id}/audio", follow_redirects=True)
        assert response.status_code == 200
        return response.content


_listeners = iter(f"listener{n}" for n in range(1000))


@pytest.fixture
def listener(live):
    return Listener(live, next(_listeners))


def test_a_reply_is_heard_while_spoken_and_stored_byte_for_byte(live, listener, held_speech):
    message_id = listener.send()
    with listener.http.stream("GET", f"/api/v1/messages/{message_id}/stream/") as response:
        assert response.status_code == 200, live.log_tail()
        assert response.headers["content-type"] == "audio/mpeg"
        chunks = response.iter_bytes()
        first = next(chunks)
        # Audio in hand while the reply is still being generated.
        assert listener.message(message_id)["status"] == "pending"
        held_speech.set()
        streamed = first + b"".join(chunks)

    detail = listener.wait_ready(message_id)
    stored = listener.stored(message_id)
    assert streamed == stored
    assert hashlib.sha256(streamed).hexdigest() == detail["audio_sha256"]
    again = listener.http.get(f"/api/v1/messages/{message_id}/stream/")
    assert again.content == stored and again.headers["x-audio-sha256"] == detail["audio_sha256"]


def test_two_listeners_of_one_reply_get_identical_bytes(live, listener, held_speech):
    message_id = listener.send()
    url = f"/api/v1/messages/{message_id}/stream/"
    with listener.http.stream("GET", url) as one, listener.http.stream("GET", url) as two:
        chunks = one.iter_bytes(), two.iter_bytes()
        firsts = [next(chunks[0]), next(chunks[1])]
        held_speech.set()
        heard = [firsts[0] + b"".join(chunks[0]), firsts[1] + b"".join(chunks[1])]

    listener.wait_ready(message_id)
    assert heard[0] == heard[1] == listener.stored(message_id)


def test_a_listener_who_leaves_after_the_first_chunk_loses_nothing(live, listener, held_speech):
    message_id = listener.send()
    with listener.http.stream("GET", f"/api/v1/messages/{message_id}/stream/") as response:
        first = next(response.iter_bytes())
    # The connection is closed: the client is gone while the reply is still being spoken.
    held_speech.set()

    detail = listener.wait_ready(message_id)
    stored = listener.stored(message_id)
    assert stored.startswith(first) and len(stored) > len(first)
    assert hashlib.sha256(stored).hexdigest() == detail["audio_sha256"]
    assert stored_files(live, f"clone_responses/{listener.voice}/") == 1  # stored exactly once


def stored_files(live, prefix: str) -> int:
    if live.s3_endpoint:
        import boto3

        s3 = boto3.client("s3", endpoint_url=live.s3_endpoint, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
        return s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("KeyCount", 0)
    return len(live.files_under(prefix))
