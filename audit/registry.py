"""What the audit log tracks, in one place (docs/audit.md).

Model-level tracking is django-auditlog's: a pre_save/post_save/post_delete receiver per registered
model writes an `auditlog.LogEntry` with the before/after of the tracked fields. We register the
rows staff and owners act on, with only the fields whose change means something (review decisions,
states, names, personas), and keep the chat turn free of audit work:

- A generated clip's creation is not an action (the chat turn makes one per reply): clip creates are
  not logged; review changes and deletions are.
- django-auditlog reads the old row (one SELECT) before every save of a tracked model. Saves that
  name their `update_fields` and touch no tracked field (the chat turn storing a clip's file, the
  analysis task writing metrics, heartbeats) skip that read and write nothing.
- Messages, conversations, events and deliveries are not tracked at all.

Explicit domain actions ("promoted run 12", "exported the kit") go through `audit.services.audit_record`.
"""

from __future__ import annotations

from django.apps import apps
from django.db.models.signals import pre_save

# model label -> include_fields (None: every field but the excluded ones), exclude, mask, skip creates
TRACKED = {
    "clones.Voice": {
        "include": ["owner", "name", "persona", "language", "status", "failure_reason", "current_version"],
    },
    "clones.VoiceVersion": {
        "include": ["voice", "number", "provider_voice_id", "state", "created_by_run", "training_lineage_depth",
                    "adopted_at", "archived_at", "deleted_at"],
    },
    # The consenter's IP address and user agent stay on the record, not in the log.
    "clones.ConsentRecord": {
        "include": ["voice", "given_by", "speaker_name", "statement_version", "method", "statement_file"],
    },
    "clones.ClipSample": {
        "include": ["review_status", "review_reason", "reviewed_by", "reviewed_at", "retired_at", "retired_by"],
        "skip_create": True,
    },
    "retraining.RetrainRun": {
        "include": ["voice", "state", "strategy", "proposed_by", "approved_by", "approved_at", "finished_by",
                    "failure_code", "old_version", "new_version"],
    },
    "retraining.ProviderVoiceDeletion": {
        "include": ["version", "provider_voice_id", "reason", "requested_by", "for_run", "completed_at"],
    },
    "events.Webhook": {"include": ["user", "url", "event_types", "is_active", "secret"], "mask": ["secret"]},
    "personas.PersonaVersion": {"include": ["voice", "number", "text", "source", "created_by", "based_on"]},
    "personas.PersonaDraft": {"include": ["voice", "status", "decided_by", "accepted_version"]},
    "kits.VoiceKitImport": {"include": ["voice", "status", "kit_sha256", "source_voice_id", "error"]},
}


def voice_id_of(instance) -> str | None:
    """The voice an entry concerns, kept in `additional_data.voice` so the admin can filter by voice."""
    label = instance._meta.label
    if label == "clones.Voice":
        return str(instance.pk)
    if label == "retraining.ProviderVoiceDeletion":
        from clones.models import VoiceVersion

        voice_id = VoiceVersion.objects.filter(pk=instance.version_id).values_list("voice_id", flat=True).first()
        return str(voice_id) if voice_id else None
    voice_id = getattr(instance, "voice_id", None)
    return str(voice_id) if voice_id else None


def _tracked_names(model) -> frozenset[str]:
    spec = TRACKED[model._meta.label]
    names = set()
    for field_name in spec["include"]:
        field = model._meta.get_field(field_name)
        names.update({field.name, field.attname})
    return frozenset(names)


_TRACKED_NAMES: dict[type, frozenset[str]] = {}
_SKIP_CREATE: set[type] = set()


def _guarded_log_update(sender, instance, **kwargs):
    """django-auditlog's update receiver, skipped (no SELECT) when the save names only untracked fields."""
    from auditlog.receivers import log_update

    update_fields = kwargs.get("update_fields")
    if update_fields is not None and not (set(update_fields) & _TRACKED_NAMES.get(sender, frozenset())):
        return
    log_update(sender, instance, **kwargs)


def _skip_untracked_creates(sender, instance, action, **kwargs):
    from auditlog.models import LogEntry

    if action == LogEntry.Action.CREATE and sender in _SKIP_CREATE:
        return False
    return None


def _additional_data(self):
    voice = voice_id_of(self)
    return {"voice": voice} if voice else {}


def track_models() -> None:
    """Register TRACKED with django-auditlog (AuditConfig.ready). Idempotent."""
    from auditlog.registry import auditlog
    from auditlog.signals import pre_log

    from . import receivers  # noqa: F401  (fills actor and context on every entry)

    # The registry connects the receivers in its `_signals` map to every model it registers; ours
    # guards the pre-save read. django-auditlog is pinned (requirements.txt) and a test checks that
    # untracked saves cost no query, so a change of this private map in an upgrade is caught.
    auditlog._signals[pre_save] = _guarded_log_update
    pre_log.connect(_skip_untracked_creates, dispatch_uid="audit_skip_untracked_creates")
    for label, spec in TRACKED.items():
        model = apps.get_model(label)
        _TRACKED_NAMES[model] = _tracked_names(model)
        if spec.get("skip_create"):
            _SKIP_CREATE.add(model)
        if not hasattr(model, "get_additional_data"):
            # django-auditlog calls `instance.get_additional_data()` when the model has one.
            model.add_to_class("get_additional_data", _additional_data)
        if not auditlog.contains(model):
            auditlog.register(model, include_fields=list(spec["include"]), mask_fields=list(spec.get("mask", [])))
