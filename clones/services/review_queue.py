"""The staff review queue's order and the reason shown for each clip (issue 5 item 8; issue 12).

Pending generated clips, most useful decision first:
0. clips the next retrain of their voice would select if approved (in selection order);
1. clips with a metric close to a quality threshold, where the automatic verdict is least certain and
   a human ear decides best (closest first), with the metric named: "signal-to-noise 15.4 dB, 0.4 dB
   above the 15 dB minimum";
2. clips that pass every check (quick approvals), newest first;
3. flagged clips (likely rejections), newest first;
4. clips not analysed yet.

"Close" means within NEAR_THRESHOLD_MARGIN units of doubt (5 LU of loudness, 0.1 of speech ratio, 5 dB
of SNR, a doubling of clipping, 1 s of duration). A clip further from every threshold is not labelled
close: before this rule every analysed clip was "close to a quality threshold (margin 1.51–2.00)",
including clips scoring 100 with no flags.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.db.models import Count

from clones.models import ClipSample, Voice

from .selection import select_clips_for_voices

NEAR_THRESHOLD_MARGIN = 1.0
REVIEW_QUEUE_MAX_VOICES = 10
REVIEW_QUEUE_POOL = 2000

# What `queue_reason` reads of a clip.
REASON_FIELDS = ("analysed_at", "loudness_lufs", "speech_ratio", "snr_db", "clipping_ratio", "duration_s",
                 "quality_flags", "quality_score")

TIER_RETRAIN_PICK, TIER_NEAR_THRESHOLD, TIER_CLEAN, TIER_FLAGGED, TIER_NOT_ANALYSED = range(5)


@dataclass(frozen=True)
class ThresholdDistance:
    """How far one metric of a clip is from the limit nearest to it."""

    margin: float  # in units of doubt; small = the automatic verdict is least certain
    # The words, written only for the nearest metric (the queue weighs 2,000 clips × 7 metrics).
    describe: Callable[[], str] = field(repr=False, compare=False)

    @property
    def description(self) -> str:
        return self.describe()


def _distance(metric: str, value: float, limit: float, unit: str, scale: float, *, kind: str,
              fmt: str = "{:.1f}") -> ThresholdDistance:
    gap = abs(value - limit)

    def describe() -> str:
        side = "above" if value >= limit else "below"
        return f"{metric} {fmt.format(value)}{unit}, {fmt.format(gap)}{unit} {side} the {limit:g}{unit} {kind}"

    return ThresholdDistance(margin=gap / scale, describe=describe)


def nearest_threshold(clip: ClipSample, thresholds) -> ThresholdDistance | None:
    """The clip's metric closest to a quality threshold, or None before analysis."""
    if clip.analysed_at is None:
        return None
    found = []
    if clip.loudness_lufs is not None:
        found.append(_distance("loudness", clip.loudness_lufs, thresholds.min_lufs, " LUFS", 5, kind="minimum"))
        found.append(_distance("loudness", clip.loudness_lufs, thresholds.max_lufs, " LUFS", 5, kind="maximum"))
    if clip.speech_ratio is not None:
        found.append(_distance("speech", clip.speech_ratio * 100, thresholds.min_speech_ratio * 100, " %", 10,
                               kind="minimum", fmt="{:.0f}"))
    if clip.snr_db is not None and clip.speech_ratio:
        found.append(_distance("signal-to-noise", clip.snr_db, thresholds.min_snr_db, " dB", 5, kind="minimum"))
    if clip.clipping_ratio:
        doublings = abs(math.log2(clip.clipping_ratio / thresholds.max_clipping_ratio))
        side = "above" if clip.clipping_ratio >= thresholds.max_clipping_ratio else "below"
        ratio, limit = clip.clipping_ratio, thresholds.max_clipping_ratio
        found.append(ThresholdDistance(
            margin=doublings,
            describe=lambda: f"clipping {ratio * 100:.2f} %, {side} the {limit * 100:g} % maximum",
        ))
    if clip.duration_s is not None:
        found.append(_distance("duration", clip.duration_s, thresholds.min_duration_s, " s", 1, kind="minimum"))
        found.append(_distance("duration", clip.duration_s, thresholds.max_duration_s, " s", 1, kind="maximum"))
    return min(found, key=lambda d: d.margin) if found else None


def _flags_text(clip: ClipSample) -> str:
    return ", ".join(flag.replace("_", " ") for flag in clip.quality_flags)


def _score_text(clip: ClipSample) -> str:
    return f"score {clip.quality_score:.0f}" if clip.quality_score is not None else "no score"


def queue_reason(clip: ClipSample, thresholds) -> tuple[int, float, str]:
    """(tier, sort key within the tier, reason) for a pending clip that no retrain would pick now."""
    nearest = nearest_threshold(clip, thresholds)
    if nearest is None:
        return TIER_NOT_ANALYSED, 0.0, "not analysed yet"
    flagged = f" (flagged: {_flags_text(clip)})" if clip.quality_flags else ""
    if nearest.margin <= NEAR_THRESHOLD_MARGIN:
        return TIER_NEAR_THRESHOLD, nearest.margin, f"close to a quality threshold: {nearest.description}{flagged}"
    if clip.quality_flags:
        return TIER_FLAGGED, 0.0, f"flagged: {_flags_text(clip)} ({_score_text(clip)})"
    return TIER_CLEAN, 0.0, f"passes every check ({_score_text(clip)}, no flags)"


def stored_pending_clips():
    """Pending generated clips with stored audio: what the queue orders (`clip_pending_voice_idx`)."""
    return (
        ClipSample.objects.filter(source=ClipSample.Source.GENERATED, review_status=ClipSample.ReviewStatus.PENDING)
        .exclude(sha256="")
        .exclude(file="")
    )


def pending_voices(*, limit: int = 50) -> list[dict]:
    """The voices with the most pending clips ({"voice", "voice__name", "n"}), most first, then by name.

    Counted per voice from `clip_pending_voice_idx` alone, then named: grouping the join of clips and
    voices by name made PostgreSQL join every pending clip first (0.2–0.5 s at 1,000,000 clips)."""
    counts = list(stored_pending_clips().order_by().values("voice").annotate(n=Count("*")).order_by("-n", "voice"))
    if len(counts) > limit:
        # Voices tied with the last one shown are ordered by name: keep every one of them.
        last = counts[limit - 1]["n"]
        counts = [row for row in counts if row["n"] >= last]
    names = dict(Voice.objects.filter(pk__in=[row["voice"] for row in counts]).values_list("pk", "name"))
    rows = [{"voice": row["voice"], "voice__name": names.get(row["voice"], ""), "n": row["n"]} for row in counts]
    rows.sort(key=lambda row: (-row["n"], row["voice__name"]))
    return rows[:limit]


def review_queue_order(*, voice: Voice | None = None, limit: int = 50) -> list[ClipSample]:
    """Pending generated clips in review order; see the module docstring and
    `clones.selectors.clip_review_queue`. Each clip carries `queue_tier` and `queue_reason`."""
    from clones.analysis import QualityThresholds

    pending = stored_pending_clips()
    if voice is not None:
        pending = pending.filter(voice=voice)
        voices = [voice]
    else:
        voice_ids = [
            row["voice"]
            for row in pending.order_by().values("voice").annotate(n=Count("*")).order_by("-n", "voice")[
                :REVIEW_QUEUE_MAX_VOICES
            ]
        ]
        voices = list(Voice.objects.filter(pk__in=voice_ids))
        voices.sort(key=lambda v: voice_ids.index(v.pk))

    ordered: list[tuple[int, str]] = []
    tiers: dict[int, int] = {}
    # One selection per voice, as a retrain would make it now, computed together: two queries for all the
    # voices (their originals; their best candidates, read in merit order through the ranking index and
    # cut to what each selection can use), never a scan of a voice's pool (the exclusion counts are not
    # read). Only the first `limit` entries are shown, and each voice's picks go after the previous
    # voices': once they are filled, later voices' picks change nothing.
    for each, selection in zip(voices, select_clips_for_voices(voices=voices, include_pending=True)):
        if len(ordered) >= limit:
            break
        for position, chosen in enumerate(selection.generated, start=1):
            ordered.append((chosen.clip_id, f"a retrain would pick it now (#{position} for {each.name})"))
            tiers[chosen.clip_id] = TIER_RETRAIN_PICK

    if len(ordered) < limit:
        thresholds = QualityThresholds.from_settings()
        # Newest first within a tier (a stable sort keeps that order among equal keys).
        # Only the columns the reasons read, as plain rows (2,000 model instances were a third of the
        # queue's time); the clips shown are loaded whole below.
        pool = [
            SimpleNamespace(**row)
            for row in pending.exclude(pk__in=tiers).order_by("-created_at", "-id")
            .values("pk", *REASON_FIELDS)[:REVIEW_QUEUE_POOL]
        ]
        rest = sorted(((queue_reason(clip, thresholds), clip) for clip in pool), key=lambda rc: rc[0][:2])
        for (tier, _, reason), clip in rest:
            ordered.append((clip.pk, reason))
            tiers[clip.pk] = tier

    wanted = ordered[:limit]
    rows = {
        c.pk: c
        for c in pending.filter(pk__in=[pk for pk, _ in wanted]).select_related("voice", "version", "message")
    }
    result = []
    for pk, reason in wanted:
        clip = rows.get(pk)
        if clip is None:
            continue
        clip.queue_tier = tiers[pk]
        clip.queue_reason = reason
        result.append(clip)
    return result
