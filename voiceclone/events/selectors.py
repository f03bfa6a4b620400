"""Reads of the event outbox."""

from django.db.models import QuerySet

from .models import Event


def event_list_for_user(*, user, after: int = 0, types: list[str] | None = None) -> QuerySet[Event]:
    """Events about the user's own voices and conversations with id > `after`, oldest first."""
    qs = Event.objects.filter(user=user, id__gt=after).order_by("id")
    if types:
        qs = qs.filter(type__in=types)
    return qs
