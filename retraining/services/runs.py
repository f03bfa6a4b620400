"""The retrain run state machine (DESIGN §2 RetrainRun, §3 Retrain; issue 6 items 2–6).

    proposed ──approve──▶ approved ──task──▶ running ──▶ candidate ──promote──▶ promoted ──rollback──▶ rolled_back
        │                    │                 │  ▲          │
        │                    │                 ▼  │          └─reject──▶ rejected (candidate deleted at the provider)
        └─reject─▶ rejected  │        waiting_for_slot (no create call; resumes FIFO when a slot frees)
                             └────────── cancel (proposed/approved/waiting/running/candidate/failed) ──▶ cancelled
    running ──provider error──▶ failed ──retry──▶ approved

`edit_in_place` runs (only with RETRAIN_ALLOW_EDIT_IN_PLACE) add samples to the live provider voice and go
from running straight to promoted: the change is live and irreversible, there is nothing to promote or roll
back.

Crash safety: the run task claims the run with a conditional update (approved/waiting → running, or a
running run whose lease expired); the provider voice carries the run's label (description and
`voiceclone_run` label), so a retry first looks for it and adopts it instead of creating a second one; no
transaction is open across provider I/O (intent → call → outcome).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.db.models.functions import Coalesce
from django.utils import timezone

from clones.audio import AudioProbeError, probe_audio
from clones.models import ClipSample, Voice, VoiceVersion
from clones.services import TrainingCopy, clip_training_copy
from clones.services.clips import preview_clip_store
from retraining.models import ProviderVoiceDeletion, RetrainRun, RetrainRunClip
from usage.context import usage_attributed
from voiceclone import provider
from voiceclone.errors import ApplicationError, InvalidState, NotEligible
from voiceclone.events.models import Event
from voiceclone.events.services import event_emit
from voiceclone.leases import lease_heartbeat

from fidelity.gate import gate_override_record, gate_promotion_check, gate_report_start, gate_reports_resume

from .cleanup import free_one_slot, version_deletion_request
from voiceclone.background import enqueue_on_commit
from .cost import retrain_run_cost_estimate
from .eligibility import retraining_enabled_check, voice_eligibility
from .quota import queue_position, slot_plan, waiting_runs_in_order

logger = logging.getLogger(__name__)

State = RetrainRun.State
Strategy = RetrainRun.Strategy

EXECUTE_TASK = "retraining.tasks.retrain_run_execute"

# Where each staff action may start from.
REJECTABLE = (State.PROPOSED, State.CANDIDATE)
CANCELLABLE = (State.PROPOSED, State.APPROVED, State.WAITING_FOR_SLOT, State.RUNNING, State.CANDIDATE, State.FAILED)


class EditInPlaceDisabled(ApplicationError):
    default_code = "edit_in_place_disabled"


class _RunFailed(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _emit(run: RetrainRun, type: str, **payload) -> None:
    event_emit(type=type, user=run.voice.owner, voice=run.voice, payload={"run_id": run.pk, **payload})


# --- proposal and staff decisions -----------------------------------------------------------------------


def retrain_run_propose(
    *, voice: Voice, proposed_by=None, strategy: str = Strategy.RECREATE, now=None
) -> RetrainRun:
    """Propose retraining `voice` with the clips the selection service picks now (frozen in the run).

    `recreate` (default): originals plus curated generated clips, cloned as a new provider voice.
    `originals_only`: the speaker's own recordings alone (a re-clone of a drifted voice; no conversation
    or generated clip needed). `edit_in_place`: only with RETRAIN_ALLOW_EDIT_IN_PLACE.

    Raises RetrainingDisabled (409) when RETRAIN_ENABLED is off; NotEligible (422) with
    `extra={"reasons", "counts"}` exactly when `voice_eligibility(strategy=...)` says not eligible (the
    same dry run: what it selected is what the run freezes); EditInPlaceDisabled (400). Stores the
    eligibility snapshot, the selection report, the cost estimate and the slot plan (a provider read, made
    before the transaction). With RETRAIN_AUTO_APPROVE the run is approved at once.
    """
    if strategy not in Strategy.values:
        raise ApplicationError(f"Unknown strategy {strategy!r}.", code="invalid_strategy")
    if strategy == Strategy.EDIT_IN_PLACE and not settings.RETRAIN_ALLOW_EDIT_IN_PLACE:
        raise EditInPlaceDisabled("Edit in place is disabled (RETRAIN_ALLOW_EDIT_IN_PLACE is off).")
    retraining_enabled_check()
    now = now or timezone.now()
    eligibility = voice_eligibility(voice=voice, strategy=strategy, now=now)
    if not eligibility.is_eligible:
        raise NotEligible(
            f"{voice.name} is not eligible for retraining: "
            + " ".join(r["message"] for r in eligibility.reasons),
            extra={"reasons": eligibility.reasons, "counts": eligibility.counts},
        )
    selection = eligibility.selection
    plan = slot_plan(run=RetrainRun(voice=voice, strategy=strategy))

    with transaction.atomic():
        try:
            with transaction.atomic():
                run = RetrainRun.objects.create(
                    voice=voice,
                    strategy=strategy,
                    proposed_by=proposed_by,
                    eligibility_snapshot=eligibility.as_dict(),
                    selection_report=selection.as_report(),
                    cost_estimate=retrain_run_cost_estimate(strategy=strategy, selection=selection),
                    quota_snapshot={"at": "proposed", **plan.as_dict()},
                )
        except IntegrityError:
            raise NotEligible(
                f"{voice.name} already has a proposed or open retrain run.",
                extra={"reasons": [{"code": "run_in_progress", "message": "A run is already proposed or open."}],
                       "counts": eligibility.counts},
            ) from None
        RetrainRunClip.objects.bulk_create(
            RetrainRunClip(
                run=run,
                clip_id=chosen.clip_id,
                role=RetrainRunClip.Role.ORIGINAL if chosen.source == ClipSample.Source.ORIGINAL
                else RetrainRunClip.Role.GENERATED,
                position=position,
                use_s=chosen.use_s,
            )
            for position, chosen in enumerate(selection.clips)
        )
        _emit(run, Event.Type.RETRAIN_PROPOSED, clips=len(selection.clips),
              duration_s=round(selection.total_duration_s, 1))
        if settings.RETRAIN_AUTO_APPROVE:
            _approve_locked(run, by=None)
    return run


def _approve_locked(run: RetrainRun, *, by) -> None:
    retraining_enabled_check()
    if run.voice.status != Voice.Status.READY:
        raise InvalidState(f"The voice is {run.voice.status}; only a ready voice can be retrained.")
    run.state = State.APPROVED
    run.approved_by = by
    run.approved_at = timezone.now()
    try:
        with transaction.atomic():
            run.save(update_fields=["state", "approved_by", "approved_at", "updated_at"])
    except IntegrityError:
        raise InvalidState("Another retrain run of this voice is already approved or in progress.") from None
    _emit(run, Event.Type.RETRAIN_APPROVED)
    enqueue_on_commit(EXECUTE_TASK, run.pk)


def _locked(run: RetrainRun) -> RetrainRun:
    # of=("self",): PostgreSQL refuses FOR UPDATE on the nullable side of the new_version outer join.
    qs = RetrainRun.objects.select_for_update(of=("self",)).select_related("voice__owner", "new_version")
    return qs.get(pk=run.pk)


def retrain_run_approve(*, run: RetrainRun, by=None) -> RetrainRun:
    """proposed → approved, and enqueue the run task on commit. Raises InvalidState otherwise (or when
    another run of the voice is open: the database allows one), RetrainingDisabled when RETRAIN_ENABLED
    is off."""
    with transaction.atomic():
        locked = _locked(run)
        if locked.state != State.PROPOSED:
            raise InvalidState(f"Only a proposed run can be approved; run #{locked.pk} is {locked.state}.")
        if locked.strategy == Strategy.EDIT_IN_PLACE and not settings.RETRAIN_ALLOW_EDIT_IN_PLACE:
            raise EditInPlaceDisabled("Edit in place is disabled (RETRAIN_ALLOW_EDIT_IN_PLACE is off).")
        _approve_locked(locked, by=by)
    return locked


def _close(locked: RetrainRun, *, state: str, by, event_type: str, reason: str = "") -> None:
    """Close a run; a candidate it created is discarded (deleted at the provider after commit)."""
    locked.state = state
    locked.finished_at = timezone.now()
    locked.finished_by = by
    locked.claimed_at = None
    if reason:
        locked.failure_message = reason
    locked.save(update_fields=["state", "finished_at", "finished_by", "claimed_at", "failure_message", "updated_at"])
    _emit(locked, event_type, reason=reason)
    version = locked.new_version
    if version is not None and version.state == VoiceVersion.State.CANDIDATE:
        _discard_candidate_on_commit(version)


def _discard_candidate_on_commit(version: VoiceVersion) -> None:
    def request_and_enqueue():
        try:
            deletion = version_deletion_request(version=version, reason=ProviderVoiceDeletion.Reason.DISCARDED_CANDIDATE)
        except InvalidState as exc:  # e.g. a pending reply still uses it: the cleanup retries later
            logger.info("candidate %s not discarded yet: %s", version.pk, exc.message)
            return
        from django_q.tasks import async_task

        async_task("retraining.tasks.version_provider_delete", deletion.pk)

    transaction.on_commit(request_and_enqueue)


def retrain_run_reject(*, run: RetrainRun, by=None, reason: str = "") -> RetrainRun:
    """proposed/candidate → rejected. A candidate's provider voice is deleted in the background."""
    with transaction.atomic():
        locked = _locked(run)
        if locked.state not in REJECTABLE:
            raise InvalidState(
                f"Only a proposed run or a candidate can be rejected; run #{locked.pk} is {locked.state}."
            )
        _close(locked, state=State.REJECTED, by=by, event_type=Event.Type.RETRAIN_REJECTED, reason=reason)
    return locked


def retrain_run_cancel(*, run: RetrainRun, by=None, reason: str = "") -> RetrainRun:
    """Cancel a run that has not been promoted. A running task notices and stops at its next step; any
    candidate (even one created after the cancel) is deleted at the provider."""
    with transaction.atomic():
        locked = _locked(run)
        if locked.state not in CANCELLABLE:
            raise InvalidState(f"Run #{locked.pk} is {locked.state} and cannot be cancelled.")
        _close(locked, state=State.CANCELLED, by=by, event_type=Event.Type.RETRAIN_CANCELLED, reason=reason)
        enqueue_on_commit("retraining.tasks.retrain_runs_resume")  # it may have been first in the slot queue
    return locked


def retrain_run_retry(*, run: RetrainRun, by=None) -> RetrainRun:
    """failed → approved, and enqueue the task again; it resumes where the run stopped (an existing
    candidate or provider voice is reused, never created twice)."""
    with transaction.atomic():
        locked = _locked(run)
        if locked.state != State.FAILED:
            raise InvalidState(f"Only a failed run can be retried; run #{locked.pk} is {locked.state}.")
        locked.failure_code = ""
        locked.failure_message = ""
        locked.finished_at = None
        locked.save(update_fields=["failure_code", "failure_message", "finished_at", "updated_at"])
        _approve_locked(locked, by=by or locked.approved_by)
    return locked


# --- promotion and rollback -----------------------------------------------------------------------------


def retrain_run_promotion_check(*, run: RetrainRun, override_reason: str = "", by=None) -> bool:
    """Everything that must hold for `run` to be promoted, in one place (called before the provider check and
    again under the lock). Raises InvalidState unless the run is a candidate with its version and its voice
    is ready (consent not revoked, not disabled); the fidelity gate's refusals (fidelity.gate.gate_promotion_check: FidelityGateFailed / FidelityGatePending, 409,
    unless staff override with a reason). Returns True when a staff override lets the run through (the
    caller records it), False when nothing needs overriding."""
    if run.state != State.CANDIDATE or run.new_version_id is None:
        raise InvalidState(f"Only a candidate can be promoted; run #{run.pk} is {run.state}.")
    if run.voice.status != Voice.Status.READY:  # consent revoked or the voice disabled
        raise InvalidState(f"The voice is {run.voice.status}; only a ready voice's candidate can be promoted.")
    return gate_promotion_check(run=run, override_reason=override_reason, by=by)


def retrain_run_promote(*, run: RetrainRun, by=None, override_reason: str = "") -> RetrainRun:
    """candidate → promoted: in one transaction swap `Voice.current_version` to the candidate, archive the
    old version, mark the run's clips used (run state promoted), write `voice.version_promoted` and
    `retrain.promoted`. The Voice id never changes; the next reply speaks with the new version, and a reply
    already speaking with the old one finishes (the old provider voice is only archived).

    The fidelity gate must have passed the candidate; staff may promote a failing (or still pending)
    candidate with `override_reason`, which is recorded (who, when, why), emitted as
    `retrain.gate_overridden` and audited.

    Raises InvalidState unless the run is a candidate whose provider voice still exists (checked first),
    FidelityGateFailed / FidelityGatePending (409) / OverrideNotAllowed (403), ProviderError when the
    provider cannot say.
    """
    current = RetrainRun.objects.select_related("new_version", "voice").get(pk=run.pk)
    retrain_run_promotion_check(run=current, override_reason=override_reason, by=by)
    try:
        provider.get_voice(voice_id=current.new_version.provider_voice_id)
    except provider.VoiceNotFound:
        raise InvalidState(
            "The candidate's provider voice no longer exists; reject this run and propose a new one."
        ) from None

    with transaction.atomic():
        voice = Voice.objects.select_for_update().get(pk=current.voice_id)
        locked = _locked(current)
        locked.voice = voice  # the row just locked: revoked or disabled meanwhile shows here
        if retrain_run_promotion_check(run=locked, override_reason=override_reason, by=by):
            gate_override_record(run=locked, by=by, reason=override_reason)
        new = VoiceVersion.objects.select_for_update().get(pk=locked.new_version_id)
        now = timezone.now()
        old = None
        if voice.current_version_id:
            old = VoiceVersion.objects.select_for_update().get(pk=voice.current_version_id)
        if old is not None:
            # Archive first: the database allows one active version per voice.
            old.state = VoiceVersion.State.ARCHIVED
            old.archived_at = now
            old.save(update_fields=["state", "archived_at"])
        new.state = VoiceVersion.State.ACTIVE
        new.archived_at = None
        new.save(update_fields=["state", "archived_at"])
        voice.current_version = new
        voice.save(update_fields=["current_version", "updated_at"])
        locked.state = State.PROMOTED
        locked.old_version = old
        locked.finished_at = now
        locked.finished_by = by
        locked.save(update_fields=["state", "old_version", "finished_at", "finished_by", "updated_at"])
        locked.voice = voice
        payload = {"version": new.number, "previous_version": old.number if old else None}
        event_emit(type=Event.Type.VOICE_VERSION_PROMOTED, user=voice.owner, voice=voice,
                   payload={**payload, "run_id": locked.pk})
        _emit(locked, Event.Type.RETRAIN_PROMOTED, **payload)
    return locked


def voice_version_rollback(*, voice: Voice, number: int, by=None) -> VoiceVersion:
    """Re-activate archived version `number` of `voice` and archive the current one
    (`voice.version_rolled_back`). The run that promoted the replaced version becomes `rolled_back`
    (its clips count as unused again).

    Raises InvalidState when the version is not archived, is being deleted, or no longer exists at the
    provider (checked first; the version is then recorded as deleted), ProviderError when the provider
    cannot say.
    """
    target = VoiceVersion.objects.filter(voice=voice, number=number).first()
    if target is None:
        raise InvalidState(f"{voice.name} has no version {number}.", code="no_such_version")
    if voice.status != Voice.Status.READY:
        raise InvalidState(f"The voice is {voice.status}; only a ready voice can be rolled back.")
    _check_rollback_target(target)
    try:
        provider.get_voice(voice_id=target.provider_voice_id)
    except provider.VoiceNotFound:
        VoiceVersion.objects.filter(pk=target.pk, state=VoiceVersion.State.ARCHIVED).update(
            state=VoiceVersion.State.DELETED, deleted_at=timezone.now()
        )
        raise InvalidState(
            f"Version {number} no longer exists at the provider and cannot be re-activated."
        ) from None

    with transaction.atomic():
        locked_voice = Voice.objects.select_for_update(of=("self",)).select_related("owner").get(pk=voice.pk)
        target = VoiceVersion.objects.select_for_update().get(pk=target.pk)
        _check_rollback_target(target)
        now = timezone.now()
        current = (
            VoiceVersion.objects.select_for_update().get(pk=locked_voice.current_version_id)
            if locked_voice.current_version_id else None
        )
        if current is not None:
            current.state = VoiceVersion.State.ARCHIVED
            current.archived_at = now
            current.save(update_fields=["state", "archived_at"])
            RetrainRun.objects.filter(new_version=current, state=State.PROMOTED).update(
                state=State.ROLLED_BACK, finished_by=by, updated_at=now
            )
        target.state = VoiceVersion.State.ACTIVE
        target.archived_at = None
        target.save(update_fields=["state", "archived_at"])
        locked_voice.current_version = target
        locked_voice.save(update_fields=["current_version", "updated_at"])
        event_emit(
            type=Event.Type.VOICE_VERSION_ROLLED_BACK, user=locked_voice.owner, voice=locked_voice,
            payload={"version": target.number, "previous_version": current.number if current else None},
        )
    return target


def _check_rollback_target(target: VoiceVersion) -> None:
    if target.state != VoiceVersion.State.ARCHIVED:
        raise InvalidState(f"Version {target.number} is {target.state}; only an archived version can be re-activated.")
    if ProviderVoiceDeletion.objects.filter(version=target).exists():
        raise InvalidState(f"Version {target.number} is being deleted at the provider.")


def retrain_run_rollback(*, run: RetrainRun, by=None) -> VoiceVersion:
    """Roll a promoted run back: re-activate the version it replaced. Raises InvalidState for an
    edit-in-place run (irreversible) or a run that is not the voice's current promotion."""
    run = RetrainRun.objects.select_related("voice", "old_version", "new_version").get(pk=run.pk)
    if run.strategy == Strategy.EDIT_IN_PLACE:
        raise InvalidState("An edit-in-place run changed the provider voice itself and cannot be rolled back.")
    if run.state != State.PROMOTED or run.old_version is None:
        raise InvalidState(f"Only a promoted run can be rolled back; run #{run.pk} is {run.state}.")
    if run.voice.current_version_id != run.new_version_id:
        raise InvalidState("The voice has moved on since this run was promoted; roll back by version instead.")
    return voice_version_rollback(voice=run.voice, number=run.old_version.number, by=by)


# --- the run task ---------------------------------------------------------------------------------------


def _claim(run_id: int) -> tuple[RetrainRun, str] | None:
    """Take the run for this worker: (run, state it was in), or None when it is done or held by a live
    worker. A `running` run whose lease (RETRAIN_RUN_LEASE_S) expired belonged to a killed worker."""
    run = RetrainRun.objects.filter(pk=run_id).first()
    if run is None:
        return None
    now = timezone.now()
    lease = timedelta(seconds=settings.RETRAIN_RUN_LEASE_S)
    stale = run.state == State.RUNNING and (run.claimed_at is None or run.claimed_at < now - lease)
    if run.state not in (State.APPROVED, State.WAITING_FOR_SLOT) and not stale:
        return None
    claimed = RetrainRun.objects.filter(pk=run.pk, state=run.state, attempt_count=run.attempt_count).update(
        state=State.RUNNING,
        claimed_at=now,
        attempt_count=F("attempt_count") + 1,
        started_at=Coalesce(F("started_at"), now),
        updated_at=now,
    )
    if not claimed:
        return None
    previous = run.state
    run = RetrainRun.objects.select_related("voice__owner", "voice__current_version", "old_version", "new_version").get(
        pk=run.pk
    )
    return run, previous


def _still_mine(run: RetrainRun) -> bool:
    return RetrainRun.objects.filter(pk=run.pk, state=State.RUNNING, attempt_count=run.attempt_count).exists()


def retrain_run_execute(*, run_id: int) -> RetrainRun | None:
    """The run task: quota → (free one slot | wait) → create or adopt the provider voice → candidate
    version → A/B previews → `candidate` (edit in place: previews around an add-samples → `promoted`).

    Safe to run twice and after a crash at any point: returns None when the run is not claimable (done,
    or a live worker holds it). Provider failures end `failed` with a code and a readable message (staff
    may retry); VoiceLimitReached at create sends the run back to `waiting_for_slot`.
    """
    claimed = _claim(run_id)
    if claimed is None:
        return None
    run, previous_state = claimed
    mine = RetrainRun.objects.filter(pk=run.pk, state=State.RUNNING, attempt_count=run.attempt_count)
    try:
        # The heartbeat keeps the claim fresh while this worker lives (voiceclone.leases).
        with lease_heartbeat(mine):
            if run.strategy == Strategy.EDIT_IN_PLACE:
                return _execute_edit_in_place(run)
            return _execute_recreate(run, previous_state=previous_state)
    except _RunFailed as exc:
        return _fail(run, exc.code, exc.message)
    except Exception as exc:  # noqa: BLE001 - a run never stays `running` for good; the traceback is logged
        logger.exception("retrain run %s failed with an unexpected error", run.pk)
        return _fail(run, "internal_error",
                     f"Something went wrong on our side during this run ({type(exc).__name__}). Retry it.")


def _execute_recreate(run: RetrainRun, *, previous_state: str) -> RetrainRun | None:
    if run.voice.status != Voice.Status.READY or run.voice.current_version_id is None:
        raise _RunFailed("voice_not_ready", f"The voice is {run.voice.status}; only a ready voice can be retrained.")
    if run.new_version_id is None:
        provider_voice_id = _find_run_provider_voice(run)
        if provider_voice_id is None:
            ahead = waiting_runs_in_order().exclude(pk=run.pk)
            if run.approved_at is not None:
                ahead = ahead.filter(approved_at__lt=run.approved_at)
            if ahead.exists():
                # First come, first served: a run queued earlier gets the next slot.
                return _wait(run, previous_state=previous_state, reason="Runs approved earlier are waiting for a slot.",
                             wake_queue=True)
            has_slot, quota = _ensure_slot(run)
            if not has_slot:
                return _wait(run, previous_state=previous_state, quota=quota)
            try:
                provider_voice_id = _create_provider_voice(run)
            except provider.VoiceLimitReached as exc:
                # Another writer took the slot between our quota read and the create call.
                return _wait(run, previous_state=previous_state, reason=f"The provider refused: {exc.message}")
        run = _record_candidate_version(run, provider_voice_id)
        if run is None:
            return None
    if not _still_mine(run):
        return None
    _render_previews(run)
    return _finish(run, State.CANDIDATE, Event.Type.RETRAIN_CANDIDATE)


def _ensure_slot(run: RetrainRun) -> tuple[bool, provider.Quota | None]:
    """(True, quota) when a slot is free or one was freed by deleting the oldest policy-deletable archived
    provider voice (exactly one, only when needed); (False, quota) otherwise."""
    try:
        quota = provider.quota()
    except provider.ProviderError as exc:
        raise _RunFailed("quota_unavailable", f"Could not read the provider's voice quota: {exc.message}") from None
    RetrainRun.objects.filter(pk=run.pk).update(quota_snapshot={"at": "run", **_quota_dict(quota)})
    if quota.slots_free > 0:
        return True, quota
    freed = free_one_slot(for_run=run)
    if freed is None:
        return False, quota
    logger.info("run %s freed a slot by deleting %s", run.pk, freed)
    return True, quota


def _quota_dict(quota: provider.Quota) -> dict:
    return {"voice_limit": quota.voice_limit, "slots_used": quota.voice_slots_used, "slots_free": quota.slots_free}


def _wait(run: RetrainRun, *, previous_state: str, quota: provider.Quota | None = None, reason: str = "",
          wake_queue: bool = False) -> RetrainRun | None:
    """running → waiting_for_slot with the reason, the queue position and what staff could delete."""
    plan = slot_plan(run=run, quota=quota) if quota is not None else slot_plan(run=run)
    if not reason:
        reason = (
            f"No free custom-voice slot ({plan.slots_used}/{plan.voice_limit} used) and no archived voice may be "
            f"deleted under the cleanup policy (keep {settings.ARCHIVED_VOICES_KEEP} per voice)."
        )
    options = plan.staff_could_delete
    if options:
        listed = ", ".join(f"{o['voice_name']} v{o['number']} ({o['why']})" for o in options[:10])
        reason += f" Staff could delete: {listed}."
    else:
        reason += " Nothing is deletable: upgrade the plan or disable a voice."
    now = timezone.now()
    with transaction.atomic():
        updated = RetrainRun.objects.filter(pk=run.pk, state=State.RUNNING, attempt_count=run.attempt_count).update(
            state=State.WAITING_FOR_SLOT,
            waiting_reason=reason,
            waiting_since=Coalesce(F("waiting_since"), now),
            claimed_at=None,
            quota_snapshot={"at": "waiting", **plan.as_dict()},
            updated_at=now,
        )
        if not updated:
            return None
        run.refresh_from_db()
        position = queue_position(run)
        if previous_state != State.WAITING_FOR_SLOT:
            _emit(run, Event.Type.RETRAIN_WAITING, reason=reason, position=position)
        if wake_queue:
            enqueue_on_commit("retraining.tasks.retrain_runs_resume")
    return run


def _fail(run: RetrainRun, code: str, message: str) -> RetrainRun | None:
    logger.warning("retrain run %s failed (%s): %s", run.pk, code, message)
    now = timezone.now()
    with transaction.atomic():
        updated = RetrainRun.objects.filter(pk=run.pk, state=State.RUNNING, attempt_count=run.attempt_count).update(
            state=State.FAILED, failure_code=code, failure_message=message, claimed_at=None, finished_at=now,
            updated_at=now,
        )
        if not updated:
            return None
        run.refresh_from_db()
        _emit(run, Event.Type.RETRAIN_FAILED, code=code, reason=message)
    return run


def _finish(run: RetrainRun, state: str, event_type: str, *, voice_event: dict | None = None) -> RetrainRun | None:
    """running → `state` (conditional on this worker's claim), with its event(s) in the same transaction."""
    now = timezone.now()
    with transaction.atomic():
        fields = {"state": state, "claimed_at": None, "waiting_reason": "", "updated_at": now}
        if state == State.PROMOTED:
            fields["finished_at"] = now
        updated = RetrainRun.objects.filter(pk=run.pk, state=State.RUNNING, attempt_count=run.attempt_count).update(
            **fields
        )
        if not updated:
            return None
        run = RetrainRun.objects.select_related("voice__owner", "new_version").get(pk=run.pk)
        version = run.new_version
        _emit(run, event_type, version=version.number if version else None)
        if state == State.CANDIDATE:
            gate_report_start(run=run)  # the fidelity gate measures the candidate in the background
        if voice_event is not None:
            event_emit(type=Event.Type.VOICE_VERSION_PROMOTED, user=run.voice.owner, voice=run.voice,
                       payload={**voice_event, "run_id": run.pk})
    return run


# --- provider voice: create or adopt --------------------------------------------------------------------


def provider_labels(run: RetrainRun) -> dict[str, str]:
    return {
        "voiceclone_run": run.provider_voice_label,
        "voiceclone_voice": str(run.voice_id),
        "language": run.voice.language or "en",
    }


def _find_run_provider_voice(run: RetrainRun) -> str | None:
    """A provider voice an earlier attempt of this run created (found by its label), if any."""
    label = run.provider_voice_label
    try:
        found = provider.voices_marked(marker=label, label_key="voiceclone_run")
    except provider.ProviderError as exc:
        # Creating without knowing could make a second voice: stop here, the retry looks again.
        raise _RunFailed("provider_unavailable", f"Could not list provider voices: {exc.message}") from None
    if not found:
        return None
    if len(found) > 1:
        logger.error("run %s has %d provider voices; adopting %s (reconcile_provider cleans the rest)",
                     run.pk, len(found), found[0].voice_id)
    logger.info("run %s adopts provider voice %s created by an earlier attempt", run.pk, found[0].voice_id)
    return found[0].voice_id


def _training_files(run: RetrainRun) -> tuple[list[tuple[RetrainRunClip, provider.AudioFile]], list[TrainingCopy]]:
    """The bytes to upload: training copies of the run's frozen selection — originals and generated clips
    of this voice only, never a user's recording (those are not ClipSamples at all). A generated clip
    rejected since the proposal, or an original retired since, is left out."""
    rows = list(run.run_clips.select_related("clip").filter(clip__voice_id=run.voice_id).order_by("position"))
    usable = [
        r for r in rows
        if r.clip.file
        and (
            r.clip.source == ClipSample.Source.ORIGINAL
            or (r.clip.source == ClipSample.Source.GENERATED
                and r.clip.review_status == ClipSample.ReviewStatus.APPROVED)
        )
    ]
    # An original retired since the proposal is left out; without any original nothing is uploaded (a
    # retrain never learns from the clone's own speech alone).
    usable = [r for r in usable if r.clip.source != ClipSample.Source.ORIGINAL or r.clip.retired_at is None]
    if not any(r.clip.source == ClipSample.Source.ORIGINAL for r in usable):
        raise _RunFailed("no_originals", "None of the selected original recordings is still stored and in use.")
    if run.strategy == Strategy.ORIGINALS_ONLY:
        # A re-clone uploads the speaker's own recordings and nothing else, whatever the rows say.
        usable = [r for r in usable if r.clip.source == ClipSample.Source.ORIGINAL]
    elif not any(r.clip.source == ClipSample.Source.GENERATED for r in usable):
        raise _RunFailed("nothing_to_upload", "None of the selected generated clips is still approved and stored.")
    try:
        copies = [clip_training_copy(clip=r.clip, max_use_s=r.use_s) for r in usable]
    except (AudioProbeError, OSError) as exc:
        raise _RunFailed("clip_unreadable", f"A selected clip could not be read or decoded: {exc}") from None
    files = [
        (r, provider.AudioFile(filename=f"run{run.pk}_{copy.filename}", content=copy.content,
                               content_type=copy.content_type))
        for r, copy in zip(usable, copies)
    ]
    return files, copies


def _record_upload_intent(run: RetrainRun, files, copies) -> None:
    """Step 1 of intent → call → outcome: what is about to be uploaded, and that a provider write may
    happen from now on (so a retry, or reconcile_provider, looks for its result)."""
    by_clip = {c.clip_id: c for c in copies}
    now = timezone.now()
    with transaction.atomic():
        for row, _ in files:
            copy = by_clip[row.clip_id]
            RetrainRunClip.objects.filter(pk=row.pk).update(upload_sha256=copy.sha256, upload_bytes=len(copy.content))
        RetrainRun.objects.filter(pk=run.pk).update(create_requested_at=now, updated_at=now)


def _create_provider_voice(run: RetrainRun) -> str:
    files, copies = _training_files(run)
    _record_upload_intent(run, files, copies)
    label = run.provider_voice_label
    number = (run.voice.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    try:
        return provider.create_voice(
            name=f"{run.voice.name} v{number}"[:100],
            files=[f for _, f in files],
            description=label,
            labels=provider_labels(run),
        )
    except provider.VoiceLimitReached:
        raise
    except provider.ProviderError as exc:
        # After an ambiguous failure the voice may exist anyway: look once before giving up.
        if isinstance(exc, provider.ProviderUnavailable) and exc.request_sent:
            try:
                adopted = _find_run_provider_voice(run)
            except _RunFailed:
                adopted = None
            if adopted is not None:
                return adopted
        raise _RunFailed("provider_create_failed", f"The provider could not create the voice: {exc.message}") from None


def _record_candidate_version(run: RetrainRun, provider_voice_id: str) -> RetrainRun | None:
    """Outcome of the create: the candidate VoiceVersion (number = max + 1, lineage = deepest uploaded clip).

    Recorded even when the run was cancelled meanwhile, so the provider voice is tracked and discarded.
    Returns the run, or None when this worker should stop.
    """
    with transaction.atomic():
        voice = Voice.objects.select_for_update().get(pk=run.voice_id)
        locked = _locked(run)
        version = VoiceVersion.objects.filter(provider_voice_id=provider_voice_id).first()
        if version is None:
            lineage = (
                locked.run_clips.exclude(upload_sha256="").aggregate(d=Max("clip__lineage_depth"))["d"]
                or locked.run_clips.aggregate(d=Max("clip__lineage_depth"))["d"]
                or 0
            )
            number = (voice.versions.aggregate(n=Max("number"))["n"] or 0) + 1
            version = VoiceVersion.objects.create(
                voice=voice, number=number, provider_voice_id=provider_voice_id,
                state=VoiceVersion.State.CANDIDATE, created_by_run=locked, training_lineage_depth=lineage,
            )
        locked.new_version = version
        if locked.old_version_id is None:
            locked.old_version_id = voice.current_version_id
        locked.save(update_fields=["new_version", "old_version", "updated_at"])
        if locked.state in (State.CANCELLED, State.REJECTED) and version.state == VoiceVersion.State.CANDIDATE:
            _discard_candidate_on_commit(version)
            return None
        if locked.state != State.RUNNING or locked.attempt_count != run.attempt_count:
            return None
    return locked


# --- previews -------------------------------------------------------------------------------------------


def _render_previews(run: RetrainRun) -> None:
    """The same sentence spoken by the old and the new version, stored as preview clips (idempotent)."""
    run = RetrainRun.objects.select_related("old_version", "new_version", "preview_old_clip", "preview_new_clip").get(
        pk=run.pk
    )
    if run.old_version is not None and not (run.preview_old_clip and run.preview_old_clip.file):
        _render_preview(run, version=run.old_version, field="preview_old_clip")
    if run.new_version is not None and not (run.preview_new_clip and run.preview_new_clip.file):
        _render_preview(run, version=run.new_version, field="preview_new_clip")


@usage_attributed(lambda run, **_: {"kind": "preview", "voice_id": run.voice_id})
def _render_preview(run: RetrainRun, *, version: VoiceVersion, field: str) -> ClipSample:
    text = settings.RETRAIN_PREVIEW_TEXT
    try:
        result = provider.tts(voice_id=version.provider_voice_id, text=text)
    except provider.ProviderError as exc:
        raise _RunFailed("preview_failed", f"Rendering the v{version.number} preview failed: {exc.message}") from None
    try:
        info = probe_audio(result.audio, filename="preview.mp3")
    except AudioProbeError:
        info = None
    return preview_clip_store(
        voice_id=run.voice_id, version=version, text=text, result=result, info=info,
        existing=lambda: getattr(RetrainRun.objects.select_related(field).get(pk=run.pk), field),
        attach=lambda clip: RetrainRun.objects.filter(pk=run.pk).update(**{field: clip}),
    )


# --- edit in place --------------------------------------------------------------------------------------


def _execute_edit_in_place(run: RetrainRun) -> RetrainRun | None:
    """Add the selection to the live provider voice (same id, no new version, no slot, no rollback)."""
    if not settings.RETRAIN_ALLOW_EDIT_IN_PLACE:
        raise _RunFailed("edit_in_place_disabled", "Edit in place is disabled (RETRAIN_ALLOW_EDIT_IN_PLACE is off).")
    voice = run.voice
    version = voice.current_version
    if version is None:
        raise _RunFailed("voice_not_ready", "The voice has no active version to edit.")
    if run.old_version_id is None:
        RetrainRun.objects.filter(pk=run.pk).update(old_version=version, new_version=version)
        run.old_version = run.new_version = version
    # The "before" preview must be rendered before the voice changes; afterwards it cannot be.
    run_with_previews = RetrainRun.objects.select_related("preview_old_clip").get(pk=run.pk)
    has_before = run_with_previews.preview_old_clip and run_with_previews.preview_old_clip.file
    # Once samples may have been added (intent recorded), a "before" preview would be an "after": skip it.
    if not has_before and run.create_requested_at is None:
        _render_preview(run, version=version, field="preview_old_clip")

    files, copies = _training_files(run)
    prefix = f"run{run.pk}_"
    try:
        before = provider.get_voice(voice_id=version.provider_voice_id)
    except provider.ProviderError as exc:
        raise _RunFailed("provider_unavailable", f"Could not read the provider voice: {exc.message}") from None
    already_added = any((s.file_name or "").startswith(prefix) for s in before.samples)
    if not already_added:
        _record_upload_intent(run, files, copies)
        run.refresh_from_db()
        try:
            provider.add_samples(voice_id=version.provider_voice_id, name=voice.name[:100], files=[f for _, f in files])
        except provider.ProviderError as exc:
            raise _RunFailed("provider_edit_failed", f"The provider could not add the samples: {exc.message}") from None
    lineage = max((r.clip.lineage_depth for r, _ in files), default=0)
    VoiceVersion.objects.filter(pk=version.pk, training_lineage_depth__lt=lineage).update(training_lineage_depth=lineage)
    if not _still_mine(run):
        return None
    run.refresh_from_db()
    run_with_previews = RetrainRun.objects.select_related("preview_new_clip").get(pk=run.pk)
    if not (run_with_previews.preview_new_clip and run_with_previews.preview_new_clip.file):
        _render_preview(run, version=version, field="preview_new_clip")
    return _finish(
        run, State.PROMOTED, Event.Type.RETRAIN_PROMOTED,
        # The voice changed underneath its clients (same version number, new samples): tell them.
        voice_event={"version": version.number, "previous_version": version.number, "in_place": True},
    )


# --- the queue ------------------------------------------------------------------------------------------


def retrain_runs_resume() -> list[int]:
    """Give free slots to waiting runs, first in line first: run each waiting run in order and stop at the
    first that still finds no slot. Triggered every minute and after every provider voice deletion.
    Returns the ids of the runs that left the queue."""
    resumed = []
    for run_id in list(waiting_runs_in_order().values_list("pk", flat=True)):
        run = retrain_run_execute(run_id=run_id)
        if run is None:
            continue
        if run.state == State.WAITING_FOR_SLOT:
            break
        resumed.append(run_id)
    return resumed


def retrain_runs_stale_requeue(*, now=None) -> list[int]:
    """Re-enqueue `running` runs whose worker stopped beating (claim older than RETRAIN_RUN_LEASE_S).
    The retried task claims the run (a live worker's fresh claim keeps it off). Returns their ids."""
    from django_q.tasks import async_task

    now = now or timezone.now()
    lease = timedelta(seconds=settings.RETRAIN_RUN_LEASE_S)
    stale = list(
        RetrainRun.objects.filter(state=State.RUNNING, claimed_at__lt=now - lease).values_list("pk", flat=True)
    )
    for pk in stale:
        async_task(EXECUTE_TASK, pk)
    return stale


def retrain_runs_sweep(*, now=None) -> dict:
    """The minute schedule: resume waiting runs, and re-enqueue approved runs whose task was lost and
    running runs whose worker died (lease expired). Safe alongside live workers (they claim)."""
    from django_q.tasks import async_task

    now = now or timezone.now()
    stale = retrain_runs_stale_requeue(now=now)
    lost = list(
        RetrainRun.objects.filter(state=State.APPROVED, approved_at__lt=now - timedelta(minutes=1)).values_list(
            "pk", flat=True
        )
    )
    for pk in lost:
        async_task(EXECUTE_TASK, pk)
    resumed = retrain_runs_resume()
    gates = gate_reports_resume(now=now)
    return {"re_enqueued": stale + lost, "resumed": resumed, "gates_re_enqueued": gates}
