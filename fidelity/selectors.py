"""Reads of the fidelity package: is this upload one of our generated clips?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Count

from fidelity.fingerprint import FINGERPRINT_RATE, FINGERPRINT_VERSION, HOP, best_alignment, query_landmarks
from fidelity.models import AudioFingerprint, FingerprintLandmark

# Long uploads are looked up in windows so one query never carries more than a few thousand hashes;
# windows overlap by more than the longest usual reply, so a generated clip always lies inside one.
WINDOW_FRAMES = int(60 * FINGERPRINT_RATE / HOP)
WINDOW_STEP_FRAMES = int(30 * FINGERPRINT_RATE / HOP)
CANDIDATES_PER_WINDOW = 10


@dataclass(frozen=True)
class GeneratedAudioMatch:
    generated_audio_id: int
    clip_id: int | None
    aligned: int  # landmarks that agree at one offset
    share: float  # of the stored clip's landmarks in the stretch the upload covers
    offset_s: float  # where in the stored clip the upload starts (negative: the upload starts earlier)


def generated_audio_match(*, samples: np.ndarray, sample_rate: int) -> GeneratedAudioMatch | None:
    """The stored generated clip this recording is a (re-encoded, resampled, trimmed, re-gained) copy of.

    None when nothing matches: at least FIDELITY_FINGERPRINT_MIN_ALIGNED landmarks must agree at one
    offset and be FIDELITY_FINGERPRINT_MIN_SHARE of the clip's landmarks over the stretch they overlap.
    Reads only the index rows of the upload's hashes (no scan over stored clips).
    """
    query = query_landmarks(samples, sample_rate)
    if not len(query):
        return None
    best: GeneratedAudioMatch | None = None
    last = int(query.offsets.max())
    for start in range(0, max(last - WINDOW_FRAMES, 0) + WINDOW_STEP_FRAMES, WINDOW_STEP_FRAMES):
        inside = (query.offsets >= start) & (query.offsets < start + WINDOW_FRAMES)
        found = _match_window(query.hashes[inside], query.offsets[inside])
        if found is not None and (best is None or found.aligned > best.aligned):
            best = found
    return best


def _match_window(hashes: np.ndarray, offsets: np.ndarray) -> GeneratedAudioMatch | None:
    if not hashes.size:
        return None
    min_aligned = settings.FIDELITY_FINGERPRINT_MIN_ALIGNED
    # Stage 1, from the index alone: clips sharing enough hashes at all (an upper bound of `aligned`).
    candidates = list(
        FingerprintLandmark.objects.filter(
            hash__in=[int(h) for h in np.unique(hashes)], fingerprint__version=FINGERPRINT_VERSION
        )
        .values("fingerprint")
        .annotate(shared=Count("*"))
        .filter(shared__gte=min_aligned)
        .order_by("-shared", "fingerprint")
        .values_list("fingerprint", flat=True)[:CANDIDATES_PER_WINDOW]
    )
    if not candidates:
        return None
    # Stage 2: only the candidates' landmarks, aligned in time.
    rows = np.array(
        FingerprintLandmark.objects.filter(fingerprint__in=candidates).values_list("fingerprint", "hash", "anchor_frame"),
        dtype=np.int64,
    ).reshape(-1, 3)
    best = None
    for fingerprint_id in candidates:
        mine = rows[rows[:, 0] == fingerprint_id]
        match = best_alignment(hashes, offsets, mine[:, 1], mine[:, 2])
        if match.aligned < min_aligned:
            continue
        lo, hi = offsets.min() + match.offset, offsets.max() + match.offset
        covered = int(((mine[:, 2] >= lo) & (mine[:, 2] <= hi)).sum())
        share = match.aligned / max(covered, 1)
        if share >= settings.FIDELITY_FINGERPRINT_MIN_SHARE and (best is None or match.aligned > best[1].aligned):
            best = (fingerprint_id, match, share)
    if best is None:
        return None
    fingerprint_id, match, share = best
    record = AudioFingerprint.objects.select_related("generated_audio").get(pk=fingerprint_id)
    return GeneratedAudioMatch(
        generated_audio_id=record.generated_audio_id,
        clip_id=record.generated_audio.clip_id,
        aligned=match.aligned,
        share=round(share, 3),
        offset_s=round(match.offset * HOP / FINGERPRINT_RATE, 2),
    )
