"""Writes for clip curation: quality analysis, staff review (one or in bulk), re-analysis.

Reviews apply to generated clips only: consented originals are the clone's ground truth (always part
of a retrain) and previews are never a training source.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_q.tasks import async_task

from audit.services import audit_record_many
from clones import storage
from clones.models import ClipSample
from voiceclone.errors import InvalidState

logger = logging.getLogger(__name__)

AUTO_APPROVE_REASON = "auto-approved: passed every quality threshold"

# Reason codes the review queue offers on `r` (number keys pick one); the API and admin take any text.
REJECT_REASON_CODES = {
    "artifacts": "Audible artifacts or glitches",
    "wrong_voice": "Does not sound like the voice",
    "mispronounced": "Mispronounced or garbled words",
    "text_mismatch": "Speech does not match the text",
    "noise": "Background noise or hiss",
    "clipped": "Distorted or clipped",
    "silence": "Mostly silence or cut off",
    "monotone": "Flat, robotic delivery",
}


@dataclass(frozen=True)
class BulkReviewResult:
    updated: int
    # Requested ids that were not reviewed: missing, or not generated clips.
    skipped_ids: list[int]


def clip_analyse(*, clip_id: int) -> ClipSample | None:
    """Measure a stored clip's quality and prosody, save metrics and flags, cache its waveform image.

    Runs in its own task after the reply is ready (enqueued on commit by the chat turn), so analysis
    never delays a chat reply. Idempotent: re-analysing overwrites the metrics and the image. A file that
    does not decode is flagged `undecodable` with score 0 instead of failing the task. With
    CLIP_AUTO_APPROVE on, a pending generated clip without quality flags is approved (the rest, and
    imported clips of unknown lineage, stay pending for staff). Returns None for a missing clip or one
    whose audio is not stored yet.
    """
    from clones.analysis import QualityThresholds, analyse_audio
    from clones.audio import AudioProbeError, decode_audio
    from fidelity.prosody import measure_prosody
    from clones.waveform import waveform_store

    clip = ClipSample.objects.filter(pk=clip_id).exclude(sha256="").exclude(file="").first()
    if clip is None:
        return None
    now = timezone.now()
    fields = ["quality_score", "quality_flags", "analysed_at"]
    try:
        samples, sample_rate = decode_audio(storage.read_bytes(clip.file.name))
    except AudioProbeError as exc:
        logger.warning("clip %s does not decode: %s", clip.pk, exc)
        clip.quality_score = 0.0
        clip.quality_flags = ["undecodable"]
        clip.analysed_at = now
        clip.save(update_fields=fields)
        return clip

    if clip.source == ClipSample.Source.GENERATED:
        # A reply was registered by its hash alone on its way to ready; its fingerprint is made here, from
        # the samples this analysis decodes anyway (clones.services.voices).
        from clones.services.voices import generated_audio_fingerprint_complete

        generated_audio_fingerprint_complete(sha256=clip.sha256, samples=samples, sample_rate=sample_rate)
    result = analyse_audio(samples, sample_rate, thresholds=QualityThresholds.from_settings())
    prosody = measure_prosody(samples, sample_rate)
    waveform_store(clip=clip, samples=samples, sample_rate=sample_rate)

    clip.duration_s = result.duration_s
    clip.sample_rate = result.sample_rate
    clip.loudness_lufs = _finite(result.loudness_lufs)
    clip.peak_dbfs = _finite(result.peak_dbfs)
    clip.clipping_ratio = result.clipping_ratio
    clip.leading_silence_s = result.leading_silence_s
    clip.trailing_silence_s = result.trailing_silence_s
    clip.speech_ratio = result.speech_ratio
    clip.snr_db = _finite(result.snr_db)
    clip.quality_score = result.quality_score
    clip.quality_flags = list(result.flags)
    clip.analysed_at = now
    clip.pitch_median_hz = prosody.pitch_median_hz
    clip.pitch_range_st = prosody.pitch_range_st
    clip.energy_range_db = prosody.energy_range_db
    clip.speaking_rate_cps = _speaking_rate(clip.text, result.duration_s * result.speech_ratio)
    fields += [
        "duration_s", "sample_rate", "loudness_lufs", "peak_dbfs", "clipping_ratio", "leading_silence_s",
        "trailing_silence_s", "speech_ratio", "snr_db", "pitch_median_hz", "pitch_range_st",
        "energy_range_db", "speaking_rate_cps",
    ]
    with transaction.atomic():
        # Re-read the review under a lock: staff may have reviewed the clip while it was being analysed.
        review = (
            ClipSample.objects.select_for_update().filter(pk=clip.pk).values_list("review_status", flat=True).first()
        )
        if (
            settings.CLIP_AUTO_APPROVE
            and clip.source == ClipSample.Source.GENERATED
            and review == ClipSample.ReviewStatus.PENDING
            and not clip.quality_flags
            # Imported audio of unknown lineage is selected only once staff approved it (issue 14).
            and not clip.is_lineage_unknown
        ):
            clip.review_status = ClipSample.ReviewStatus.APPROVED
            clip.review_reason = AUTO_APPROVE_REASON
            clip.reviewed_by = None
            clip.reviewed_at = now
            fields += ["review_status", "review_reason", "reviewed_by", "reviewed_at"]
        clip.save(update_fields=fields)
    return clip


def clip_review(*, clip: ClipSample, reviewer, status: str, reason: str = "") -> ClipSample:
    """Record a staff decision on a generated clip: approved, rejected (a reason is required) or back to pending.

    Raises ValidationError for an unknown status or a rejection without a reason, InvalidState
    (code `not_reviewable`) for originals and previews. Idempotent: the same decision twice stores the
    same row (with the later reviewer and time).
    """
    status, reason = _check_decision(status, reason)
    if clip.source != ClipSample.Source.GENERATED:
        raise InvalidState(
            "Only generated clips are reviewed: consented originals are always part of a retrain and "
            "previews never are.",
            code="not_reviewable",
        )
    with transaction.atomic():
        clip = ClipSample.objects.select_for_update().get(pk=clip.pk)
        clip.review_status = status
        clip.review_reason = reason
        clip.reviewed_by = reviewer if status != ClipSample.ReviewStatus.PENDING else None
        clip.reviewed_at = timezone.now() if status != ClipSample.ReviewStatus.PENDING else None
        clip.save(update_fields=["review_status", "review_reason", "reviewed_by", "reviewed_at"])
    return clip


def clips_bulk_review(
    *,
    reviewer,
    status: str,
    reason: str = "",
    clip_ids: Iterable[int] | None = None,
    queryset: QuerySet[ClipSample] | None = None,
) -> BulkReviewResult:
    """Review many clips in one UPDATE (pass `clip_ids` or a `queryset`, e.g. an admin selection).

    Same rules as `clip_review`; clips that are not generated (or do not exist) are skipped and
    reported, not an error, so one original in a selection does not block the rest.
    """
    status, reason = _check_decision(status, reason)
    if (clip_ids is None) == (queryset is None):
        raise TypeError("pass exactly one of clip_ids or queryset")
    if queryset is not None:
        # Drop the caller's annotations and ordering: the UPDATE needs only the ids.
        requested = ClipSample.objects.filter(pk__in=queryset.order_by().values("pk"))
        requested_ids = None
    else:
        requested_ids = sorted({int(pk) for pk in clip_ids})
        requested = ClipSample.objects.filter(pk__in=requested_ids)
    reviewable = requested.filter(source=ClipSample.Source.GENERATED)
    is_pending = status == ClipSample.ReviewStatus.PENDING
    with transaction.atomic():
        if requested_ids is not None:
            found = set(reviewable.values_list("pk", flat=True))
            skipped = [pk for pk in requested_ids if pk not in found]
        else:
            skipped = list(requested.exclude(source=ClipSample.Source.GENERATED).values_list("pk", flat=True))
        # The UPDATE bypasses save(), so model-level audit tracking cannot see it: record each clip's
        # decision explicitly, before/after, in one INSERT (audit.services, docs/audit.md).
        before = list(reviewable.select_related("voice").only(
            "pk", "voice__name", "voice_id", "source", "review_status", "review_reason", "reviewed_by_id"))
        updated = reviewable.update(
            review_status=status,
            review_reason=reason,
            reviewed_by=None if is_pending else reviewer,
            reviewed_at=None if is_pending else timezone.now(),
        )
        audit_record_many(actor=reviewer, action="clip.reviewed", data={"bulk": True}, items=[
            (clip, {"review_status": [clip.review_status, status], "review_reason": [clip.review_reason, reason]})
            for clip in before
        ])
    return BulkReviewResult(updated=updated, skipped_ids=skipped)


def clips_reanalyse(*, clip_ids: Iterable[int]) -> int:
    """Enqueue `clones.tasks.clip_analyse` for each clip after commit (re-measures and re-renders the
    waveform; see `clip_analyse`). Returns how many were enqueued."""
    ids = sorted({int(pk) for pk in clip_ids})
    for pk in ids:
        transaction.on_commit(lambda pk=pk: async_task("clones.tasks.clip_analyse", pk))
    return len(ids)


def _check_decision(status: str, reason: str) -> tuple[str, str]:
    if status not in ClipSample.ReviewStatus.values:
        raise ValidationError(
            {"status": [f"Unknown review status {status!r}; use one of {', '.join(ClipSample.ReviewStatus.values)}."]}
        )
    reason = (reason or "").strip()
    if reason in REJECT_REASON_CODES:
        reason = f"{reason}: {REJECT_REASON_CODES[reason]}"
    if status == ClipSample.ReviewStatus.REJECTED and not reason:
        raise ValidationError({"reason": ["Say why the clip is rejected."]})
    max_length = ClipSample._meta.get_field("review_reason").max_length
    if len(reason) > max_length:
        raise ValidationError({"reason": [f"At most {max_length} characters."]})
    return status, reason


def _speaking_rate(text: str, speech_s: float) -> float | None:
    """Letters and digits of the text per second of speech (None without text or speech)."""
    characters = len(re.findall(r"\w", text or ""))
    if not characters or speech_s <= 0.2:
        return None
    return round(characters / speech_s, 2)


def _finite(value):
    """The −inf loudness or peak of digital silence is stored as NULL."""
    return value if value is not None and math.isfinite(value) else None


def preview_clip_store(*, voice_id, version, text: str, result, info, existing, attach) -> ClipSample:
    """Store a render of `text` by `version` (a provider TTS `result`; `info` its AudioInfo or None when it does
    not decode) as a PREVIEW clip: retrain A/B previews and the fidelity gate's probes.

    The row first — `existing()` (read inside the transaction) is an earlier attempt's row, updated; otherwise a
    new row is created and handed to `attach(clip)` in the same transaction — then the file at its canonical path,
    then the row's `file`, and the audio registered as generated (it is refused if ever uploaded as an original).
    A retry after a crash at any point finds the row and writes the file again.
    """
    from .voices import generated_audio_register

    digest = storage.sha256_hex(result.audio)
    facts = {
        "version": version, "text": text, "content_type": result.content_type or "audio/mpeg", "sha256": digest,
        "size_bytes": len(result.audio), "lineage_depth": version.generated_lineage_depth,
        "provider_request_id": (result.request_id or "")[:64], "character_cost": result.character_cost,
        "duration_s": info.duration_s if info else None, "sample_rate": info.sample_rate if info else None,
    }
    with transaction.atomic():
        clip = existing()
        if clip is None:
            clip = ClipSample.objects.create(voice_id=voice_id, source=ClipSample.Source.PREVIEW, **facts)
            attach(clip)
        else:
            for name, value in facts.items():
                setattr(clip, name, value)
            clip.save(update_fields=list(facts))
    path = storage.save_bytes(storage.preview_clip_path(clip), result.audio)
    with transaction.atomic():
        ClipSample.objects.filter(pk=clip.pk).update(file=path)
        # Synthetic audio: refused if someone uploads it again as an "original" sample.
        generated_audio_register(sha256=digest, clip=clip, audio=result.audio)
    clip.file = path
    return clip
