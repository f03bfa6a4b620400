"""Which voices may be retrained now, and why not (issue 6, item 1).

A voice is eligible when it is ready, has at least `RETRAIN_MIN_CONVERSATIONS` conversations with a
stored generated clip created inside `RETRAIN_WINDOW_DAYS` (None = no limit), at least
`RETRAIN_MIN_APPROVED_CLIPS` approved, unused, stored generated clips in the same window, and no
proposed or open run. "Unused" is the clip-curation definition (`clones.selectors.clip_is_used_expression`:
part of a *promoted* run), so the selection and eligibility always agree on what is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from clones.models import ClipSample, Voice
from clones.selectors import clip_is_used_expression
from retraining.models import RetrainRun
from voiceclone.background import enqueue_on_commit

_USE_SETTING = object()

# States in which a run already holds the voice's retraining (a proposal counts: one at a time).
BLOCKING_STATES = (RetrainRun.State.PROPOSED, *RetrainRun.OPEN_STATES)


@dataclass(frozen=True)
class Eligibility:
    """Whether one voice may be retrained now, with the counts behind the answer."""

    voice_id: str
    voice_name: str
    is_eligible: bool
    reasons: list[dict] = field(default_factory=list)  # [{"code", "message"}]
    counts: dict = field(default_factory=dict)
    blocking_run_id: int | None = None

    @property
    def reason_codes(self) -> list[str]:
        return [r["code"] for r in self.reasons]

    def as_dict(self) -> dict:
        """JSON-safe; stored as `RetrainRun.eligibility_snapshot` and answered by the API."""
        return {
            "voice_id": self.voice_id,
            "voice_name": self.voice_name,
            "is_eligible": self.is_eligible,
            "reasons": list(self.reasons),
            "counts": dict(self.counts),
            "blocking_run_id": self.blocking_run_id,
        }


def eligibility_window(*, window_days=_USE_SETTING, now: datetime | None = None) -> tuple[int | None, datetime | None]:
    """(window_days, since) for the given or configured window; `since` is None without a limit."""
    now = now or timezone.now()
    if window_days is _USE_SETTING:
        window_days = settings.RETRAIN_WINDOW_DAYS
    window_days = window_days or None  # 0 and None both mean "no limit"
    return window_days, (now - timedelta(days=window_days) if window_days else None)


def _stored_generated(since):
    qs = (
        ClipSample.objects.filter(voice=OuterRef("pk"), source=ClipSample.Source.GENERATED)
        .exclude(file="")
        .exclude(sha256="")
    )
    return qs.filter(created_at__gte=since) if since is not None else qs


def voices_with_eligibility_counts(voices: QuerySet[Voice], *, since) -> QuerySet[Voice]:
    """Annotate `conversations_with_clips`, `approved_unused_clips` and `blocking_run_id` (one query)."""
    conversations = (
        _stored_generated(since)
        .filter(message__isnull=False)
        .order_by()
        .values("voice")
        .annotate(n=Count("message__conversation", distinct=True))
        .values("n")
    )
    approved_unused = (
        _stored_generated(since)
        .filter(review_status=ClipSample.ReviewStatus.APPROVED)
        .filter(~clip_is_used_expression())
        .order_by()
        .values("voice")
        .annotate(n=Count("pk"))
        .values("n")
    )
    blocking = (
        RetrainRun.objects.filter(voice=OuterRef("pk"), state__in=BLOCKING_STATES).order_by("-pk").values("pk")[:1]
    )
    return voices.annotate(
        conversations_with_clips=Coalesce(Subquery(conversations, output_field=IntegerField()), 0),
        approved_unused_clips=Coalesce(Subquery(approved_unused, output_field=IntegerField()), 0),
        blocking_run_id=Subquery(blocking, output_field=IntegerField()),
    )


def _judge(voice: Voice, *, window_days, since) -> Eligibility:
    min_conversations = settings.RETRAIN_MIN_CONVERSATIONS
    min_clips = settings.RETRAIN_MIN_APPROVED_CLIPS
    counts = {
        "conversations_with_clips": voice.conversations_with_clips,
        "min_conversations": min_conversations,
        "approved_unused_clips": voice.approved_unused_clips,
        "min_approved_clips": min_clips,
        "window_days": window_days,
        "since": since.isoformat() if since else None,
    }
    window = f"in the last {window_days} days" if window_days else "in all time"
    reasons = []
    if voice.status != Voice.Status.READY or voice.current_version_id is None:
        reasons.append({"code": "voice_not_ready", "message": f"The voice is {voice.status}, not ready."})
    if voice.conversations_with_clips < min_conversations:
        reasons.append({
            "code": "too_few_conversations",
            "message": f"{voice.conversations_with_clips} conversation(s) with stored replies {window}; "
                       f"{min_conversations} needed.",
        })
    if voice.approved_unused_clips < min_clips:
        reasons.append({
            "code": "too_few_approved_clips",
            "message": f"{voice.approved_unused_clips} approved, unused clip(s) {window}; {min_clips} needed.",
        })
    if voice.blocking_run_id is not None:
        reasons.append({
            "code": "run_in_progress",
            "message": f"Retrain run #{voice.blocking_run_id} is already proposed or in progress.",
        })
    return Eligibility(
        voice_id=str(voice.pk),
        voice_name=voice.name,
        is_eligible=not reasons,
        reasons=reasons,
        counts=counts,
        blocking_run_id=voice.blocking_run_id,
    )


def voice_eligibility(*, voice: Voice, window_days=_USE_SETTING, now: datetime | None = None) -> Eligibility:
    """Whether `voice` may be retrained now (a read; writes nothing). window_days omitted = the setting."""
    window_days, since = eligibility_window(window_days=window_days, now=now)
    annotated = voices_with_eligibility_counts(Voice.objects.filter(pk=voice.pk), since=since).get()
    return _judge(annotated, window_days=window_days, since=since)


def voices_eligibility(
    *, voices: QuerySet[Voice] | None = None, window_days=_USE_SETTING, now: datetime | None = None
) -> list[Eligibility]:
    """Eligibility of many voices in one query (default: every voice that is not disabled), by name."""
    window_days, since = eligibility_window(window_days=window_days, now=now)
    if voices is None:
        voices = Voice.objects.exclude(status=Voice.Status.DISABLED)
    annotated = voices_with_eligibility_counts(voices.order_by("name", "pk"), since=since)
    return [_judge(v, window_days=window_days, since=since) for v in annotated]


@dataclass
class ScanResult:
    proposed_run_ids: list[int] = field(default_factory=list)
    # reason code -> number of voices held back by it
    ineligible: dict[str, int] = field(default_factory=dict)
    voices_checked: int = 0

    def as_dict(self) -> dict:
        return {
            "proposed_run_ids": self.proposed_run_ids,
            "ineligible": dict(self.ineligible),
            "voices_checked": self.voices_checked,
        }


def retrain_scan_enqueue() -> None:
    """Run `retrain_scan` in the background after the current transaction (admin button, API)."""
    enqueue_on_commit("retraining.tasks.retrain_scan")


def retrain_scan(*, now: datetime | None = None) -> ScanResult:
    """Propose a run for every eligible ready voice (the daily schedule, the command and the admin button).

    Idempotent: a voice with a proposed or open run is not eligible, and the database allows one
    proposal per voice, so two scans at once propose once. With RETRAIN_AUTO_APPROVE the proposals are
    approved (and their run tasks enqueued) at once.
    """
    from .runs import retrain_run_propose
    from voiceclone.errors import NotEligible

    result = ScanResult()
    for eligibility in voices_eligibility(voices=Voice.objects.filter(status=Voice.Status.READY), now=now):
        result.voices_checked += 1
        if not eligibility.is_eligible:
            for code in eligibility.reason_codes:
                result.ineligible[code] = result.ineligible.get(code, 0) + 1
            continue
        voice = Voice.objects.get(pk=eligibility.voice_id)
        try:
            run = retrain_run_propose(voice=voice, proposed_by=None, now=now)
        except NotEligible as exc:
            for reason in exc.extra.get("reasons", []):
                result.ineligible[reason["code"]] = result.ineligible.get(reason["code"], 0) + 1
            continue
        result.proposed_run_ids.append(run.pk)
    return result
