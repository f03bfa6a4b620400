"""Writing audit entries for domain actions that model tracking cannot see or cannot name.

Model tracking (audit/registry.py) records *what* changed on a row. Call `audit_record` when the
intent matters ("promoted run 12", "exported the kit"), when the change bypasses `save()` (a
queryset `update()`), or when nothing in the database changes at all (a download).

    from audit.services import audit_record
    audit_record(actor=request.user, action="run.promoted", obj=run,
                 changes={"state": ["candidate", "promoted"]}, data={"version": 3})

`actor=None` means "whoever is acting now": the request's user, or the system inside a task.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models

from .receivers import fill_context
from .registry import voice_id_of

KINDS = {
    "create": LogEntry.Action.CREATE,
    "update": LogEntry.Action.UPDATE,
    "delete": LogEntry.Action.DELETE,
    "access": LogEntry.Action.ACCESS,
}


def _entry(*, actor, action: str, obj: models.Model, changes, data, kind: str) -> LogEntry:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, not {kind!r}")
    if not action or len(action) > 64:
        raise ValueError("action is a short dotted name such as 'run.promoted'")
    extra = {"event": action, **(data or {})}
    voice = voice_id_of(obj)
    if voice:
        extra.setdefault("voice", voice)
    pk = obj.pk
    entry = LogEntry(
        content_type=ContentType.objects.get_for_model(obj),
        object_pk=str(pk),
        object_id=pk if isinstance(pk, int) else None,
        object_repr=str(obj)[:2000],
        action=KINDS[kind],
        changes={key: list(value) for key, value in (changes or {}).items()},
        actor=actor if actor is not None and getattr(actor, "is_authenticated", False) else None,
        additional_data=extra,
    )
    if entry.actor is not None:
        entry.actor_email = getattr(actor, "email", "") or None
    return entry


def audit_record(
    *,
    actor=None,
    action: str,
    obj: models.Model,
    changes: Mapping[str, Iterable] | None = None,
    data: Mapping | None = None,
    kind: str = "update",
) -> LogEntry:
    """Write one audit entry for a domain action on `obj`. Returns the entry.

    `changes`: {field: [before, after]}. `data`: JSON-serialisable details, kept beside the action
    name (`additional_data.event`). `kind`: create / update / delete / access (auditlog's actions).
    Never raises for the caller's business state; raises ValueError for a malformed call.
    """
    from auditlog.cid import get_cid

    entry = _entry(actor=actor, action=action, obj=obj, changes=changes, data=data, kind=kind)
    entry.cid = get_cid()
    entry.save()
    return entry


def audit_record_many(
    *,
    actor=None,
    action: str,
    items: Iterable[tuple[models.Model, Mapping[str, Iterable] | None]],
    data: Mapping | None = None,
    kind: str = "update",
) -> int:
    """Write one entry per (obj, changes) in one INSERT (bulk review of thousands of clips). Returns the count."""
    from auditlog.cid import get_cid

    cid = get_cid()
    entries = []
    for obj, changes in items:
        entry = _entry(actor=actor, action=action, obj=obj, changes=changes, data=data, kind=kind)
        entry.cid = cid
        fill_context(LogEntry, entry)  # bulk_create sends no pre_save
        entries.append(entry)
    LogEntry.objects.bulk_create(entries, batch_size=500)
    return len(entries)
