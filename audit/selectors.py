"""Reads of the audit log."""

from auditlog.models import LogEntry
from django.db.models import QuerySet


def audit_entries(*, voice_id=None, event: str | None = None) -> QuerySet[LogEntry]:
    """Audit entries, newest first, with content type and actor joined (staff only: callers check)."""
    qs = LogEntry.objects.select_related("content_type", "actor").order_by("-timestamp", "-id")
    if voice_id is not None:
        qs = qs.filter(additional_data__voice=str(voice_id))
    if event:
        qs = qs.filter(additional_data__event=event)
    return qs


def audit_entries_for_object(obj) -> QuerySet[LogEntry]:
    return LogEntry.objects.get_for_object(obj).select_related("content_type", "actor").order_by("-timestamp", "-id")
