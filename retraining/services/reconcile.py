"""Compare the provider's custom voices with our VoiceVersions (issue 6, item 6).

Every provider voice we create carries a marker: retrain runs label theirs `voiceclone_run=voiceclone-run-<id>`
(also the description), voice creation `voiceclone_marker=voiceclone:<voice uuid>:v1`. So an orphan (a
provider voice no version records, e.g. the worker died between the create call and the database write)
can be traced to its owner and adopted, or deleted when its owner no longer wants it. Voices without our
markers are not ours: reported, never touched. Versions whose provider voice is gone are reported and,
when archived or candidate, recorded as deleted.

`provider_reconcile(fix=False)` only reports; the management command `reconcile_provider --fix` and the
admin apply the fixes. Adoption never races a live worker: a run still holding its lease is skipped.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from clones.models import Voice, VoiceVersion
from retraining.models import ProviderVoiceDeletion, RetrainRun
from voiceclone import provider

from .cleanup import version_provider_delete

logger = logging.getLogger(__name__)

RUN_LABEL_RE = re.compile(r"^voiceclone-run-(\d+)$")
VOICE_MARKER_RE = re.compile(r"^voiceclone:([0-9a-fA-F-]{32,36}):v1$")
# Runs in these states will never use a provider voice they have not recorded.
CLOSED_RUN_STATES = (
    RetrainRun.State.REJECTED, RetrainRun.State.CANCELLED, RetrainRun.State.PROMOTED, RetrainRun.State.ROLLED_BACK,
)


@dataclass
class ReconcileReport:
    fix: bool
    provider_voices: int = 0
    recorded: int = 0
    orphans: list[dict] = field(default_factory=list)
    missing: list[dict] = field(default_factory=list)
    pending_deletions: list[dict] = field(default_factory=list)

    @property
    def is_clean(self) -> bool:
        return not (self.orphans or self.missing or self.pending_deletions)

    def as_dict(self) -> dict:
        return {
            "fix": self.fix,
            "provider_voices": self.provider_voices,
            "recorded": self.recorded,
            "orphans": self.orphans,
            "missing": self.missing,
            "pending_deletions": self.pending_deletions,
            "is_clean": self.is_clean,
        }


def _marker(pv: provider.ProviderVoice, key: str, pattern: re.Pattern) -> re.Match | None:
    for value in (pv.labels.get(key), pv.description):
        match = pattern.match(value or "")
        if match:
            return match
    return None


def provider_reconcile(*, fix: bool = False) -> ReconcileReport:
    """Report (and with `fix`, repair) differences between the provider's cloned voices and our versions.

    Raises ProviderError when the provider's voice list cannot be read (nothing is changed then).
    """
    voices = list(provider.list_voices(category="cloned"))
    report = ReconcileReport(fix=fix, provider_voices=len(voices))
    versions = {v.provider_voice_id: v for v in VoiceVersion.objects.select_related("voice")}
    listed = {pv.voice_id for pv in voices}

    for pv in voices:
        version = versions.get(pv.voice_id)
        if version is not None and version.state != VoiceVersion.State.DELETED:
            report.recorded += 1
            continue
        entry = {"provider_voice_id": pv.voice_id, "name": pv.name, "description": pv.description or ""}
        if version is not None:
            entry.update(kind="deleted_but_present", owner=f"{version.voice.name} v{version.number}",
                         action="delete (we recorded it as deleted)")
            if fix:
                entry["result"] = _delete_orphan(pv.voice_id)
        elif (match := _marker(pv, "voiceclone_run", RUN_LABEL_RE)) is not None:
            entry.update(_run_orphan(pv, int(match.group(1)), fix=fix))
        elif (match := _marker(pv, "voiceclone_marker", VOICE_MARKER_RE)) is not None:
            entry.update(_voice_creation_orphan(pv, match.group(1), fix=fix))
        else:
            entry.update(kind="unknown", action="none: not created by voiceclone, left alone")
        report.orphans.append(entry)

    for version in versions.values():
        if version.state == VoiceVersion.State.DELETED or version.provider_voice_id in listed:
            continue
        try:  # the list is a snapshot: confirm before believing a voice is gone
            provider.get_voice(voice_id=version.provider_voice_id)
            continue
        except provider.VoiceNotFound:
            pass
        entry = {"version_id": version.pk, "voice_name": version.voice.name, "number": version.number,
                 "state": version.state, "provider_voice_id": version.provider_voice_id}
        if version.state == VoiceVersion.State.ACTIVE:
            entry["action"] = "none: the ACTIVE version is gone; replies fail until a retrain or rollback"
            logger.error("provider voice of active version %s (%s) is missing", version.pk, version.provider_voice_id)
        else:
            entry["action"] = "record as deleted"
            if fix:
                _record_missing(version)
                entry["result"] = "recorded as deleted"
        report.missing.append(entry)

    for deletion in ProviderVoiceDeletion.objects.filter(completed_at__isnull=True):
        entry = {"deletion_id": deletion.pk, "provider_voice_id": deletion.provider_voice_id,
                 "last_error": deletion.last_error, "action": "retry the deletion"}
        if fix:
            outcome = version_provider_delete(deletion_id=deletion.pk)
            entry["result"] = "deleted" if outcome.pk and outcome.completed_at else f"failed: {outcome.last_error}"
        report.pending_deletions.append(entry)
    return report


def _delete_orphan(provider_voice_id: str) -> str:
    try:
        provider.delete_voice(voice_id=provider_voice_id)
    except provider.VoiceNotFound:
        return "already gone"
    except provider.ProviderError as exc:
        return f"delete failed: {exc}"
    logger.info("deleted orphan provider voice %s", provider_voice_id)
    return "deleted"


def _run_orphan(pv: provider.ProviderVoice, run_id: int, *, fix: bool) -> dict:
    run = RetrainRun.objects.select_related("voice").filter(pk=run_id).first()
    if run is None or run.state in CLOSED_RUN_STATES or (run.new_version_id is not None):
        why = "its run is gone" if run is None else (
            f"run #{run.pk} is {run.state}" if run.new_version_id is None else f"run #{run.pk} recorded another voice"
        )
        entry = {"kind": "run_voice_unwanted", "owner": f"run #{run_id}", "action": f"delete ({why})"}
        if fix:
            entry["result"] = _delete_orphan(pv.voice_id)
        return entry
    lease = timedelta(seconds=settings.RETRAIN_RUN_LEASE_S)
    if run.state == RetrainRun.State.RUNNING and run.claimed_at and run.claimed_at >= timezone.now() - lease:
        return {"kind": "run_voice_in_progress", "owner": f"run #{run.pk}",
                "action": "none: the run's worker is still recording it"}
    entry = {"kind": "run_voice_unrecorded", "owner": f"run #{run.pk} ({run.state})",
             "action": "adopt as the run's candidate version"}
    if fix:
        entry["result"] = _adopt_for_run(run, pv.voice_id)
    return entry


def _adopt_for_run(run: RetrainRun, provider_voice_id: str) -> str:
    with transaction.atomic():
        voice = Voice.objects.select_for_update().get(pk=run.voice_id)
        locked = RetrainRun.objects.select_for_update().get(pk=run.pk)
        if locked.new_version_id is not None:
            return "the run recorded a voice meanwhile"
        lineage = locked.run_clips.exclude(upload_sha256="").aggregate(d=Max("clip__lineage_depth"))["d"] or 0
        number = (voice.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = VoiceVersion.objects.create(
            voice=voice, number=number, provider_voice_id=provider_voice_id, state=VoiceVersion.State.CANDIDATE,
            created_by_run=locked, training_lineage_depth=lineage,
        )
        locked.new_version = version
        locked.old_version_id = locked.old_version_id or voice.current_version_id
        locked.save(update_fields=["new_version", "old_version", "updated_at"])
    # A retry of the run (or the minute sweep for a stale running run) continues with previews.
    return f"adopted as v{version.number}"


def _voice_creation_orphan(pv: provider.ProviderVoice, voice_id: str, *, fix: bool) -> dict:
    voice = Voice.objects.filter(pk=voice_id).first()
    if voice is None or voice.current_version_id is not None or voice.status == Voice.Status.REVOKED:
        why = ("the voice is gone" if voice is None else "consent was revoked"
               if voice.status == Voice.Status.REVOKED else "the voice has its version")
        entry = {"kind": "voice_creation_unwanted", "owner": f"voice {voice_id}", "action": f"delete ({why})"}
        if fix:
            entry["result"] = _delete_orphan(pv.voice_id)
        return entry
    entry = {"kind": "voice_creation_unrecorded", "owner": f"{voice.name} ({voice.status})",
             "action": "adopt by retrying the voice creation" if voice.status == Voice.Status.FAILED
             else "none: the creation task adopts it"}
    if fix and voice.status == Voice.Status.FAILED:
        from clones.services import voice_retry

        voice_retry(voice=voice)  # its task finds the provider voice by the marker and adopts it
        entry["result"] = "creation retried"
    return entry


def _record_missing(version: VoiceVersion) -> None:
    now = timezone.now()
    with transaction.atomic():
        VoiceVersion.objects.filter(pk=version.pk).exclude(state=VoiceVersion.State.ACTIVE).update(
            state=VoiceVersion.State.DELETED, deleted_at=now
        )
        # A candidate that vanished cannot be promoted: its open run fails with the reason.
        RetrainRun.objects.filter(new_version=version, state=RetrainRun.State.CANDIDATE).update(
            state=RetrainRun.State.FAILED, failure_code="candidate_missing",
            failure_message="The candidate's provider voice no longer exists at the provider.",
            finished_at=now, updated_at=now,
        )
