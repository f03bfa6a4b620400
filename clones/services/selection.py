"""Which clips a retrain uploads: chosen the way a dataset curator would (issue 5 item 6, issue 14 item 1).

A clone retrained on its own synthetic speech drifts and flattens, and instant cloning gains little
from more than a few minutes of audio (ElevenLabs: 1–2 minutes of clean audio; over 3 minutes adds
little, elevenlabs-api.md §3). The rules, in the order they apply (each is a per-clip filter, a
ranking, or a cap on a running total, so the whole selection can be expressed in SQL with window
functions over the ranked candidates):

1. **Originals.** Every consented original of the voice that is not retired, oldest first, within the
   provider's file-count and byte limits, at most VOICE_MAX_SAMPLES (`provider_originals_choose`: the same rule
   picks the originals of a voice's first clone). Originals are human speech: they are never ranked out.
2. **Generated pool** (per-clip filters): approved, stored, not used by a promoted run, created inside
   the window; analysed; at least `RETRAIN_CLIP_MIN_S` long; lineage depth at most
   `RETRAIN_MAX_LINEAGE_DEPTH`; no excluded quality flag; its training copy within the per-file byte
   limit. Of a long reply only the first `RETRAIN_CLIP_MAX_USE_S` seconds count (TTS degrades towards
   the end; the training copy cuts the tail at a pause, see `clones.services.training_copy`). A clip of
   unknown lineage (imported from a previous installation) is in the pool only once staff approved it,
   and ranks as one generation deeper.
3. **Capacity for generated speech** = min(budget room, share room):
   - budget room = `RETRAIN_SELECTION_BUDGET_S` − originals;
   - share room = s / (1 − s) × originals, with s = `RETRAIN_GENERATED_SHARE_MAX` (default 0.3 → 0.43 × the
     originals), so generated speech is at most s of the selected total. **No originals, no
     generated speech**: a retrain never learns from the clone's own speech alone.
   The capacity is *filled*, not starved: when the next clip is longer than the room left, it is cut to
   the room (its training copy keeps the first seconds, cut at a pause), provided the cut keeps at least
   `RETRAIN_CLIP_MIN_S`. So a voice with little original audio gets a small run rather than none
   (at s = 0.6, 8 s of originals → 12 s of generated speech, whatever the replies' length).
4. **Per-conversation cap**: one conversation supplies at most
   `RETRAIN_MAX_CLIPS_PER_CONVERSATION_SHARE` × the planned total (originals + capacity), except that a
   conversation's first selected clip is always admitted: the cap limits how much of the run one
   conversation dominates, it must never starve a voice whose conversations each hold one short reply.
5. **Provider limits**: file count and total bytes (`PROVIDER_IVC_*`).
6. **Ranking** (greedy maximal-marginal-relevance): each next clip is the one with the best quality
   merit plus novelty against what is already selected (pitch register and range, loudness, speaking
   rate, sentence type) minus the similarity of its text to selected texts. A text too similar to one
   already selected is a near-duplicate and skipped. Novelty is measured among the generated clips;
   against the originals, a median pitch more than 3 semitones away is penalised instead (that is the
   clone drifting from the speaker, not range).

Every generated clip that is not selected is counted under exactly one reason (`Selection.excluded`);
originals left out are counted in `Selection.excluded_originals`. `originals_only=True` selects the
originals alone (the re-clone strategy) and ignores the generated pool. The result depends only on the
data, the limits and `now`: ties are broken by clip id.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Case, CharField, Count, F, FloatField, OuterRef, Q, Subquery, Value, When, Window
from django.db.models.functions import Ceil, Greatest, Least, RowNumber
from django.utils import timezone

from clones.merit import IDEAL_MAX_S, IDEAL_MIN_S, LINEAGE_PENALTY_PER_LEVEL  # noqa: F401 (re-exported)
from clones.merit import index_ranks_by_merit, merit_expression
from clones.merit import merit as _merit
from clones.models import ClipSample, Voice

# Exclusion reasons, in the order they are decided (a clip is counted under the first that applies).
EXCLUSION_REASONS = (
    "rejected",
    "pending",
    "already_used",
    "outside_window",
    "not_analysed",
    "too_short",
    "too_deep_lineage",
    "quality_flagged",
    "over_provider_limits",
    "near_duplicate",
    "over_conversation_cap",
    "over_generated_share",
    "over_budget",
)

# Ranking weights. Merit (quality and a duration sweet spot) is 0…1; the diversity terms only reorder
# clips of similar merit, they never lift a poor clip over a clearly better one.
NOVELTY_WEIGHT = 0.15
SENTENCE_TYPE_WEIGHT = 0.05
TEXT_SIMILARITY_WEIGHT = 0.2
# Merit (quality × length sweet spot − lineage penalty) and its SQL form live in clones.merit, shared with
# the ranking index; re-exported here.
# Median pitch within this many semitones of the originals' is the voice's own range; beyond, a penalty.
DRIFT_FREE_ST = 3.0
DRIFT_PENALTY_PER_ST = 0.05
DRIFT_PENALTY_MAX = 0.3
# Feature scales: a difference of this much counts as one unit of novelty.
FEATURE_SCALES = {"pitch_st": 2.0, "pitch_range_st": 2.0, "loudness_lufs": 3.0, "speaking_rate_cps": 2.5}
# The picker is given the best CANDIDATES_PER_PICK × (the most clips it can pick) candidates by merit, at
# least MIN_CANDIDATES and at most settings.RETRAIN_SELECTION_MAX_CANDIDATES (see candidates_to_read);
# the rest (lower merit) are over budget and never read from the database.
CANDIDATES_PER_PICK = 10
MIN_CANDIDATES = 100
# MP3 at 128 kbps: the least a training copy is estimated to take per second (see estimate_upload_bytes).
ESTIMATED_BYTES_PER_S = 16_000

_USE_SETTING = object()


@dataclass(frozen=True)
class SelectionLimits:
    budget_s: float
    generated_share_max: float
    max_lineage_depth: int
    max_conversation_share: float
    min_clip_s: float
    max_use_s: float
    near_duplicate_similarity: float
    excluded_flags: frozenset[str]
    max_files: int
    max_file_bytes: int
    max_total_bytes: int

    @classmethod
    def from_settings(cls, **overrides) -> SelectionLimits:
        limits = cls(
            budget_s=settings.RETRAIN_SELECTION_BUDGET_S,
            generated_share_max=settings.RETRAIN_GENERATED_SHARE_MAX,
            max_lineage_depth=settings.RETRAIN_MAX_LINEAGE_DEPTH,
            max_conversation_share=settings.RETRAIN_MAX_CLIPS_PER_CONVERSATION_SHARE,
            min_clip_s=settings.RETRAIN_CLIP_MIN_S,
            max_use_s=settings.RETRAIN_CLIP_MAX_USE_S,
            near_duplicate_similarity=settings.RETRAIN_NEAR_DUPLICATE_SIMILARITY,
            excluded_flags=frozenset(settings.RETRAIN_EXCLUDED_QUALITY_FLAGS),
            max_files=settings.PROVIDER_IVC_MAX_FILES,
            max_file_bytes=settings.PROVIDER_IVC_MAX_FILE_BYTES,
            max_total_bytes=settings.PROVIDER_IVC_MAX_TOTAL_BYTES,
        )
        return replace(limits, **overrides) if overrides else limits

    def as_dict(self) -> dict:
        data = asdict(self)
        data["excluded_flags"] = sorted(self.excluded_flags)
        return data


@dataclass(frozen=True)
class SelectedClip:
    clip_id: int
    source: str
    duration_s: float
    # Seconds that go into the training copy: a long reply is cut to `max_use_s` (its tail is degraded).
    use_s: float
    size_bytes: int
    estimated_bytes: int
    quality_score: float | None
    lineage_depth: int
    conversation_id: str | None
    text: str
    # The pick score (merit + diversity) when this clip was chosen; None for originals.
    rank_score: float | None = None

    @property
    def is_tail_cut(self) -> bool:
        return self.use_s < self.duration_s - 1e-6

    def as_dict(self) -> dict:
        data = asdict(self)
        data["text"] = self.text[:200]
        data["is_tail_cut"] = self.is_tail_cut
        return data


@dataclass(frozen=True)
class Selection:
    voice_id: str
    computed_at: datetime
    window_days: int | None
    since: datetime | None
    limits: SelectionLimits
    originals: list[SelectedClip]
    # Best first: the order of the greedy pick.
    generated: list[SelectedClip]
    # The reasons decided while picking (the picker's caps, near-duplicates, over budget) as counts;
    # `excluded` adds the per-clip reasons counted in SQL.
    picked_excluded: dict[str, int]
    # For the reasons decided after loading the best candidates (the picker's caps, near-duplicates):
    # which clips. The per-clip rules are counted in SQL and their clips are not listed.
    excluded_ids: dict[str, list[int]] = field(default_factory=dict)
    # Originals left out: "retired", "over_provider_limits".
    excluded_originals: dict[str, int] = field(default_factory=dict)
    originals_only: bool = False
    # Seconds of generated speech the caps allowed (rule 3); 0 without originals.
    generated_capacity_s: float = 0.0
    # Counts the generated pool per per-clip reason (one query over the voice's whole pool): run when
    # `excluded` is first read, not by the selection itself (see `excluded`).
    pool_counts: object = field(default=None, compare=False, repr=False)

    @property
    def excluded(self) -> dict[str, int]:
        """Every reason in EXCLUSION_REASONS with its count of generated clips (0 where none applied): each
        generated clip not selected is counted under exactly one reason.

        The per-clip reasons (rejected, pending, used, outside the window, the analysis rules) and the
        candidates never read (over budget) are counted by one aggregate over the voice's whole pool: at
        100,000 candidates that scan is most of a selection's time, and the picks do not depend on it, so
        it runs the first time this is read (the retrain report, the admin's selection page, an
        eligibility verdict that names why nothing was picked) and never for a caller that only wants the
        picks (the review queue). The counts are of the data when first read."""
        cached = self.__dict__.get("_excluded")
        if cached is None:
            cached = dict(self.picked_excluded)
            if self.pool_counts is not None:
                for reason, n in self.pool_counts().items():
                    cached[reason] += n
            object.__setattr__(self, "_excluded", cached)
        return cached

    @property
    def clips(self) -> list[SelectedClip]:
        return [*self.originals, *self.generated]

    @property
    def clip_ids(self) -> list[int]:
        return [c.clip_id for c in self.clips]

    @property
    def originals_duration_s(self) -> float:
        return sum(c.use_s for c in self.originals)

    @property
    def generated_duration_s(self) -> float:
        return sum(c.use_s for c in self.generated)

    @property
    def total_duration_s(self) -> float:
        return self.originals_duration_s + self.generated_duration_s

    @property
    def generated_share(self) -> float:
        total = self.total_duration_s
        return self.generated_duration_s / total if total else 0.0

    @property
    def total_bytes(self) -> int:
        return sum(c.estimated_bytes for c in self.clips)

    @property
    def file_count(self) -> int:
        return len(self.originals) + len(self.generated)

    @property
    def conversation_durations(self) -> dict[str, float]:
        durations: dict[str, float] = {}
        for clip in self.generated:
            if clip.conversation_id is not None:
                durations[clip.conversation_id] = durations.get(clip.conversation_id, 0.0) + clip.use_s
        return durations

    def as_report(self) -> dict:
        """JSON-safe summary, e.g. for `RetrainRun.selection_report`."""
        return {
            "voice_id": self.voice_id,
            "computed_at": self.computed_at.isoformat(),
            "window_days": self.window_days,
            "since": self.since.isoformat() if self.since else None,
            "limits": self.limits.as_dict(),
            "totals": {
                "duration_s": round(self.total_duration_s, 2),
                "originals_duration_s": round(self.originals_duration_s, 2),
                "generated_duration_s": round(self.generated_duration_s, 2),
                "generated_share": round(self.generated_share, 4),
                "estimated_bytes": self.total_bytes,
                "files": self.file_count,
                "originals": len(self.originals),
                "generated": len(self.generated),
            },
            "originals": [c.as_dict() for c in self.originals],
            "generated": [c.as_dict() for c in self.generated],
            "excluded": dict(self.excluded),
            "excluded_originals": dict(self.excluded_originals),
            "originals_only": self.originals_only,
            "generated_capacity_s": round(self.generated_capacity_s, 2),
            "conversations": {k: round(v, 2) for k, v in sorted(self.conversation_durations.items())},
        }


def select_clips_for_retrain(
    *,
    voice: Voice,
    window_days=_USE_SETTING,
    now: datetime | None = None,
    limits: SelectionLimits | None = None,
    include_pending: bool = False,
    originals_only: bool = False,
) -> Selection:
    """The clips a retrain of `voice` would upload now (see the module docstring for the rules).

    window_days: only generated clips created in the last N days; None = no limit; omitted =
    `settings.RETRAIN_WINDOW_DAYS`. limits: `SelectionLimits.from_settings()` when omitted.
    include_pending: rank pending clips as if approved (the review queue uses this to find the clips
    whose review matters most); a retrain never passes it. originals_only: the originals alone (the
    `originals_only` re-clone strategy); the generated pool is not read.

    A read: it writes nothing. Three queries whatever the pool's size: the originals, the ids of the best
    candidates (`candidates_to_read`) ranked in SQL with the per-clip rules (`_Pool`, an index-only scan
    of the merit-ordered index), and their rows; reading `Selection.excluded` runs a fourth, the
    per-reason counts over the whole pool.
    Deterministic.
    """
    return select_clips_for_voices(voices=[voice], window_days=window_days, now=now, limits=limits,
                                   include_pending=include_pending, originals_only=originals_only)[0]


def select_clips_for_voices(
    *,
    voices: list[Voice],
    window_days=_USE_SETTING,
    now: datetime | None = None,
    limits: SelectionLimits | None = None,
    include_pending: bool = False,
    originals_only: bool = False,
) -> list[Selection]:
    """`select_clips_for_retrain` for several voices, in their order, with the same result for each, in
    three queries however many voices: their originals, their best candidates' ids (one ranked, limited
    read per voice, in one UNION ALL), those candidates' rows. The review queue uses it."""
    now = now or timezone.now()
    limits = limits or SelectionLimits.from_settings()
    if window_days is _USE_SETTING:
        window_days = settings.RETRAIN_WINDOW_DAYS
    since = now - timedelta(days=window_days) if window_days else None

    chosen_originals = _selected_originals_of(voices=voices, limits=limits)
    pools, reads = [], []
    if not originals_only:
        for voice in voices:
            originals = chosen_originals[voice.pk][0]
            capacity_s = generated_capacity_s(originals_s=sum(o["clip"].use_s for o in originals), limits=limits)
            pools.append(_Pool(voice=voice, since=since, include_pending=include_pending, limits=limits))
            reads.append(candidates_to_read(capacity_s=capacity_s, originals=len(originals), limits=limits))
        rows_of = _Pool.best_rows_of(pools, reads)

    selections = []
    for index, voice in enumerate(voices):
        originals, excluded_originals = chosen_originals[voice.pk]
        excluded = dict.fromkeys(EXCLUSION_REASONS, 0)
        generated: list[SelectedClip] = []
        excluded_ids: dict[str, list[int]] = {}
        capacity_s = 0.0
        pool_counts = None
        if not originals_only:
            rows = rows_of[index]
            picker = _Picker(limits=limits, originals=originals, rows=rows)
            generated = picker.run()
            capacity_s = picker.capacity_s
            for reason, ids in picker.excluded_ids.items():
                excluded[reason] += len(ids)
            excluded_ids = {k: sorted(v) for k, v in picker.excluded_ids.items() if v}
            pool_counts = pools[index].counts_after(read=len(rows))
        selections.append(Selection(
            voice_id=str(voice.pk),
            computed_at=now,
            window_days=window_days,
            since=since,
            limits=limits,
            originals=[_strip_features(o) for o in originals],
            generated=generated,
            picked_excluded=excluded,
            excluded_ids=excluded_ids,
            excluded_originals=excluded_originals,
            originals_only=originals_only,
            generated_capacity_s=capacity_s,
            pool_counts=pool_counts,
        ))
    return selections


def candidates_to_read(*, capacity_s: float, originals: int, limits: SelectionLimits) -> int:
    """How many of the best candidates by merit the picker is given (the rest are over budget).

    The picker selects at most `max_picks` clips: the provider's file room after the originals, and no
    more than fit the capacity at the shortest usable length (plus the last one, cut to the room). It
    sees CANDIDATES_PER_PICK times that many, at least MIN_CANDIDATES and at most
    RETRAIN_SELECTION_MAX_CANDIDATES: enough for the diversity terms, the near-duplicate check and the
    conversation cap to choose among, without reading thousands of rows for a run of a dozen clips."""
    files_room = max(0, limits.max_files - originals)
    by_capacity = math.floor(capacity_s / limits.min_clip_s) + 1 if limits.min_clip_s > 0 else files_room
    max_picks = min(files_room, by_capacity)
    wanted = max(MIN_CANDIDATES, CANDIDATES_PER_PICK * max_picks)
    return min(settings.RETRAIN_SELECTION_MAX_CANDIDATES, wanted)


def generated_capacity_s(*, originals_s: float, limits: SelectionLimits) -> float:
    """Rule 3: seconds of generated speech a selection with `originals_s` of originals may hold."""
    if originals_s <= 0:
        return 0.0
    share = limits.generated_share_max
    share_room = math.inf if share >= 1 else share / (1 - share) * originals_s
    # Rounded to the microsecond: 0.6 / 0.4 × 30 s is 45 s, not 44.999….
    return round(max(0.0, min(limits.budget_s - originals_s, share_room)), 6)


def originals_needed_s(*, for_generated_s: float, limits: SelectionLimits) -> float:
    """The inverse of the share cap: seconds of originals that let `for_generated_s` of generated speech in."""
    share = limits.generated_share_max
    if share >= 1:
        return 0.0 if for_generated_s <= 0 else 1e-9
    if share <= 0:
        return math.inf
    return for_generated_s * (1 - share) / share


def provider_originals_max(max_files: int | None = None) -> int:
    """How many originals one provider clone takes at most: VOICE_MAX_SAMPLES (what Instant Voice Cloning is
    given per create), never more than the provider's file limit (`max_files`, default PROVIDER_IVC_MAX_FILES)."""
    return min(settings.VOICE_MAX_SAMPLES, settings.PROVIDER_IVC_MAX_FILES if max_files is None else max_files)


def provider_originals_choose(originals, *, size, max_files: int | None = None,
                              max_file_bytes: int | None = None, max_total_bytes: int | None = None):
    """THE rule for which originals go to the provider, shared by every path that clones from them (voice
    creation and its retry, a kit import, a retrain or originals-only re-clone): the originals that are not
    retired, **oldest first** (creation time, then id), taken while they fit the provider's limits: at most
    `provider_originals_max(max_files)` files, each at most `max_file_bytes`, together at most `max_total_bytes`
    (defaults: the PROVIDER_IVC_* settings), where `size(original)` is the bytes that would be uploaded.
    The rest are kept (never deleted) and counted: ({"retired": n, "over_provider_limits": n}).

    `originals`: stored originals (rows or dicts with `retired_at`) already in that order, e.g. from
    `provider_originals_queryset`. Returns (chosen, excluded). Deterministic.
    """
    max_files = provider_originals_max(max_files)
    max_file_bytes = settings.PROVIDER_IVC_MAX_FILE_BYTES if max_file_bytes is None else max_file_bytes
    max_total_bytes = settings.PROVIDER_IVC_MAX_TOTAL_BYTES if max_total_bytes is None else max_total_bytes
    chosen = []
    excluded = {"retired": 0, "over_provider_limits": 0}
    total_bytes = 0
    for original in originals:
        retired_at = original["retired_at"] if isinstance(original, dict) else original.retired_at
        if retired_at is not None:
            excluded["retired"] += 1
            continue
        nbytes = size(original)
        if len(chosen) >= max_files or nbytes > max_file_bytes or total_bytes + nbytes > max_total_bytes:
            excluded["over_provider_limits"] += 1
            continue
        total_bytes += nbytes
        chosen.append(original)
    return chosen, excluded


def _provider_originals(**voice_filter):
    """Stored originals that may go to the provider. Originals added in a batch whose consent recording failed
    its check (or is still being checked) are left out until staff accept it or it passes (docs/consent.md):
    they are kept, never sent to the provider meanwhile."""
    from clones.models import ConsentRecord

    return (
        ClipSample.objects.filter(source=ClipSample.Source.ORIGINAL, **voice_filter)
        .exclude(sha256="")
        .exclude(file="")
        .exclude(consent__check_status__in=[ConsentRecord.Check.FAILED, ConsentRecord.Check.PENDING],
                 consent__accepted_at__isnull=True)
    )


def provider_originals_queryset(voice: Voice):
    """A voice's stored originals in the order `provider_originals_choose` takes them: oldest first."""
    return _provider_originals(voice=voice).order_by("created_at", "id")


_ORIGINAL_COLUMNS = ("id", "duration_s", "size_bytes", "quality_score", "lineage_depth", "text", "retired_at",
                     "pitch_median_hz", "pitch_range_st", "loudness_lufs", "speaking_rate_cps")


def _selected_originals_of(*, voices: list[Voice], limits: SelectionLimits) -> dict:
    """Rule 1 for each voice (voice pk -> (chosen, excluded counts)), in one query."""
    rows = _provider_originals(voice__in=voices).order_by("voice", "created_at", "id").values(
        "voice_id", *_ORIGINAL_COLUMNS)
    by_voice: dict = {voice.pk: [] for voice in voices}
    for row in rows:
        by_voice[row["voice_id"]].append(row)
    return {pk: _selected_originals(each, limits=limits) for pk, each in by_voice.items()}


def _selected_originals(rows, *, limits: SelectionLimits) -> tuple[list[dict], dict[str, int]]:
    """Rule 1: `provider_originals_choose` over the voice's originals, sized as their training copies."""
    originals = [{**_selected_original(row), "retired_at": row["retired_at"]} for row in rows]
    chosen, excluded = provider_originals_choose(
        originals, size=lambda o: o["clip"].estimated_bytes, max_files=limits.max_files,
        max_file_bytes=limits.max_file_bytes, max_total_bytes=limits.max_total_bytes,
    )
    return chosen, excluded


# --- pool -------------------------------------------------------------------------------------------------


def _generated_pool(voice):
    return ClipSample.objects.filter(voice=voice, source=ClipSample.Source.GENERATED).exclude(sha256="").exclude(file="")


class _Pool:
    """Rule 2 in SQL: the per-clip rules as one WHERE, the ranking as ORDER BY merit LIMIT n, the counts as
    one aggregate.

    In SQL: the pool (stored generated clips of the voice), the status (approved; pending too for the
    review queue), "not used by a promoted run", the window, and every per-clip rule (analysed, long
    enough, lineage depth, quality flags, the training copy's byte limit); the ranking by merit with ties
    by id (`clones.merit`), and the cut to the best `limit` candidates. In Python (`_Picker`): the caps
    on running totals (capacity, per-conversation share, provider file and byte limits), the diversity
    terms and the near-duplicate check of the greedy pick, which depend on what was picked before.

    The best candidates are ranked by one query on index columns only: `clip_selection_rank_idx` holds one
    voice's clips in merit order with every column the rules read, so PostgreSQL walks it from the best
    clip, skips the ones a rule excludes and stops after `limit` (issue 13: at 100,000 candidates a sort
    of the whole pool took 0.25–0.5 s); where the window holds few of a voice's clips it may range-scan
    `clip_selection_pool_idx` and sort those instead, also without reading a row. A second query reads
    the rows of the ids it returned. "Used" is the voice's promoted-run links, hashed once. The
    per-reason counts scan the voice's whole pool; they run only when asked (`Selection.excluded`).
    """

    def __init__(self, *, voice, since, include_pending: bool, limits: SelectionLimits):
        from clones.selectors import clip_ids_used_by_voice, quality_flag_filter

        self.voice, self.since, self.limits = voice, since, limits
        statuses = [ClipSample.ReviewStatus.APPROVED]
        if include_pending:
            statuses.append(ClipSample.ReviewStatus.PENDING)
        self.include_pending = include_pending
        self.wanted = Q(review_status__in=statuses)
        self.used = Q(pk__in=clip_ids_used_by_voice(voice=voice))
        self.in_window = Q(created_at__gte=since) if since is not None else Q()
        use_s = Least(F("duration_s"), Value(float(limits.max_use_s)))
        share = Case(When(duration_s__gt=0, then=F("size_bytes") * F("use_s") / F("duration_s")),
                     default=F("size_bytes"), output_field=FloatField())
        self.queryset = _generated_pool(voice).alias(
            use_s=use_s,
            estimated_bytes=Greatest(Ceil(share), Ceil(F("use_s") * Value(float(ESTIMATED_BYTES_PER_S)))),
        )
        # The picker's per-clip reasons, in its order: (reason, condition).
        never = Q(pk__in=[])
        self.reasons = [
            ("not_analysed", Q(analysed_at__isnull=True) | Q(duration_s__isnull=True)),
            ("too_short", Q(duration_s__lt=limits.min_clip_s)),
            ("too_deep_lineage", Q(lineage_depth__gt=limits.max_lineage_depth)),
            ("quality_flagged", quality_flag_filter(sorted(limits.excluded_flags)) if limits.excluded_flags else never),
            ("over_provider_limits", Q(estimated_bytes__gt=limits.max_file_bytes)),
        ]

    def _candidate(self) -> Q:
        """In the pool, wanted, unused and inside the window."""
        return self.wanted & ~self.used & self.in_window

    def _passing(self) -> Q:
        passing = self._candidate()
        for _, condition in self.reasons:
            passing &= ~condition
        return passing

    def counts_after(self, *, read: int):
        """A function giving reason -> clips for the per-clip reasons, plus "over_budget" for the passing
        candidates that were not read (`read` were), in one query when called: each clip's first reason
        is one CASE, and the clips are counted per reason."""

        def counts() -> dict[str, int]:
            whens = [When(review_status=ClipSample.ReviewStatus.REJECTED, then=Value("rejected"))]
            if not self.include_pending:
                whens.append(When(review_status=ClipSample.ReviewStatus.PENDING, then=Value("pending")))
            whens += [When(~self.wanted, then=Value("")), When(self.used, then=Value("already_used"))]
            if self.since is not None:
                whens.append(When(created_at__lt=self.since, then=Value("outside_window")))
            whens += [When(condition, then=Value(reason)) for reason, condition in self.reasons]
            reason = Case(*whens, default=Value("passing"), output_field=CharField())
            rows = self.queryset.annotate(reason=reason).order_by().values("reason").annotate(n=Count("pk"))
            found = {row["reason"]: row["n"] for row in rows}
            names = ["rejected", "already_used", *(["pending"] if not self.include_pending else []),
                     *(["outside_window"] if self.since is not None else []), *(r for r, _ in self.reasons)]
            result = {name: found.get(name, 0) for name in names}
            # The candidates past the best `read` by merit were never loaded: they are over the budget.
            result["over_budget"] = max(0, found.get("passing", 0) - read)
            return result

        return counts

    ROW_FIELDS = ("id", "duration_s", "size_bytes", "quality_score", "quality_flags", "analysed_at", "lineage_depth",
                  "is_lineage_unknown", "text", "pitch_median_hz", "pitch_range_st", "loudness_lufs",
                  "speaking_rate_cps", "conversation_ref", "voice_id")

    def _merit(self):
        if self.limits.max_use_s > 0 and index_ranks_by_merit(self.limits.max_use_s):
            return merit_expression(F("duration_s"))  # the index's key: same values (clones.merit)
        return merit_expression(F("use_s"))

    def best_ids(self, *, limit: int, fields=("id",)):
        """The ids of the best `limit` candidates passing every per-clip rule, best merit first (ties by id).
        Every column it reads is in `clip_selection_rank_idx` (and `clip_selection_pool_idx`), so whichever
        the planner walks it is an index-only scan: no clip row is read to rank."""
        return (self.queryset.filter(self._passing()).annotate(merit=self._merit())
                .order_by("-merit", "id").values_list(*fields, flat=len(fields) == 1)[:limit])

    @staticmethod
    def best_rows_of(pools: list[_Pool], limits: list[int]) -> list[list[dict]]:
        """The best candidates' rows of each pool, in two queries however many pools: their ids (one
        ranked, limited read per pool: a UNION ALL where the database allows ORDER BY … LIMIT per
        branch, as PostgreSQL does; else the candidates ranked per voice with row_number()), then the rows
        of those ids with their conversation."""
        if len(pools) == 1:
            id_lists = [list(pools[0].best_ids(limit=limits[0]))]
        elif connection.features.supports_slicing_ordering_in_compound:
            querysets = [pool.best_ids(limit=limit, fields=("id", "voice_id")) for pool, limit in zip(pools, limits)]
            by_voice: dict = {pool.voice.pk: [] for pool in pools}
            for pk, voice_id in querysets[0].union(*querysets[1:], all=True):
                by_voice[voice_id].append(pk)
            id_lists = [by_voice[pool.voice.pk] for pool in pools]
        else:
            either = Q(pk__in=[])
            for pool in pools:
                either |= Q(voice=pool.voice) & pool._passing()
            rank = Window(RowNumber(), partition_by=[F("voice")], order_by=[pools[0]._merit().desc(), F("id").asc()])
            ranked = (ClipSample.objects.filter(source=ClipSample.Source.GENERATED).exclude(sha256="").exclude(file="")
                      .alias(**pools[0].queryset.query.annotations).filter(either).annotate(rank=rank)
                      .filter(rank__lte=max(limits)).values_list("id", "voice_id", "rank"))
            by_voice = {pool.voice.pk: [] for pool in pools}
            for pk, voice_id, position in sorted(ranked, key=lambda row: row[2]):
                by_voice[voice_id].append(pk)
            id_lists = [by_voice[pool.voice.pk][:limit] for pool, limit in zip(pools, limits)]
        wanted = [pk for ids in id_lists for pk in ids]
        if not wanted:
            return [[] for _ in pools]
        rows = {row["id"]: row for row in ClipSample.objects.filter(pk__in=wanted)
                .annotate(conversation_ref=_conversation_ref()).values(*_Pool.ROW_FIELDS)}
        return [[rows[pk] for pk in ids if pk in rows] for ids in id_lists]


def _conversation_ref():
    """The conversation of the message that spoke the clip (a subquery: a clip has at most one message)."""
    message = ClipSample._meta.get_field("message").related_model
    return Subquery(message.objects.filter(clip_id=OuterRef("pk")).order_by().values("conversation_id")[:1])


def estimate_upload_bytes(*, size_bytes: int, duration_s: float, use_s: float) -> int:
    """Upper estimate of a training copy's size: the stored file's share for the seconds used, and never
    less than MP3 at 128 kbps (the copy is re-encoded; LAME's default is near 80 kbps for speech)."""
    share = size_bytes * use_s / duration_s if duration_s else size_bytes
    return max(math.ceil(share), math.ceil(use_s * ESTIMATED_BYTES_PER_S))


def _selected_original(row: dict) -> dict:
    duration = float(row["duration_s"] or 0.0)
    size = int(row["size_bytes"] or 0)
    return {
        "clip": SelectedClip(
            clip_id=row["id"],
            source=ClipSample.Source.ORIGINAL,
            duration_s=duration,
            use_s=duration,
            size_bytes=size,
            estimated_bytes=estimate_upload_bytes(size_bytes=size, duration_s=duration, use_s=duration),
            quality_score=row["quality_score"],
            lineage_depth=row["lineage_depth"],
            conversation_id=None,
            text=row["text"] or "",
        ),
        "features": _features(row),
    }


def _strip_features(original: dict) -> SelectedClip:
    return original["clip"]


# --- features ----------------------------------------------------------------------------------------------

_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)


def _features(row: dict) -> list[float | None]:
    pitch = row.get("pitch_median_hz")
    return [
        12 * math.log2(pitch / 100.0) if pitch else None,
        row.get("pitch_range_st"),
        row.get("loudness_lufs"),
        row.get("speaking_rate_cps"),
    ]


def text_shingles(text: str) -> frozenset[str]:
    """Lower-cased words and word pairs: the units of text similarity."""
    words = _WORD_RE.findall((text or "").lower())
    return frozenset(words) | frozenset(f"{a} {b}" for a, b in zip(words, words[1:]))


def text_similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two shingle sets; 0 when either is empty."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def sentence_type(text: str) -> str:
    stripped = (text or "").rstrip().rstrip("\"')»”’")
    if stripped.endswith("?"):
        return "question"
    if stripped.endswith("!"):
        return "exclamation"
    return "statement"


class _ShingleIndex:
    """`text_similarity` of one candidate against all of them at once: every candidate's shingles as
    integer ids in one array, so the shared shingles are counted with one `isin` and one `bincount` per
    pick instead of a set intersection per candidate (the same integers, so the same Jaccard values)."""

    def __init__(self, shingles: list[frozenset[str]]):
        vocabulary: dict[str, int] = {}
        self.n = len(shingles)
        self.sizes = np.fromiter((len(s) for s in shingles), dtype=np.int64, count=self.n)
        self.ids = np.fromiter((vocabulary.setdefault(x, len(vocabulary)) for each in shingles for x in each),
                               dtype=np.int64, count=int(self.sizes.sum()))
        self.owner = np.repeat(np.arange(self.n, dtype=np.int64), self.sizes)
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)])

    def similarity_to(self, index: int) -> np.ndarray:
        size = int(self.sizes[index])
        if not size:
            return np.zeros(self.n)
        mine = self.ids[self.starts[index]:self.starts[index + 1]]
        shared = np.bincount(self.owner[np.isin(self.ids, mine)], minlength=self.n)
        union = self.sizes + size - shared
        return np.where(self.sizes > 0, shared / np.maximum(union, 1), 0.0)


# --- the greedy pick ---------------------------------------------------------------------------------------


class _Picker:
    """Greedy maximal-marginal-relevance selection under the capacity (budget and share, filled by cutting
    the last clip), conversation and provider caps.

    Each step bulk-excludes the candidates that can no longer fit (so every step selects one clip), then
    picks the best remaining by merit + novelty + sentence-type balance − text similarity.
    """

    def __init__(self, *, limits: SelectionLimits, originals: list[dict], rows):
        self.limits = limits
        self.originals = originals
        self.excluded_ids: dict[str, list[int]] = {reason: [] for reason in EXCLUSION_REASONS}
        self.rows = rows
        self.capacity_s = generated_capacity_s(
            originals_s=sum(o["clip"].use_s for o in originals), limits=limits
        )

    def _exclude(self, reason: str, ids) -> None:
        self.excluded_ids[reason].extend(int(i) for i in ids)

    def _filter(self) -> list[dict]:
        limits = self.limits
        candidates = []
        for row in self.rows:
            duration = row["duration_s"]
            if row["analysed_at"] is None or duration is None:
                self._exclude("not_analysed", [row["id"]])
                continue
            if duration < limits.min_clip_s:
                self._exclude("too_short", [row["id"]])
                continue
            if row["lineage_depth"] > limits.max_lineage_depth:
                self._exclude("too_deep_lineage", [row["id"]])
                continue
            if limits.excluded_flags.intersection(row["quality_flags"] or []):
                self._exclude("quality_flagged", [row["id"]])
                continue
            use_s = min(float(duration), limits.max_use_s)
            estimated = estimate_upload_bytes(size_bytes=int(row["size_bytes"] or 0), duration_s=duration, use_s=use_s)
            if estimated > limits.max_file_bytes:
                self._exclude("over_provider_limits", [row["id"]])
                continue
            candidates.append({**row, "use_s": use_s, "estimated_bytes": estimated})
        return candidates

    def run(self) -> list[SelectedClip]:
        limits = self.limits
        candidates = self._filter()
        if not candidates:
            return []
        for c in candidates:
            # Unknown lineage (imported audio) ranks as one generation deeper than recorded.
            depth = c["lineage_depth"] + (1 if c.get("is_lineage_unknown") else 0)
            c["merit"] = _merit(quality_score=c["quality_score"], use_s=c["use_s"], lineage_depth=depth)
        candidates.sort(key=lambda c: (-c["merit"], c["id"]))
        cap = settings.RETRAIN_SELECTION_MAX_CANDIDATES
        if len(candidates) > cap:
            self._exclude("over_budget", [c["id"] for c in candidates[cap:]])
            candidates = candidates[:cap]

        n = len(candidates)
        ids = np.array([c["id"] for c in candidates], dtype=np.int64)
        merit = np.array([c["merit"] for c in candidates])
        use_s = np.array([c["use_s"] for c in candidates])
        est_bytes = np.array([c["estimated_bytes"] for c in candidates], dtype=np.int64)
        conversations = [str(c["conversation_ref"]) if c["conversation_ref"] else None for c in candidates]
        conv_index = {key: i for i, key in enumerate(sorted({k for k in conversations if k is not None}))}
        conv_of = np.array([conv_index[k] if k is not None else -1 for k in conversations], dtype=np.int64)
        types = [sentence_type(c["text"]) for c in candidates]
        type_names = ("statement", "question", "exclamation")
        type_of = np.array([type_names.index(t) for t in types], dtype=np.int64)
        shingles = [text_shingles(c["text"]) for c in candidates]
        overlap = _ShingleIndex(shingles)
        features = self._feature_matrix(candidates)

        originals_s = sum(o["clip"].use_s for o in self.originals)
        originals_bytes = sum(o["clip"].estimated_bytes for o in self.originals)
        # Rule 3: the capacity for generated speech; the reason names whichever cap binds.
        capacity_s = self.capacity_s = generated_capacity_s(originals_s=originals_s, limits=limits)
        budget_room_s = max(0.0, limits.budget_s - originals_s)
        capacity_reason = "over_generated_share" if capacity_s < budget_room_s else "over_budget"
        # Rule 4: planned against the target total, so it is known before ranking.
        target_total_s = originals_s + capacity_s
        conv_cap_s = limits.max_conversation_share * target_total_s if limits.max_conversation_share < 1 else math.inf
        files_room = max(0, limits.max_files - len(self.originals))
        bytes_room = max(0, limits.max_total_bytes - originals_bytes)

        alive = np.ones(n, dtype=bool)
        min_distance = np.full(n, np.inf)
        max_similarity = np.zeros(n)
        type_counts = np.zeros(len(type_names))
        conv_used_s = np.zeros(max(1, len(conv_index)))
        conv_clips = np.zeros(max(1, len(conv_index)), dtype=np.int64)
        # Drift guard: a reply far from the originals' pitch register is the clone drifting, not range.
        merit = merit - self._drift_penalty(candidates)

        picked: list[tuple[int, float]] = []
        used_s = 0.0
        used_bytes = 0
        while alive.any():
            # Bulk-exclude what can no longer fit, so each pick below selects a clip.
            if len(picked) >= files_room:
                self._drop(alive, alive.copy(), "over_provider_limits", ids)
                break
            room_s = capacity_s - used_s
            # A clip longer than the room is cut to it (rule 3), unless the cut would be too short to use.
            if room_s + 1e-9 < limits.min_clip_s:
                self._drop(alive, alive & (use_s > room_s + 1e-9), capacity_reason, ids)
            effective_s = np.minimum(use_s, max(room_s, 0.0))
            self._drop(alive, alive & (est_bytes > bytes_room - used_bytes), "over_provider_limits", ids)
            # Rule 4: a conversation's first clip is always admitted; later ones only within its share.
            capped = alive & (conv_of >= 0)
            if capped.any():
                safe = np.maximum(conv_of, 0)
                room = conv_cap_s - conv_used_s[safe]
                over = capped & (conv_clips[safe] > 0) & (effective_s > room + 1e-9)
                self._drop(alive, over, "over_conversation_cap", ids)
            if not alive.any():
                break
            novelty = np.where(np.isfinite(min_distance), np.minimum(min_distance / 2.0, 1.0), 1.0)
            type_bonus = 1.0 / (1.0 + type_counts[type_of])
            score = (
                merit
                + NOVELTY_WEIGHT * novelty
                + SENTENCE_TYPE_WEIGHT * type_bonus
                - TEXT_SIMILARITY_WEIGHT * max_similarity
            )
            score = np.where(alive, score, -np.inf)
            # np.argmax returns the first maximum; candidates are sorted by (-merit, id), so ties are stable.
            best = int(np.argmax(score))
            alive[best] = False
            if use_s[best] > room_s + 1e-9:
                # Cut to the room left; the training copy keeps the first `use_s` seconds.
                use_s[best] = room_s
                est_bytes[best] = estimate_upload_bytes(
                    size_bytes=int(candidates[best]["size_bytes"] or 0),
                    duration_s=float(candidates[best]["duration_s"]), use_s=float(room_s),
                )
            picked.append((best, float(score[best])))
            used_s += use_s[best]
            used_bytes += int(est_bytes[best])
            type_counts[type_of[best]] += 1
            if conv_of[best] >= 0:
                conv_used_s[conv_of[best]] += use_s[best]
                conv_clips[conv_of[best]] += 1
            min_distance = np.minimum(min_distance, self._distances(features, features[best]))
            if shingles[best]:
                similarity = np.where(alive, overlap.similarity_to(best), 0.0)
                max_similarity = np.maximum(max_similarity, similarity)
                self._drop(alive, alive & (similarity >= limits.near_duplicate_similarity), "near_duplicate", ids)

        return [
            SelectedClip(
                clip_id=int(ids[i]),
                source=ClipSample.Source.GENERATED,
                duration_s=float(candidates[i]["duration_s"]),
                use_s=round(float(use_s[i]), 3),
                size_bytes=int(candidates[i]["size_bytes"] or 0),
                estimated_bytes=int(est_bytes[i]),
                quality_score=candidates[i]["quality_score"],
                lineage_depth=candidates[i]["lineage_depth"],
                conversation_id=conversations[i],
                text=candidates[i]["text"] or "",
                rank_score=round(s, 4),
            )
            for i, s in picked
        ]

    def _drop(self, alive: np.ndarray, mask: np.ndarray, reason: str, ids: np.ndarray) -> None:
        if mask.any():
            self._exclude(reason, ids[mask])
            alive &= ~mask

    def _feature_matrix(self, candidates: list[dict]) -> np.ndarray:
        """Candidates' features in units of novelty; also sets the fill values used for the originals."""
        raw = np.array([[np.nan if v is None else v for v in _features(c)] for c in candidates], dtype=float)
        self._raw_features = raw
        self._scales = np.array(list(FEATURE_SCALES.values()))
        # Unknown features sit at the candidates' median: they neither add nor hide novelty.
        known = ~np.isnan(raw)
        self._medians = np.array(
            [float(np.median(raw[known[:, j], j])) if known[:, j].any() else 0.0 for j in range(raw.shape[1])]
        )
        return np.where(known, raw, self._medians) / self._scales

    def _drift_penalty(self, candidates: list[dict]) -> np.ndarray:
        known = [o["features"][0] for o in self.originals if o["features"][0] is not None]
        penalty = np.zeros(len(candidates))
        if not known:
            return penalty
        reference = float(np.median(known))
        # The pitch in semitones `_feature_matrix` computed (NaN where unknown), not recomputed per row.
        for i, pitch_st in enumerate(self._raw_features[:, 0].tolist()):
            if not math.isnan(pitch_st):
                beyond = abs(pitch_st - reference) - DRIFT_FREE_ST
                penalty[i] = min(DRIFT_PENALTY_MAX, DRIFT_PENALTY_PER_ST * max(0.0, beyond))
        return penalty

    @staticmethod
    def _distances(matrix: np.ndarray, point: np.ndarray) -> np.ndarray:
        return np.sqrt(np.sum(np.square(matrix - point), axis=1))
