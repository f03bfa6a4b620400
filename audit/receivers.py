"""Every audit entry, whoever writes it, gets its actor and context here (one pre_save receiver)."""

from auditlog.models import LogEntry
from django.db.models.signals import pre_save
from django.dispatch import receiver

from .context import current

SYSTEM = "system"


@receiver(pre_save, sender=LogEntry, dispatch_uid="audit_fill_context")
def fill_context(sender, instance: LogEntry, **kwargs):
    if not instance._state.adding:
        return
    context = current()
    data = dict(instance.additional_data or {})
    if instance.actor_id is None and context.request is not None and not context.task:
        user = getattr(context.request, "user", None)
        if user is not None and user.is_authenticated:
            instance.actor = user
            instance.actor_email = (getattr(user, "email", "") or None)
        if instance.remote_addr is None:
            instance.remote_addr = context.request.META.get("REMOTE_ADDR") or None
    data.setdefault("via", context.via)
    if context.task:
        data.setdefault("task", context.task)
    if instance.actor_id is not None:
        data.setdefault("actor", instance.actor.get_username())
        data.setdefault("actor_is_staff", bool(instance.actor.is_staff))
    else:
        data.setdefault("actor", SYSTEM)
    instance.additional_data = data
