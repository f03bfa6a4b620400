"""Custom-voice slots: what the account has, what could be freed, who is queued (issue 6, items 3, 7, 9).

ElevenLabs counts every custom voice against `voice_limit` (30 on Creator). A `recreate` run needs one
free slot for its candidate until promotion archives the old version. Reads only: the provider's
subscription endpoint and our rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from clones.models import Voice, VoiceVersion
from retraining.models import ProviderVoiceDeletion, RetrainRun
from voiceclone import provider

from .foreign import deletable_foreign_voices, foreign_summary
from .cleanup import (
    archived_versions_by_voice,
    deletable_archived_versions,
    discarded_candidate_versions,
    staff_deletable_reason,
    version_in_use_reason,
)

# Runs that will need a slot of their own: approved or queued, not yet holding a candidate.
SLOT_SEEKING_STATES = (RetrainRun.State.APPROVED, RetrainRun.State.RUNNING, RetrainRun.State.WAITING_FOR_SLOT)


def quota_read() -> tuple[provider.Quota | None, str]:
    """(quota, "") or (None, the provider's error) — the panels show the error instead of failing."""
    try:
        return provider.quota(), ""
    except provider.ProviderError as exc:
        return None, str(exc)


def version_summary(version: VoiceVersion, **extra) -> dict:
    return {
        "version_id": version.pk,
        "voice_id": str(version.voice_id),
        "voice_name": version.voice.name,
        "voice_status": version.voice.status,
        "number": version.number,
        "state": version.state,
        "provider_voice_id": version.provider_voice_id,
        "archived_at": version.archived_at.isoformat() if version.archived_at else None,
        **extra,
    }


def slot_seeking_runs():
    """Runs that will need a slot (recreate and originals-only), in queue order (approval time, then id)."""
    return (
        RetrainRun.objects.filter(state__in=SLOT_SEEKING_STATES, new_version__isnull=True)
        .exclude(strategy=RetrainRun.Strategy.EDIT_IN_PLACE)
        .select_related("voice")
        .order_by("approved_at", "pk")
    )


def waiting_runs_in_order():
    """Runs waiting for a slot, first in line first (FIFO by approval time)."""
    return RetrainRun.objects.filter(state=RetrainRun.State.WAITING_FOR_SLOT).select_related("voice").order_by(
        "approved_at", "pk"
    )


def queue_position(run: RetrainRun) -> int | None:
    """1-based position of a waiting run in the slot queue, None when it is not waiting."""
    ids = list(waiting_runs_in_order().values_list("pk", flat=True))
    return ids.index(run.pk) + 1 if run.pk in ids else None


def staff_options() -> list[dict]:
    """What staff could delete to free slots when the policy frees none: archived versions within the
    keep count (giving up a rollback target) and the versions of disabled voices. Oldest first."""
    options = []
    keep = settings.ARCHIVED_VOICES_KEEP
    for versions in archived_versions_by_voice().values():
        for version in versions[:keep]:
            if version.voice.status == Voice.Status.DISABLED:
                continue  # listed below with the disabled voice
            if version_in_use_reason(version) is None:
                options.append(version_summary(version, why="archived, kept for rollback (within the keep count)"))
    disabled = VoiceVersion.objects.filter(
        voice__status=Voice.Status.DISABLED,
        state__in=[VoiceVersion.State.ACTIVE, VoiceVersion.State.ARCHIVED],
        provider_deletion__isnull=True,
    ).select_related("voice", "created_by_run")
    for version in disabled:
        if staff_deletable_reason(version) is None:
            options.append(version_summary(version, why="version of a disabled voice"))
    for run in RetrainRun.objects.filter(
        state=RetrainRun.State.FAILED, new_version__state=VoiceVersion.State.CANDIDATE
    ).select_related("new_version__voice"):
        options.append(version_summary(run.new_version, why=f"candidate of failed run #{run.pk}: cancel the run"))
    options.sort(key=lambda o: (o["archived_at"] or "", o["version_id"]))
    return options


@dataclass
class SlotPlan:
    """Whether a run will find a slot: shown on proposed runs and stored when a run has to wait."""

    voice_limit: int | None
    slots_used: int | None
    provider_error: str = ""
    freeable: list[dict] = field(default_factory=list)
    runs_ahead: list[dict] = field(default_factory=list)
    staff_could_delete: list[dict] = field(default_factory=list)
    position: int | None = None
    needs_slot: bool = True

    @property
    def slots_free(self) -> int | None:
        if self.voice_limit is None or self.slots_used is None:
            return None
        return max(0, self.voice_limit - self.slots_used)

    @property
    def will_find_slot(self) -> bool | None:
        """True when free slots plus policy-freeable voices cover this run and every run ahead of it."""
        if not self.needs_slot:
            return True
        if self.slots_free is None:
            return None
        return self.slots_free + len(self.freeable) > len(self.runs_ahead)

    def summary(self) -> str:
        if not self.needs_slot:
            return "Edit in place: no new provider voice, no slot needed."
        if self.slots_free is None:
            return f"Slots unknown (provider: {self.provider_error})."
        text = (
            f"{self.slots_used}/{self.voice_limit} custom voices used, {self.slots_free} free; "
            f"{len(self.freeable)} archived voice(s) may be freed by policy; {len(self.runs_ahead)} run(s) ahead."
        )
        if self.will_find_slot:
            return text + " It will find a slot."
        options = len(self.staff_could_delete)
        return text + f" It will wait for a slot: staff could delete {options} voice(s) to make room."

    def as_dict(self) -> dict:
        return {
            "voice_limit": self.voice_limit,
            "slots_used": self.slots_used,
            "slots_free": self.slots_free,
            "provider_error": self.provider_error,
            "needs_slot": self.needs_slot,
            "freeable": self.freeable,
            "runs_ahead": self.runs_ahead,
            "position": self.position,
            "staff_could_delete": self.staff_could_delete,
            "will_find_slot": self.will_find_slot,
            "summary": self.summary(),
        }


def slot_plan(*, run: RetrainRun | None = None, quota: provider.Quota | None = None, quota_error: str = "") -> SlotPlan:
    """The slot outlook of `run` (or of a run proposed now when None): reads the provider's quota unless
    given. Runs ahead: recreate runs approved before it (for a proposed run, every one) still seeking a slot."""
    if run is not None and run.strategy == RetrainRun.Strategy.EDIT_IN_PLACE:
        return SlotPlan(voice_limit=None, slots_used=None, needs_slot=False)
    if quota is None and not quota_error:
        quota, quota_error = quota_read()
    ahead = slot_seeking_runs()
    if run is not None and run.pk is not None:
        ahead = ahead.exclude(pk=run.pk)
        if run.approved_at is not None:
            ahead = [r for r in ahead if r.approved_at is not None and (r.approved_at, r.pk) < (run.approved_at, run.pk)]
    return SlotPlan(
        voice_limit=quota.voice_limit if quota else None,
        slots_used=quota.voice_slots_used if quota else None,
        provider_error=quota_error,
        freeable=[foreign_summary(r) for r in deletable_foreign_voices()]
        + [version_summary(v) for v in deletable_archived_versions()],
        runs_ahead=[{"run_id": r.pk, "voice_name": r.voice.name, "state": r.state} for r in ahead],
        staff_could_delete=staff_options(),
        position=_position_if_waiting(run),
    )


def _position_if_waiting(run: RetrainRun | None) -> int | None:
    """The run's place in the slot queue if it waits (now or when it is about to): runs waiting that were
    approved before it, plus one. None for a run not yet approved."""
    if run is None or run.pk is None or run.approved_at is None:
        return None
    ahead = [r for r in waiting_runs_in_order().exclude(pk=run.pk) if (r.approved_at, r.pk) < (run.approved_at, run.pk)]
    return len(ahead) + 1


def slot_holders() -> list[dict]:
    """Every provider voice of this installation that holds a custom-voice slot now (active, candidate
    and archived versions not yet deleted at the provider), grouped by voice, for the quota panel."""
    versions = (
        VoiceVersion.objects.exclude(state=VoiceVersion.State.DELETED)
        .select_related("voice", "voice__owner", "provider_deletion")
        .order_by("voice__name", "voice_id", "number")
    )
    holders = []
    for version in versions:
        deletion = getattr(version, "provider_deletion", None)
        holders.append(version_summary(
            version,
            owner=version.voice.owner.get_username(),
            created_at=version.created_at.isoformat(),
            deletion_pending=deletion is not None and deletion.completed_at is None,
        ))
    return holders


def quota_overview() -> dict:
    """The quota panel (admin) and `GET /api/v1/quota/`: slots, archived voices holding slots oldest first
    (with what the policy says about each), candidates, waiting runs and pending deletions."""
    quota, error = quota_read()
    deletable = {v.pk for v in deletable_archived_versions()}
    archived = []
    for versions in archived_versions_by_voice().values():
        for index, version in enumerate(versions):
            in_use = version_in_use_reason(version)
            archived.append(version_summary(
                version,
                within_keep=index < settings.ARCHIVED_VOICES_KEEP,
                deletable_by_policy=version.pk in deletable,
                in_use=in_use or "",
                staff_may_delete=staff_deletable_reason(version) is None,
            ))
    archived.sort(key=lambda a: (a["archived_at"] or "", a["version_id"]))
    candidates = [
        version_summary(v, run_id=v.created_by_run_id, run_state=v.created_by_run.state if v.created_by_run else None)
        for v in VoiceVersion.objects.filter(state=VoiceVersion.State.CANDIDATE, provider_deletion__isnull=True)
        .select_related("voice", "created_by_run")
        .order_by("created_at")
    ]
    waiting = [
        {"run_id": r.pk, "voice_name": r.voice.name, "position": i, "waiting_since":
            r.waiting_since.isoformat() if r.waiting_since else None, "reason": r.waiting_reason}
        for i, r in enumerate(waiting_runs_in_order(), start=1)
    ]
    pending = [
        {"deletion_id": d.pk, "provider_voice_id": d.provider_voice_id, "reason": d.reason,
         "attempts": d.attempt_count, "last_error": d.last_error, "requested_at": d.requested_at.isoformat()}
        for d in ProviderVoiceDeletion.objects.filter(completed_at__isnull=True).order_by("requested_at")
    ]
    return {
        "voice_limit": quota.voice_limit if quota else None,
        "slots_used": quota.voice_slots_used if quota else None,
        "slots_free": quota.slots_free if quota else None,
        "provider_error": error,
        "keep_per_voice": settings.ARCHIVED_VOICES_KEEP,
        "archived": archived,
        "discarded_candidates": [version_summary(v) for v in discarded_candidate_versions()],
        "candidates": candidates,
        "waiting_runs": waiting,
        "pending_deletions": pending,
        "staff_could_delete": staff_options(),
        "foreign_deletable": [foreign_summary(r) for r in deletable_foreign_voices()],
    }
