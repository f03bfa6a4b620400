"""Which voices may be retrained now, and why not (issue 6 item 1, issue 14 item 1).

"Eligible" means exactly "a proposal made now would succeed": the check runs the same selection the
proposal freezes, as a dry run, and `retrain_run_propose` refuses with the same reasons. Every reason
says what blocks and what to do, in a sentence staff can act on.

For the default `recreate` strategy (and `edit_in_place`) a voice is eligible when:

- retraining is switched on (`RETRAIN_ENABLED`);
- it is ready and has no proposed or open run;
- at least `RETRAIN_MIN_CONVERSATIONS` conversations hold a stored generated clip created inside
  `RETRAIN_WINDOW_DAYS` (None = no limit), and at least `RETRAIN_MIN_APPROVED_CLIPS` approved, unused,
  stored generated clips lie in the same window ("unused" is the clip-curation definition,
  `clones.selectors.clip_is_used_expression`: part of a *promoted* run);
- it has at least one original recording that is not retired (no generated speech is selected without
  human audio to anchor it; see `clones.services.selection` rule 3);
- and the selection's dry run picks at least one generated clip.

For `originals_only` (re-clone from the speaker's own recordings) only the first two and the originals
matter: no conversation and no generated clip is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, FloatField, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from clones.models import ClipSample, Voice
from clones.selectors import clip_is_used_expression
from clones.services.selection import (
    Selection,
    SelectionLimits,
    generated_capacity_s,
    originals_needed_s,
    select_clips_for_retrain,
)
from retraining.models import RetrainRun
from voiceclone.background import enqueue_on_commit
from voiceclone.errors import InvalidState

_USE_SETTING = object()

Strategy = RetrainRun.Strategy

# States in which a run already holds the voice's retraining (a proposal counts: one at a time).
BLOCKING_STATES = (RetrainRun.State.PROPOSED, *RetrainRun.OPEN_STATES)

# Short labels of the reason codes, for summaries ("4 voices: too few approved clips").
REASON_LABELS = {
    "retraining_disabled": "retraining is switched off",
    "voice_not_ready": "voice not ready",
    "run_in_progress": "a run is already proposed or in progress",
    "too_few_conversations": "too few conversations",
    "too_few_approved_clips": "too few approved clips",
    "no_originals": "no original recordings",
    "originals_too_short": "too little original audio",
    "awaiting_analysis": "clips still being analysed",
    "nothing_selected": "no clip passes the selection rules",
    "edit_in_place_disabled": "edit in place is switched off",
}

# Selection exclusions in words, for the "nothing selected" sentence.
EXCLUSION_WORDS = {
    "not_analysed": "not analysed yet",
    "too_short": "too short",
    "too_deep_lineage": "too many generations away from the speaker",
    "quality_flagged": "flagged by the quality check",
    "over_provider_limits": "over the provider's upload limits",
    "near_duplicate": "near-duplicates of a better clip",
    "over_conversation_cap": "over their conversation's share",
    "over_generated_share": "over the generated-speech share",
    "over_budget": "over the duration budget",
}


class RetrainingDisabled(InvalidState):
    """RETRAIN_ENABLED is off: no proposal, approval or retry (409)."""

    default_code = "retraining_disabled"


DISABLED_MESSAGE = (
    "Retraining is switched off (RETRAIN_ENABLED=false): no run is proposed or started. Set "
    "RETRAIN_ENABLED=true and restart to turn it back on."
)


def retraining_enabled_check() -> None:
    """Raise RetrainingDisabled when RETRAIN_ENABLED is off."""
    if not settings.RETRAIN_ENABLED:
        raise RetrainingDisabled(DISABLED_MESSAGE)


def exclusion_words(code: str) -> str:
    """A selection exclusion reason in words ("over their conversation's share")."""
    words = {**EXCLUSION_WORDS, "rejected": "rejected", "pending": "waiting for review",
             "already_used": "already used by a promoted run", "outside_window": "older than the window"}
    return words.get(code, code.replace("_", " "))


def reason_label(code: str) -> str:
    return REASON_LABELS.get(code, code.replace("_", " "))


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


@dataclass(frozen=True)
class Eligibility:
    """Whether one voice may be retrained now with `strategy`, with the counts behind the answer.

    `selection` is the dry run (None when an earlier check already failed); `retrain_run_propose`
    freezes exactly this selection.
    """

    voice_id: str
    voice_name: str
    is_eligible: bool
    reasons: list[dict] = field(default_factory=list)  # [{"code", "message"}]
    counts: dict = field(default_factory=dict)
    blocking_run_id: int | None = None
    strategy: str = Strategy.RECREATE
    selection: Selection | None = field(default=None, compare=False, repr=False)

    @property
    def reason_codes(self) -> list[str]:
        return [r["code"] for r in self.reasons]

    def as_dict(self) -> dict:
        """JSON-safe; stored as `RetrainRun.eligibility_snapshot` and answered by the API."""
        return {
            "voice_id": self.voice_id,
            "voice_name": self.voice_name,
            "strategy": self.strategy,
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


def _counted_per_voice(clips: QuerySet[ClipSample]):
    """How many of `clips` each voice has, as a subquery's one value per voice."""
    return clips.order_by().values("voice").annotate(n=Count("pk")).values("n")


def voices_with_eligibility_counts(voices: QuerySet[Voice], *, since) -> QuerySet[Voice]:
    """Annotate `conversations_with_clips`, `approved_unused_clips`, `pending_review_clips`, `rejected_clips`,
    `active_originals`, `active_originals_s` and `blocking_run_id` (one query)."""
    generated = _stored_generated(since)
    conversations = (
        generated.filter(message__isnull=False)
        .order_by()
        .values("voice")
        .annotate(n=Count("message__conversation", distinct=True))
        .values("n")
    )
    approved_unused = _counted_per_voice(
        generated.filter(review_status=ClipSample.ReviewStatus.APPROVED).filter(~clip_is_used_expression())
    )
    pending_review = _counted_per_voice(generated.filter(review_status=ClipSample.ReviewStatus.PENDING))
    rejected = _counted_per_voice(generated.filter(review_status=ClipSample.ReviewStatus.REJECTED))
    originals = (
        ClipSample.objects.filter(voice=OuterRef("pk"), source=ClipSample.Source.ORIGINAL, retired_at__isnull=True)
        .exclude(file="")
        .exclude(sha256="")
        .order_by()
        .values("voice")
    )
    blocking = (
        RetrainRun.objects.filter(voice=OuterRef("pk"), state__in=BLOCKING_STATES).order_by("-pk").values("pk")[:1]
    )
    return voices.annotate(
        conversations_with_clips=Coalesce(Subquery(conversations, output_field=IntegerField()), 0),
        approved_unused_clips=Coalesce(Subquery(approved_unused, output_field=IntegerField()), 0),
        pending_review_clips=Coalesce(Subquery(pending_review, output_field=IntegerField()), 0),
        rejected_clips=Coalesce(Subquery(rejected, output_field=IntegerField()), 0),
        active_originals=Coalesce(
            Subquery(originals.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), 0
        ),
        active_originals_s=Coalesce(
            Subquery(originals.annotate(s=Sum("duration_s")).values("s"), output_field=FloatField()), 0.0
        ),
        blocking_run_id=Subquery(blocking, output_field=IntegerField()),
    )


def _reason(code: str, message: str) -> dict:
    return {"code": code, "message": message}


def _common_reasons(voice: Voice) -> list[dict]:
    reasons = []
    if not settings.RETRAIN_ENABLED:
        reasons.append(_reason("retraining_disabled", DISABLED_MESSAGE))
    if voice.status != Voice.Status.READY or voice.current_version_id is None:
        reasons.append(_reason(
            "voice_not_ready",
            f"The voice is {voice.get_status_display().lower()}, not ready: only a ready voice can be retrained.",
        ))
    if voice.blocking_run_id is not None:
        reasons.append(_reason(
            "run_in_progress",
            f"Retrain run #{voice.blocking_run_id} is already proposed or in progress: finish, reject or "
            "cancel it first.",
        ))
    return reasons


def _no_originals_reason(voice: Voice, *, strategy: str) -> dict:
    retired = ClipSample.objects.filter(
        voice=voice, source=ClipSample.Source.ORIGINAL, retired_at__isnull=False
    ).count()
    also = f" ({_plural(retired, 'original')} retired)" if retired else ""
    if strategy == Strategy.ORIGINALS_ONLY:
        return _reason("no_originals", f"The voice has no original recordings to re-clone from{also}: add "
                                       "consented recordings of the speaker.")
    return _reason(
        "no_originals",
        f"The voice has no original recordings{also}: add consented recordings of the speaker. A retrain "
        "never learns from the clone's own speech alone.",
    )


def _count_reasons(voice: Voice, *, window_days) -> list[dict]:
    window = f"in the last {window_days} days" if window_days else "so far"
    reasons = []
    min_conversations = settings.RETRAIN_MIN_CONVERSATIONS
    if voice.conversations_with_clips < min_conversations:
        missing = min_conversations - voice.conversations_with_clips
        reasons.append(_reason(
            "too_few_conversations",
            f"Needs {_plural(missing, 'more conversation')} with spoken replies: "
            f"{voice.conversations_with_clips} of {min_conversations} {window}.",
        ))
    min_clips = settings.RETRAIN_MIN_APPROVED_CLIPS
    if voice.approved_unused_clips < min_clips:
        missing = min_clips - voice.approved_unused_clips
        message = (f"Approve {_plural(missing, 'more clip')} in the review queue: {voice.approved_unused_clips} of "
                   f"{min_clips} approved and unused {window}.")
        pending = voice.pending_review_clips
        if pending < missing:
            # Approving cannot close the gap: say so, and what can (new replies, or a second look at rejections).
            waiting = ("No clip waits for review" if pending == 0
                       else f"Only {_plural(pending, 'clip waits', 'clips wait')} for review")
            rejected = f" ({voice.rejected_clips} rejected)" if voice.rejected_clips else ""
            message += (f" {waiting}{rejected}: {_plural(missing - pending, 'more spoken reply', 'more spoken replies')}"
                        " must come from conversations with the voice first"
                        + (", or staff may review rejected clips again." if voice.rejected_clips else "."))
        reasons.append(_reason("too_few_approved_clips", message))
    return reasons


def _selection_reasons(selection: Selection, limits: SelectionLimits) -> list[dict]:
    """Why a dry run that picked no generated clip picked none, and what to do."""
    excluded = selection.excluded
    originals_s = selection.originals_duration_s
    if selection.generated_capacity_s + 1e-9 < limits.min_clip_s:
        needed = originals_needed_s(for_generated_s=limits.min_clip_s, limits=limits) - originals_s
        return [_reason(
            "originals_too_short",
            f"Only {originals_s:.1f} s of original recordings: generated speech may be at most "
            f"{limits.generated_share_max:.0%} of a run, which leaves room for no clip. Add at least "
            f"{max(needed, 0.1):.1f} s of consented recordings of the speaker.",
        )]
    blocking = {k: v for k, v in excluded.items() if v and k in EXCLUSION_WORDS}
    if blocking and set(blocking) == {"not_analysed"}:
        return [_reason(
            "awaiting_analysis",
            f"Wait for analysis: {_plural(blocking['not_analysed'], 'approved clip has', 'approved clips have')} "
            "not been analysed yet (usually within a minute), then check again.",
        )]
    parts = [f"{n} {EXCLUSION_WORDS[k]}" for k, n in blocking.items()]
    detail = f" ({', '.join(parts)})" if parts else ""
    return [_reason(
        "nothing_selected",
        f"No approved clip passes the selection rules{detail}: approve more clips in the review queue.",
    )]


def _judge(voice: Voice, *, strategy: str, window_days, since, now, limits: SelectionLimits) -> Eligibility:
    counts = {
        "conversations_with_clips": voice.conversations_with_clips,
        "min_conversations": settings.RETRAIN_MIN_CONVERSATIONS,
        "approved_unused_clips": voice.approved_unused_clips,
        "min_approved_clips": settings.RETRAIN_MIN_APPROVED_CLIPS,
        "pending_review_clips": voice.pending_review_clips,
        "rejected_clips": voice.rejected_clips,
        "originals": voice.active_originals,
        "originals_s": round(voice.active_originals_s or 0.0, 2),
        "generated_capacity_s": generated_capacity_s(originals_s=voice.active_originals_s or 0.0, limits=limits),
        "window_days": window_days,
        "since": since.isoformat() if since else None,
    }
    reasons = _common_reasons(voice)
    if strategy == Strategy.EDIT_IN_PLACE and not settings.RETRAIN_ALLOW_EDIT_IN_PLACE:
        reasons.append(_reason("edit_in_place_disabled",
                               "Edit in place is switched off (RETRAIN_ALLOW_EDIT_IN_PLACE=false)."))
    if strategy != Strategy.ORIGINALS_ONLY:
        reasons += _count_reasons(voice, window_days=window_days)
    if voice.active_originals == 0:
        reasons.append(_no_originals_reason(voice, strategy=strategy))

    selection = None
    if not reasons:
        # The dry run: the very selection a proposal made now would freeze.
        selection = select_clips_for_retrain(
            voice=voice, window_days=window_days, now=now, limits=limits,
            originals_only=strategy == Strategy.ORIGINALS_ONLY,
        )
        counts["selection"] = {
            "originals": len(selection.originals),
            "generated": len(selection.generated),
            "duration_s": round(selection.total_duration_s, 2),
            "generated_share": round(selection.generated_share, 4),
        }
        if not selection.originals:
            reasons.append(_no_originals_reason(voice, strategy=strategy))
        elif strategy != Strategy.ORIGINALS_ONLY and not selection.generated:
            reasons += _selection_reasons(selection, limits)
            counts["excluded"] = {k: v for k, v in selection.excluded.items() if v}
    return Eligibility(
        voice_id=str(voice.pk),
        voice_name=voice.name,
        is_eligible=not reasons,
        reasons=reasons,
        counts=counts,
        blocking_run_id=voice.blocking_run_id,
        strategy=strategy,
        selection=selection,
    )


def voice_eligibility(
    *, voice: Voice, strategy: str = Strategy.RECREATE, window_days=_USE_SETTING, now: datetime | None = None
) -> Eligibility:
    """Whether a `strategy` run of `voice` proposed now would succeed (a read; writes nothing).

    Runs the selection as a dry run when every cheaper check passes; window_days omitted = the setting.
    """
    now = now or timezone.now()
    window_days, since = eligibility_window(window_days=window_days, now=now)
    annotated = voices_with_eligibility_counts(Voice.objects.filter(pk=voice.pk), since=since).get()
    return _judge(annotated, strategy=strategy, window_days=window_days, since=since, now=now,
                  limits=SelectionLimits.from_settings())


def voices_eligibility(
    *, voices: QuerySet[Voice] | None = None, strategy: str = Strategy.RECREATE, window_days=_USE_SETTING,
    now: datetime | None = None,
) -> list[Eligibility]:
    """Eligibility of many voices (default: every voice that is not disabled), by name: one query for the
    counts, then the selection's dry run for each voice that passes them."""
    now = now or timezone.now()
    window_days, since = eligibility_window(window_days=window_days, now=now)
    if voices is None:
        voices = Voice.objects.exclude(status=Voice.Status.DISABLED)
    annotated = voices_with_eligibility_counts(voices.order_by("name", "pk"), since=since)
    limits = SelectionLimits.from_settings()
    return [_judge(v, strategy=strategy, window_days=window_days, since=since, now=now, limits=limits)
            for v in annotated]


def reasons_summary(rows: list[Eligibility]) -> list[tuple[str, int, str]]:
    """(code, voices held back by it, label) for a list of eligibilities, most frequent first."""
    counts: dict[str, int] = {}
    for row in rows:
        for code in row.reason_codes:
            counts[code] = counts.get(code, 0) + 1
    return [(code, n, reason_label(code)) for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


@dataclass
class ScanResult:
    proposed_run_ids: list[int] = field(default_factory=list)
    # reason code -> number of voices held back by it
    ineligible: dict[str, int] = field(default_factory=dict)
    voices_checked: int = 0
    is_disabled: bool = False

    def as_dict(self) -> dict:
        return {
            "proposed_run_ids": self.proposed_run_ids,
            "ineligible": dict(self.ineligible),
            "voices_checked": self.voices_checked,
            "is_disabled": self.is_disabled,
        }


def retrain_scan_enqueue() -> None:
    """Run `retrain_scan` in the background after the current transaction (admin button, API).
    Raises RetrainingDisabled when RETRAIN_ENABLED is off."""
    retraining_enabled_check()
    enqueue_on_commit("retraining.tasks.retrain_scan")


def retrain_scan(*, now: datetime | None = None) -> ScanResult:
    """Propose a `recreate` run for every eligible ready voice (the schedule, the command, the admin button).

    Does nothing when RETRAIN_ENABLED is off (`is_disabled`). Idempotent: a voice with a proposed or open
    run is not eligible, and the database allows one proposal per voice, so two scans at once propose
    once. With RETRAIN_AUTO_APPROVE the proposals are approved (and their run tasks enqueued) at once.
    """
    from voiceclone.errors import NotEligible

    from .runs import retrain_run_propose

    result = ScanResult()
    if not settings.RETRAIN_ENABLED:
        result.is_disabled = True
        return result
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
