"""Writing to the event outbox, and delivering events to webhooks.

An event is written in the same transaction as the change it describes (`event_emit`). In that transaction,
one `WebhookDelivery` row per matching active webhook of the event's user is written too, and the first
delivery attempt is enqueued on commit. A delivery is a signed POST (`deliver`); failures are retried with
exponential backoff by the redelivery sweep (every minute) until `WEBHOOK_MAX_ATTEMPTS`.

Signature: `X-Voiceclone-Signature: sha256=<hex>` where hex = HMAC-SHA256(secret, f"{timestamp}." + raw body)
and `X-Voiceclone-Timestamp: <unix seconds>`. Binding the timestamp into the signature lets receivers refuse
replays (reject timestamps older than a few minutes); see `webhook_signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from voiceclone.background import enqueue_on_commit

from .models import Event, Webhook, WebhookDelivery

logger = logging.getLogger(__name__)

DELIVER_TASK = "voiceclone.events.tasks.webhook_delivery_attempt"
SIGNATURE_HEADER = "X-Voiceclone-Signature"
TIMESTAMP_HEADER = "X-Voiceclone-Timestamp"
EVENT_HEADER = "X-Voiceclone-Event"
DELIVERY_HEADER = "X-Voiceclone-Delivery"
MAX_ERROR_CHARS = 1000


def event_emit(*, type: str, user, voice=None, conversation=None, payload: dict | None = None) -> Event:
    """Record an event for `user` (the owner of what changed) and queue its webhook deliveries.

    Must run inside the caller's transaction so the event (and its deliveries) exist if and only if the
    change does; deliveries are enqueued on commit.
    """
    body = dict(payload or {})
    if voice is not None:
        body.setdefault("voice_id", str(voice.pk))
    if conversation is not None:
        body.setdefault("conversation_id", str(conversation.pk))
    event = Event.objects.create(type=type, user=user, voice=voice, conversation=conversation, payload=body)
    _deliveries_create(event)
    return event


def _deliveries_create(event: Event) -> None:
    hooks = [h for h in Webhook.objects.filter(user_id=event.user_id, is_active=True) if h.wants(event.type)]
    if not hooks:
        return
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(webhook=h, event=event, next_attempt_at=now) for h in hooks]
    )
    ids = [d.pk for d in deliveries if d.pk is not None] or list(
        WebhookDelivery.objects.filter(event=event).values_list("pk", flat=True)
    )
    for pk in ids:
        enqueue_on_commit(DELIVER_TASK, pk)


# --- webhooks (the API's writes) -------------------------------------------------------------------------


def _validate_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"url": ["Use an http:// or https:// URL."]})
    if not settings.DEBUG and parts.scheme != "https" and not settings.WEBHOOK_ALLOW_PRIVATE_HOSTS:
        raise ValidationError({"url": ["Use an https:// URL."]})
    if not settings.WEBHOOK_ALLOW_PRIVATE_HOSTS and _is_private_host(parts.hostname, resolve=False):
        raise ValidationError({"url": ["Webhooks cannot target private or loopback addresses."]})


def _validate_types(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - set(Event.Type.values))
    if unknown:
        raise ValidationError({"event_types": [f"Unknown event type(s): {', '.join(unknown)}."]})
    return sorted(set(event_types))


def webhook_create(*, user, url: str, event_types: list[str] | None = None, secret: str = "") -> Webhook:
    """Register a webhook for the user's events. A secret is generated when none is given (shown once).

    Raises ValidationError for a bad URL (private addresses are refused unless WEBHOOK_ALLOW_PRIVATE_HOSTS)
    or unknown event types.
    """
    _validate_url(url)
    webhook = Webhook(
        user=user, url=url, event_types=_validate_types(event_types or []),
        secret=secret or secrets.token_urlsafe(32),
    )
    webhook.full_clean()
    webhook.save()
    return webhook


def webhook_update(*, webhook: Webhook, url: str | None = None, event_types: list[str] | None = None,
                   is_active: bool | None = None, secret: str | None = None) -> Webhook:
    if url is not None:
        _validate_url(url)
        webhook.url = url
    if event_types is not None:
        webhook.event_types = _validate_types(event_types)
    if is_active is not None:
        webhook.is_active = is_active
    if secret:
        webhook.secret = secret
    webhook.full_clean()
    webhook.save()
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    webhook.delete()


# --- delivery --------------------------------------------------------------------------------------------


def webhook_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Voiceclone-Signature` value: `sha256=` + hex HMAC-SHA256(secret, timestamp + "." + body).

    Receivers recompute it over the raw request body and compare with `hmac.compare_digest`."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def event_body(event: Event) -> bytes:
    """The JSON a webhook receives: the same shape as an item of the events feed."""
    data = {
        "id": event.pk,
        "type": event.type,
        "voice": str(event.voice_id) if event.voice_id else None,
        "conversation": str(event.conversation_id) if event.conversation_id else None,
        "payload": event.payload,
        "created_at": event.created_at,
    }
    return json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":")).encode("utf-8")


def _is_private_host(host: str, *, resolve: bool) -> bool:
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        if host.lower() in ("localhost", "localhost.localdomain"):
            return True
        if not resolve:
            return False
        try:
            addresses = [ipaddress.ip_address(info[4][0]) for info in socket.getaddrinfo(host, None)]
        except OSError:
            return False  # unresolvable: the POST itself will fail and be retried
    return any(a.is_private or a.is_loopback or a.is_link_local or a.is_reserved or a.is_multicast for a in addresses)


def backoff_s(attempt: int) -> float:
    """Delay before retry after `attempt` failed attempts: base × 2^(attempt-1), capped."""
    return min(settings.WEBHOOK_BACKOFF_BASE_S * (2 ** max(0, attempt - 1)), settings.WEBHOOK_BACKOFF_MAX_S)


def _claim(delivery_id: int) -> WebhookDelivery | None:
    """Take a due delivery; a lease (next_attempt_at moved past the timeout) keeps a concurrent sweep off it."""
    now = timezone.now()
    lease_until = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_S * 2 + 30)
    claimed = WebhookDelivery.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        pk=delivery_id, status=WebhookDelivery.Status.PENDING,
    ).update(attempt_count=F("attempt_count") + 1, next_attempt_at=lease_until, last_attempt_at=now)
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("webhook", "event").get(pk=delivery_id)


def webhook_delivery_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """POST one event to one webhook, signed; record the outcome. Idempotent per attempt: a delivered or
    not-yet-due delivery is left alone (returns None). A failure schedules the next attempt with backoff,
    or marks the delivery failed after WEBHOOK_MAX_ATTEMPTS."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    webhook = delivery.webhook
    if not webhook.is_active:
        return _record(delivery, ok=False, status_code=None, error="The webhook is disabled.", final=True)
    host = urlsplit(webhook.url).hostname or ""
    if not settings.WEBHOOK_ALLOW_PRIVATE_HOSTS and _is_private_host(host, resolve=True):
        return _record(delivery, ok=False, status_code=None,
                       error="The webhook URL resolves to a private address.", final=True)
    body = event_body(delivery.event)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "voiceclone-webhooks/1",
        EVENT_HEADER: delivery.event.type,
        DELIVERY_HEADER: str(delivery.pk),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: webhook_signature(secret=webhook.secret, timestamp=timestamp, body=body),
    }
    try:
        response = httpx.post(webhook.url, content=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_S,
                              follow_redirects=False)
    except httpx.HTTPError as exc:
        return _record(delivery, ok=False, status_code=None, error=f"{type(exc).__name__}: {exc}")
    if 200 <= response.status_code < 300:
        return _record(delivery, ok=True, status_code=response.status_code, error="")
    return _record(delivery, ok=False, status_code=response.status_code,
                   error=f"HTTP {response.status_code}: {response.text[:200]}")


def _record(delivery: WebhookDelivery, *, ok: bool, status_code: int | None, error: str,
            final: bool = False) -> WebhookDelivery:
    now = timezone.now()
    delivery.last_status_code = status_code
    delivery.last_error = error[:MAX_ERROR_CHARS]
    if ok:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif final or delivery.attempt_count >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = now + timedelta(seconds=backoff_s(delivery.attempt_count))
    delivery.save(update_fields=["status", "last_status_code", "last_error", "delivered_at", "next_attempt_at"])
    if not ok:
        logger.info("webhook delivery %s failed (attempt %s): %s", delivery.pk, delivery.attempt_count, error)
    return delivery


def webhook_deliveries_sweep(*, now=None, limit: int = 500) -> int:
    """Enqueue every pending delivery that is due (retries after backoff, and first attempts whose task
    was lost). Returns how many were enqueued."""
    now = now or timezone.now()
    due = list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in due:
        async_task(DELIVER_TASK, pk)
    return len(due)


def webhook_delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Staff/owner: try a failed delivery again from scratch (attempts reset)."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.PENDING, attempt_count=0, next_attempt_at=timezone.now()
    )
    enqueue_on_commit(DELIVER_TASK, delivery.pk)
    delivery.refresh_from_db()
    return delivery
