"""Webhooks: CRUD of your own, signed deliveries, retries with backoff, a delivery log."""

import hashlib
import hmac
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from voiceclone.events.models import Event, Webhook, WebhookDelivery
from voiceclone.events.services import event_emit, webhook_deliveries_sweep
from tests.factories import VoiceFactory

from .helpers import WebhookReceiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    yield server
    server.close()


def test_webhook_crud_is_scoped_to_the_owner(alice_api, bob_api):
    response = alice_api.post("/api/v1/webhooks/", {"url": "https://hooks.example.com/vc",
                                                    "event_types": ["voice.version_promoted", "message.ready"]},
                              format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert len(created["secret"]) >= 32  # generated, shown once
    assert created["event_types"] == ["message.ready", "voice.version_promoted"]
    hook_id = created["id"]
    listed = alice_api.get("/api/v1/webhooks/").json()
    assert [h["id"] for h in listed] == [hook_id] and "secret" not in listed[0]
    assert listed[0]["secret_hint"].endswith(created["secret"][-4:])
    assert bob_api.get("/api/v1/webhooks/").json() == []
    assert bob_api.get(f"/api/v1/webhooks/{hook_id}/").status_code == 404
    assert bob_api.delete(f"/api/v1/webhooks/{hook_id}/").status_code == 404
    response = alice_api.patch(f"/api/v1/webhooks/{hook_id}/", {"is_active": False}, format="json")
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert alice_api.post("/api/v1/webhooks/", {"url": "https://x.example.com", "event_types": ["nope"]},
                          format="json").status_code == 400
    assert alice_api.delete(f"/api/v1/webhooks/{hook_id}/").status_code == 204
    assert not Webhook.objects.exists()


@override_settings(WEBHOOK_ALLOW_PRIVATE_HOSTS=False)
def test_private_addresses_are_refused_unless_allowed(alice_api):
    for url in ("http://127.0.0.1:8000/x", "http://localhost/x", "http://10.0.0.5/x"):
        response = alice_api.post("/api/v1/webhooks/", {"url": url}, format="json")
        assert response.status_code == 400, url


def test_deliveries_are_signed_and_only_for_subscribed_types_of_the_owner(alice, bob, receiver, run_tasks):
    hook = Webhook.objects.create(user=alice, url=receiver.url, secret="s" * 32, event_types=["message.ready"])
    Webhook.objects.create(user=bob, url=receiver.url, secret="b" * 32)
    voice = VoiceFactory(owner=alice)
    with run_tasks():
        event = event_emit(type="message.ready", user=alice, voice=voice, payload={"message_id": "m1"})
        event_emit(type="message.failed", user=alice, voice=voice, payload={})  # not subscribed
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got.json["id"] == event.pk and got.json["payload"]["message_id"] == "m1"
    assert got.headers["X-Voiceclone-Event"] == "message.ready"
    signed = got.headers["X-Voiceclone-Timestamp"].encode() + b"." + got.body
    assert got.headers["X-Voiceclone-Signature"] == "sha256=" + hmac.new(b"s" * 32, signed, hashlib.sha256).hexdigest()
    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert delivery.status == "delivered" and delivery.last_status_code == 200 and delivery.attempt_count == 1


@override_settings(WEBHOOK_BACKOFF_BASE_S=30, WEBHOOK_MAX_ATTEMPTS=3)
def test_failures_are_retried_with_backoff_then_marked_failed(alice, alice_api, receiver, run_tasks):
    receiver.statuses = [500, 503, 502]
    hook = Webhook.objects.create(user=alice, url=receiver.url, secret="s" * 32)
    with run_tasks():
        event_emit(type="voice.ready", user=alice, payload={})
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.attempt_count == 1 and delivery.last_status_code == 500
    first_wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert timedelta(seconds=29) < first_wait <= timedelta(seconds=31)

    with run_tasks():
        assert webhook_deliveries_sweep() == 0  # not due yet
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())  # the backoff has passed
    with run_tasks():
        assert webhook_deliveries_sweep() == 1
    delivery.refresh_from_db()
    assert delivery.attempt_count == 2 and delivery.last_status_code == 503
    assert delivery.next_attempt_at - delivery.last_attempt_at > first_wait  # exponential
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    with run_tasks():
        webhook_deliveries_sweep()
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempt_count == 3 and delivery.next_attempt_at is None

    log = alice_api.get(f"/api/v1/webhooks/{hook.pk}/deliveries/").json()
    assert [(d["status"], d["attempt_count"], d["last_status_code"]) for d in log] == [("failed", 3, 502)]
    with run_tasks():
        response = alice_api.post(f"/api/v1/webhooks/{hook.pk}/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 202
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and len(receiver.received) == 4


def test_an_unreachable_endpoint_is_a_retryable_failure(alice, run_tasks):
    Webhook.objects.create(user=alice, url="http://127.0.0.1:9/unreachable", secret="s" * 32)
    with run_tasks():
        event_emit(type="voice.ready", user=alice, payload={})
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert "ConnectError" in delivery.last_error
    assert Event.objects.count() == 1
