"""Reads of the event outbox."""

from django.db.models import QuerySet

from .models import Event


def event_list_for_user(*, user, after: int = 0, types: list[str] | None = None) -> QuerySet[Event]:
    """Events about the user's own voices and conversations with id > `after`, oldest first."""
    qs = Event.objects.filter(user=user, id__gt=after).order_by("id")
    if types:
        qs = qs.filter(type__in=types)
    return qs


def webhook_list_for_user(*, user):
    """The user's own webhooks, newest first."""
    from .models import Webhook

    return Webhook.objects.filter(user=user).order_by("-created_at", "-pk")


def webhook_get_for_user(*, user, webhook_id):
    """Raises Webhook.DoesNotExist for a missing or foreign webhook alike."""
    return webhook_list_for_user(user=user).get(pk=webhook_id)


def webhook_deliveries_for_user(*, user, webhook_id):
    """The delivery log of one of the user's webhooks, newest first."""
    from .models import WebhookDelivery

    return (
        WebhookDelivery.objects.filter(webhook_id=webhook_id, webhook__user=user)
        .select_related("event")
        .order_by("-created_at", "-pk")
    )
