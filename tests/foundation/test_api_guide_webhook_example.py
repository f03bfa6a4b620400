"""The webhook verification example in docs/api-guide.md works against a real delivery.

The code is read from the guide itself (the fenced block after the `webhook-verification-example`
marker), so the guide cannot drift from what deliveries carry.
"""

import re
import time
from pathlib import Path

import pytest

from tests.factories import VoiceFactory
from tests.retraining.helpers import WebhookReceiver
from voiceclone.events.models import Webhook
from voiceclone.events.services import event_emit

pytestmark = pytest.mark.django_db

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "api-guide.md"
SECRET = "whsec-" + "k" * 32


def guide_example() -> dict:
    text = GUIDE.read_text(encoding="utf-8")
    match = re.search(r"<!-- webhook-verification-example:.*?-->\s*```python\n(.*?)```", text, re.DOTALL)
    assert match, "the guide lost its webhook verification example"
    namespace: dict = {}
    exec(compile(match.group(1), str(GUIDE), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.fixture
def delivery(alice, receiver, run_tasks):
    Webhook.objects.create(user=alice, url=receiver.url, secret=SECRET)
    with run_tasks():
        event_emit(type="voice.ready", user=alice, voice=VoiceFactory(owner=alice), payload={})
    assert len(receiver.received) == 1
    return receiver.received[0]


def test_the_guides_example_accepts_a_real_delivery(delivery):
    verify = guide_example()["verify_voiceclone_webhook"]
    assert verify(SECRET, delivery.headers, delivery.body) is True


def test_the_guides_example_refuses_a_changed_body_a_wrong_secret_and_an_old_delivery(delivery, monkeypatch):
    verify = guide_example()["verify_voiceclone_webhook"]
    assert verify(SECRET, delivery.headers, delivery.body.replace(b"voice.ready", b"voice.fails")) is False
    assert verify("another-secret-" + "x" * 20, delivery.headers, delivery.body) is False
    assert verify(SECRET, {**delivery.headers, "X-Voiceclone-Signature": ""}, delivery.body) is False
    # Ten minutes later the same delivery is a replay. The clock is moved rather than waited for (mocked: no
    # emulator can express the passing of time); time.time is the clock the example reads.
    sent = float(delivery.headers["X-Voiceclone-Timestamp"])
    monkeypatch.setattr(time, "time", lambda: sent + 600)
    assert verify(SECRET, delivery.headers, delivery.body) is False
