"""Deleting provider voices of archived versions: the policy, the deletion protocol and the cleanup.

Policy (DESIGN §3 "Clean up archived voices"): per voice, the newest `ARCHIVED_VOICES_KEEP` archived
versions stay at the provider for rollback; older archived versions may be deleted, oldest first. Never
a version that is active or a live candidate, never one an open run refers to, never one a pending
reply may still be speaking with. Candidates of rejected or cancelled runs are discarded.

Protocol (no transaction across provider I/O): 1. record a `ProviderVoiceDeletion` intent and commit
(from then on a rollback refuses that version); 2. `provider.delete_voice`; 3. mark the version
`deleted` and the intent completed. A crash after 1 leaves a pending intent that the cleanup retries;
"not found" at the provider counts as done. A completed deletion triggers a re-check of runs waiting
for a slot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clones.models import Voice, VoiceVersion
from conversations.models import Message
from retraining.models import ProviderVoiceDeletion, RetrainRun
from voiceclone import provider
from voiceclone.errors import InvalidState

from voiceclone.background import enqueue_on_commit

logger = logging.getLogger(__name__)

# A candidate of a run in one of these states will never be promoted: its provider voice is discarded.
DISCARDED_RUN_STATES = (RetrainRun.State.REJECTED, RetrainRun.State.CANCELLED)


# --- what may be deleted --------------------------------------------------------------------------------


def version_in_use_reason(version: VoiceVersion) -> str | None:
    """Why the version's provider voice must stay (a pending reply or an open run uses it), or None."""
    pending = Message.objects.filter(role=Message.Role.ASSISTANT, status=Message.Status.PENDING)
    speaking = Q(voice_version=version)
    if version.state != VoiceVersion.State.CANDIDATE:  # replies never speak with a candidate
        # A reply records its version only when ready; until then it speaks with whatever version was
        # current when its TTS call started, i.e. any version current at or after the message's creation.
        cutoff = version.archived_at or timezone.now()
        speaking |= Q(conversation__voice_id=version.voice_id, created_at__lte=cutoff)
    if pending.filter(speaking).exists():
        return "a pending reply may be speaking with it"
    if RetrainRun.objects.filter(
        Q(old_version=version) | Q(new_version=version), state__in=RetrainRun.OPEN_STATES
    ).exists():
        return "an open retrain run uses it"
    return None


def _has_deletion_intent(version: VoiceVersion) -> bool:
    return ProviderVoiceDeletion.objects.filter(version=version).exists()


def archived_versions_by_voice() -> dict:
    """Archived, not-yet-deleted versions per voice id, newest archived first (intents excluded)."""
    rows = (
        VoiceVersion.objects.filter(state=VoiceVersion.State.ARCHIVED, provider_deletion__isnull=True)
        .select_related("voice")
        .order_by("voice_id", "-archived_at", "-number")
    )
    grouped: dict = {}
    for version in rows:
        grouped.setdefault(version.voice_id, []).append(version)
    return grouped


def deletable_archived_versions(*, keep: int | None = None) -> list[VoiceVersion]:
    """Archived versions the policy lets us delete now: beyond the keep count of their voice and not in
    use. Oldest archived first (the order slots are freed in)."""
    keep = settings.ARCHIVED_VOICES_KEEP if keep is None else keep
    candidates = [v for versions in archived_versions_by_voice().values() for v in versions[keep:]]
    candidates.sort(key=lambda v: (v.archived_at or v.created_at, v.pk))
    return [v for v in candidates if version_in_use_reason(v) is None]


def discarded_candidate_versions() -> list[VoiceVersion]:
    """Candidate versions whose run was rejected or cancelled (or that no run claims): to delete."""
    rows = VoiceVersion.objects.filter(state=VoiceVersion.State.CANDIDATE, provider_deletion__isnull=True).filter(
        Q(created_by_run__state__in=DISCARDED_RUN_STATES) | Q(created_by_run__isnull=True)
    )
    return [v for v in rows.select_related("voice").order_by("created_at", "pk") if version_in_use_reason(v) is None]


def staff_deletable_reason(version: VoiceVersion) -> str | None:
    """Why staff may NOT delete this version's provider voice (None = they may), whatever the keep count.

    Staff may delete any archived version and, on a disabled voice, its active version too (a disabled
    voice never speaks again unless retrained).
    """
    if version.state == VoiceVersion.State.DELETED:
        return "it is already deleted"
    if _has_deletion_intent(version):
        return "its deletion is already under way"
    if version.state == VoiceVersion.State.CANDIDATE:
        run = version.created_by_run
        if run is not None and run.state not in DISCARDED_RUN_STATES:
            return f"it is the candidate of retrain run #{run.pk} ({run.state}); reject or cancel the run instead"
    elif version.state == VoiceVersion.State.ACTIVE:
        if version.voice.status != Voice.Status.DISABLED:
            return "it is the active version of its voice"
    return version_in_use_reason(version)


def policy_deletable_reason(version: VoiceVersion) -> str | None:
    """Why the cleanup policy may NOT delete this version (None = it may)."""
    if version.state == VoiceVersion.State.CANDIDATE:
        return staff_deletable_reason(version)
    if version.state != VoiceVersion.State.ARCHIVED:
        return f"it is {version.state}"
    if _has_deletion_intent(version):
        return "its deletion is already under way"
    kept = archived_versions_by_voice().get(version.voice_id, [])[: settings.ARCHIVED_VOICES_KEEP]
    if version in kept:
        return f"it is within the keep count ({settings.ARCHIVED_VOICES_KEEP} archived per voice, for rollback)"
    return version_in_use_reason(version)


# --- the deletion protocol ------------------------------------------------------------------------------


def version_deletion_request(
    *, version: VoiceVersion, reason: str, by=None, for_run: RetrainRun | None = None, force: bool = False
) -> ProviderVoiceDeletion:
    """Record the intent to delete a version's provider voice (step 1 of the protocol) and commit.

    `force` (staff) ignores the keep count; otherwise the cleanup policy decides. Raises InvalidState
    with the reason when the version must stay. Idempotent: an existing intent is returned.
    """
    with transaction.atomic():
        locked = (
            VoiceVersion.objects.select_for_update(of=("self",))
            .select_related("voice", "created_by_run")
            .get(pk=version.pk)
        )
        existing = ProviderVoiceDeletion.objects.filter(version=locked).first()
        if existing is not None:
            return existing
        refusal = staff_deletable_reason(locked) if force else policy_deletable_reason(locked)
        if refusal:
            raise InvalidState(f"Version {locked.number} of {locked.voice.name} cannot be deleted: {refusal}.")
        return ProviderVoiceDeletion.objects.create(
            version=locked, provider_voice_id=locked.provider_voice_id, reason=reason, requested_by=by, for_run=for_run
        )


def version_provider_delete(*, deletion_id: int, notify_waiting: bool = True) -> ProviderVoiceDeletion | None:
    """Delete the provider voice of a recorded intent and record the outcome (steps 2 and 3).

    Idempotent: a completed intent is returned as is; "not found" at the provider counts as deleted. A
    provider failure that may be retried (or that may have been applied) leaves the intent pending for
    the cleanup to retry; a definite refusal withdraws the intent so the version stays usable. On success
    (and with `notify_waiting`), enqueues a re-check of runs waiting for a slot.
    """
    deletion = ProviderVoiceDeletion.objects.filter(pk=deletion_id).first()
    if deletion is None:
        # A hard delete (docs/consent.md) deletes the provider voices itself and then the intents; the task its
        # revocation queued finds nothing left to do (it used to fail with DoesNotExist and be retried).
        logger.info("provider voice deletion %s no longer exists (voice erased); nothing to do", deletion_id)
        return None
    if deletion.completed_at is not None:
        return deletion
    ProviderVoiceDeletion.objects.filter(pk=deletion.pk).update(attempt_count=deletion.attempt_count + 1)
    try:
        provider.delete_voice(voice_id=deletion.provider_voice_id)
    except provider.VoiceNotFound:
        logger.info("provider voice %s was already gone", deletion.provider_voice_id)
    except provider.ProviderError as exc:
        ambiguous = isinstance(exc, provider.ProviderUnavailable) and exc.request_sent
        logger.warning("deleting provider voice %s failed: %s", deletion.provider_voice_id, exc)
        # A revoked consent's deletion is never withdrawn: it is retried until the provider confirms.
        if exc.retryable or ambiguous or deletion.reason == ProviderVoiceDeletion.Reason.CONSENT_REVOKED:
            ProviderVoiceDeletion.objects.filter(pk=deletion.pk).update(
                last_error=str(exc)[:2000],
                next_attempt_at=timezone.now() + timedelta(seconds=deletion_retry_delay_s(deletion.attempt_count + 1)),
            )
        else:
            deletion.delete()
            deletion.pk = None
        deletion.last_error = str(exc)
        return deletion

    now = timezone.now()
    with transaction.atomic():
        locked = ProviderVoiceDeletion.objects.select_for_update().get(pk=deletion.pk)
        if locked.completed_at is None:
            VoiceVersion.objects.filter(pk=locked.version_id).update(state=VoiceVersion.State.DELETED, deleted_at=now)
            locked.completed_at = now
            locked.last_error = ""
            locked.save(update_fields=["completed_at", "last_error"])
        if notify_waiting:
            # A slot is free: runs waiting for one resume (FIFO) without waiting for the minute schedule.
            enqueue_on_commit("retraining.tasks.retrain_runs_resume")
    return locked


def deletion_retry_delay_s(attempts: int) -> float:
    """Wait after `attempts` failed attempts: PROVIDER_DELETE_RETRY_BASE_S × 2^(attempts-1), at most the cleanup
    interval (which retries every pending deletion anyway)."""
    cap = settings.ARCHIVED_VOICES_CLEANUP_INTERVAL_MIN * 60
    return min(settings.PROVIDER_DELETE_RETRY_BASE_S * (2 ** max(0, min(attempts, 30) - 1)), cap)


def provider_deletions_due_sweep(*, now=None, limit: int = 200) -> int:
    """Hand the queue every pending deletion whose retry is due (`next_attempt_at` passed). Run by the stuck-work
    sweep (every STUCK_WORK_SWEEP_S in the cluster). Each row is leased first (its next attempt moved past the task
    timeout), so concurrent sweeps enqueue it once; the task's failure path sets the next backoff. Returns the count."""
    now = now or timezone.now()
    due = list(ProviderVoiceDeletion.objects.filter(completed_at__isnull=True, next_attempt_at__lte=now)
               .order_by("next_attempt_at").values_list("pk", "next_attempt_at")[:limit])
    lease_until = now + timedelta(seconds=settings.Q_CLUSTER["timeout"])
    handed = 0
    for pk, due_at in due:
        claimed = ProviderVoiceDeletion.objects.filter(pk=pk, completed_at__isnull=True, next_attempt_at=due_at).update(
            next_attempt_at=lease_until)
        if claimed:
            enqueue_on_commit("retraining.tasks.version_provider_delete", pk)
            handed += 1
    return handed


def version_delete_now(
    *, version: VoiceVersion, reason: str, by=None, for_run: RetrainRun | None = None, force: bool = False,
    notify_waiting: bool = True,
) -> ProviderVoiceDeletion:
    """Request and perform a deletion in the calling worker (both steps). Raises InvalidState like
    `version_deletion_request`; returns the intent (`completed_at` set when the voice is gone)."""
    deletion = version_deletion_request(version=version, reason=reason, by=by, for_run=for_run, force=force)
    return version_provider_delete(deletion_id=deletion.pk, notify_waiting=notify_waiting)


def version_delete_enqueue(*, version: VoiceVersion, by=None, force: bool = True,
                           reason: str = ProviderVoiceDeletion.Reason.STAFF) -> ProviderVoiceDeletion:
    """Staff: delete one version's provider voice in the background (admin quota panel, API).

    Raises InvalidState when it must stay. The run waiting for a slot resumes once it is gone.
    """
    deletion = version_deletion_request(version=version, reason=reason, by=by, force=force)
    with transaction.atomic():
        enqueue_on_commit("retraining.tasks.version_provider_delete", deletion.pk)
    return deletion


# --- cleanup --------------------------------------------------------------------------------------------


@dataclass
class CleanupResult:
    deleted: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"deleted": self.deleted, "failed": self.failed}


def _describe(version: VoiceVersion) -> dict:
    return {
        "version_id": version.pk,
        "voice_id": str(version.voice_id),
        "voice_name": version.voice.name,
        "number": version.number,
        "provider_voice_id": version.provider_voice_id,
    }


def archived_voices_cleanup_enqueue() -> None:
    """Run `archived_voices_cleanup` in the background after the current transaction (admin, API)."""
    enqueue_on_commit("retraining.tasks.archived_voices_cleanup")


def archived_voices_cleanup(*, by=None) -> CleanupResult:
    """Delete every provider voice the policy allows: archived versions beyond the keep count, candidates
    of rejected/cancelled runs, and deletions a crash or an outage left pending.

    Safe to run at any time and twice at once (each version has one intent row). The scheduled task, the
    `archived_voices_cleanup` command and the admin action call it.
    """
    result = CleanupResult()
    pending = list(ProviderVoiceDeletion.objects.filter(completed_at__isnull=True).select_related("version__voice"))
    jobs = [(d.version, d) for d in pending]
    jobs += [(v, None) for v in deletable_archived_versions()]
    jobs += [(v, None) for v in discarded_candidate_versions()]
    for version, deletion in jobs:
        info = _describe(version)
        try:
            if deletion is None:
                reason = (
                    ProviderVoiceDeletion.Reason.DISCARDED_CANDIDATE
                    if version.state == VoiceVersion.State.CANDIDATE
                    else ProviderVoiceDeletion.Reason.CLEANUP
                )
                deletion = version_deletion_request(version=version, reason=reason, by=by)
            outcome = version_provider_delete(deletion_id=deletion.pk)
        except InvalidState as exc:
            result.failed.append({**info, "error": exc.message})
            continue
        if outcome.pk is not None and outcome.completed_at is not None:
            result.deleted.append(info)
        else:
            result.failed.append({**info, "error": outcome.last_error})
    return result


def free_one_slot(*, for_run: RetrainRun):
    """Delete one provider voice the policy allows, to make room for `for_run`: first a foreign voice staff
    marked deletable (oldest mark first, `retraining.services.foreign`), else the oldest archived version
    beyond the keep count.

    Exactly one deletion at most. Returns what was deleted (a ForeignProviderVoice or a VoiceVersion), or
    None when nothing may be deleted or the deletion did not complete (the run then waits).
    """
    from .foreign import deletable_foreign_voices, foreign_voice_delete

    for record in deletable_foreign_voices():
        if foreign_voice_delete(record=record):
            logger.info("freed a slot for run %s by deleting foreign voice %s", for_run.pk, record.provider_voice_id)
            return record
        return None
    for version in deletable_archived_versions():
        try:
            deletion = version_delete_now(
                version=version, reason=ProviderVoiceDeletion.Reason.FREE_SLOT, for_run=for_run,
                # The slot is for this run: waking the queue now would hand it to another run.
                notify_waiting=False,
            )
        except InvalidState:
            continue  # taken by a concurrent cleanup or now in use: try the next oldest
        if deletion.pk is not None and deletion.completed_at is not None:
            return version
        return None
    return None
