"""Foreign provider voices: custom voices on the account that no VoiceVersion owns and that carry none of
voiceclone's markers (issue 14, item 5). Typically a previous installation's.

Staff decide per voice: adopt it (`clones.services.adoption`), or mark it deletable so that the slot planner
may delete it when a retrain needs a slot (`free_one_slot` frees these first, oldest mark first). Unmarked
foreign voices are never touched. Orphans of our own (a crash between create and record) carry our markers
and are `reconcile_provider`'s business, not listed here.

Deletion follows the intent → call → outcome protocol: `deletion_requested_at` is committed before the
provider call, `deleted_at` after; "not found" counts as deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from clones.models import VoiceVersion
from clones.services.adoption import AdoptionResult, provider_voice_adopt
from retraining.models import ForeignProviderVoice
from voiceclone import provider
from voiceclone.errors import InvalidState

from .reconcile import RUN_LABEL_RE, VOICE_MARKER_RE, _marker

logger = logging.getLogger(__name__)


@dataclass
class ForeignVoice:
    """A foreign voice as the provider lists it, with staff's decision about it (if any)."""

    provider_voice_id: str
    name: str
    sample_count: int
    created_at_unix: int | None
    record: ForeignProviderVoice | None = None
    samples: list = field(default_factory=list, repr=False)

    @property
    def is_deletable(self) -> bool:
        return bool(self.record and self.record.is_deletable and self.record.deleted_at is None)

    def as_dict(self) -> dict:
        return {
            "provider_voice_id": self.provider_voice_id,
            "name": self.name,
            "sample_count": self.sample_count,
            "is_deletable": self.is_deletable,
            "marked_by": self.record.marked_by.username if self.record and self.record.marked_by else None,
            "note": self.record.note if self.record else "",
        }


def _is_ours(pv: provider.ProviderVoice) -> bool:
    return bool(_marker(pv, "voiceclone_run", RUN_LABEL_RE) or _marker(pv, "voiceclone_marker", VOICE_MARKER_RE))


def foreign_provider_voices() -> list[ForeignVoice]:
    """The account's cloned voices that no version owns and that voiceclone did not create, oldest first.

    One provider listing (paged). Raises ProviderError when the provider cannot be read.
    """
    listed = [pv for pv in provider.list_voices(category="cloned") if not _is_ours(pv)]
    owned = set(
        VoiceVersion.objects.filter(provider_voice_id__in=[pv.voice_id for pv in listed])
        .values_list("provider_voice_id", flat=True)
    )
    records = {
        r.provider_voice_id: r
        for r in ForeignProviderVoice.objects.filter(provider_voice_id__in=[pv.voice_id for pv in listed])
        .select_related("marked_by")
    }
    voices = [
        ForeignVoice(provider_voice_id=pv.voice_id, name=pv.name or "", sample_count=len(pv.samples),
                     created_at_unix=pv.created_at_unix, record=records.get(pv.voice_id), samples=pv.samples)
        for pv in listed if pv.voice_id not in owned
    ]
    return sorted(voices, key=lambda v: (v.created_at_unix or 0, v.provider_voice_id))


def foreign_voice_mark_deletable(*, provider_voice_id: str, name: str = "", by=None, note: str = "",
                                 deletable: bool = True) -> ForeignProviderVoice:
    """Mark (or with `deletable=False`, unmark) a foreign provider voice as one the slot planner may delete.

    Idempotent. Raises InvalidState when a version owns the provider voice (it is not foreign).
    """
    if VoiceVersion.objects.filter(provider_voice_id=provider_voice_id).exists():
        raise InvalidState("This provider voice belongs to a voice of voiceclone; it is not foreign.")
    with transaction.atomic():
        record, _ = ForeignProviderVoice.objects.select_for_update().get_or_create(
            provider_voice_id=provider_voice_id, defaults={"name": name[:200]}
        )
        if record.is_deletable != deletable or (deletable and record.marked_at is None):
            record.is_deletable = deletable
            record.marked_by = by
            record.marked_at = timezone.now() if deletable else None
            record.note = note[:300]
            record.save(update_fields=["is_deletable", "marked_by", "marked_at", "note"])
    return record


def foreign_voice_adopt(*, provider_voice_id: str, owner, by=None, name: str = "", originals_confirmed: bool = False,
                        speaker_name: str = "", confirmation_note: str = "") -> AdoptionResult:
    """Adopt a foreign provider voice as a voice of `owner` (see `clones.services.adoption`) and record
    the decision. Idempotent."""
    result = provider_voice_adopt(
        provider_voice_id=provider_voice_id, owner=owner, name=name, originals_confirmed=originals_confirmed,
        confirmed_by=by or owner, speaker_name=speaker_name, confirmation_note=confirmation_note,
    )
    ForeignProviderVoice.objects.update_or_create(
        provider_voice_id=provider_voice_id,
        defaults={"adopted_voice": result.voice, "is_deletable": False, "name": result.voice.name[:200]},
    )
    return result


def deletable_foreign_voices() -> list[ForeignProviderVoice]:
    """Foreign voices staff marked deletable, not yet deleted and still not owned: oldest mark first."""
    records = ForeignProviderVoice.objects.filter(is_deletable=True, deleted_at__isnull=True, adopted_voice__isnull=True)
    owned = set(
        VoiceVersion.objects.filter(provider_voice_id__in=records.values("provider_voice_id"))
        .values_list("provider_voice_id", flat=True)
    )
    return [r for r in records.order_by("marked_at", "pk") if r.provider_voice_id not in owned]


def foreign_voice_delete(*, record: ForeignProviderVoice) -> bool:
    """Delete a deletable foreign voice at the provider (intent, call, outcome). True once it is gone.

    A provider failure is recorded in `last_error` and leaves the intent for the next attempt.
    """
    with transaction.atomic():
        locked = ForeignProviderVoice.objects.select_for_update().get(pk=record.pk)
        if locked.deleted_at is not None:
            return True
        if not locked.is_deletable or VoiceVersion.objects.filter(provider_voice_id=locked.provider_voice_id).exists():
            return False
        if locked.deletion_requested_at is None:
            locked.deletion_requested_at = timezone.now()
            locked.save(update_fields=["deletion_requested_at"])
    try:
        provider.delete_voice(voice_id=locked.provider_voice_id)
    except provider.VoiceNotFound:
        logger.info("foreign provider voice %s was already gone", locked.provider_voice_id)
    except provider.ProviderError as exc:
        ForeignProviderVoice.objects.filter(pk=locked.pk).update(last_error=str(exc)[:2000])
        return False
    ForeignProviderVoice.objects.filter(pk=locked.pk).update(deleted_at=timezone.now(), last_error="")
    return True


def foreign_summary(record: ForeignProviderVoice) -> dict:
    """A deletable foreign voice in the shape of the slot planner's lists (`quota.version_summary`)."""
    return {
        "version_id": None,
        "voice_id": None,
        "voice_name": record.name or record.provider_voice_id,
        "voice_status": "foreign",
        "number": None,
        "state": "foreign",
        "provider_voice_id": record.provider_voice_id,
        "archived_at": record.marked_at.isoformat() if record.marked_at else None,
        "why": "foreign voice marked deletable by staff",
    }
