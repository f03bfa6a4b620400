"""Speaker similarity: does this audio sound like the speaker of these references? A calibrated 0–1 score.

    result = speaker_similarity(audio, references)      # audio: bytes | (samples, rate) | VoiceFeatures,
    result.score, result.distance, result.components    # or a list of those (pooled);
    result.features, result.reference                   # references: the same, or a VoiceProfile

How: each recording is described by `fidelity.features.VoiceFeatures` (Praat: pitch, formants, voice
quality, spectral tilt, MFCC statistics). Features are compared group by group in units of how much one
speaker's recordings differ among themselves (WITHIN_SPEAKER_SD, or the references' own spread when it is
wider), so a same-speaker distance is about 1 however many references there are,
the groups are averaged into one distance D (RMS of z-scores), and D is mapped to 0–1 by a logistic curve
calibrated on espeak-ng voices (bench/fidelity_similarity.py; docs/fidelity.md, "Calibration"):

    score = 1 / (1 + exp((D − D_EQUAL_ERROR) / D_WIDTH))

so 0.5 is the distance at which same- and different-speaker pairs were equally often misjudged, and a
typical same-speaker comparison (three references) scores about 0.9.

Prosody (pitch range, energy range, speaking rate) is measured too but is not identity: a speaker talks
faster or livelier without becoming someone else, so those stay out of the score (see fidelity.prosody).

A neural speaker encoder can replace the score behind the same interface: FIDELITY_SPEAKER_ENCODER names
a class implementing `SpeakerEncoder`; the Praat features are still measured and reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, Union

import numpy as np
from django.utils.module_loading import import_string

from fidelity.features import VoiceFeatures, voice_features

ENCODER_NAME = "praat-features-v1"

# How much one speaker's recordings differ among themselves, per feature (standard deviations):
# pitch and formants in semitones, HNR and tilt in dB, jitter and shimmer in percent, MFCCs in Praat's
# units. Measured across sentences and speaking rates of espeak-ng voices (bench/fidelity_similarity.py)
# and widened where human speakers are known to vary more than a synthesiser (pitch register ±1.5 st,
# formants ±3–8 %).
WITHIN_SPEAKER_SD = {
    "pitch": (1.5,),
    "formants": (1.5, 1.2, 0.8, 0.6),
    "voice_quality": (2.0, 0.3, 1.5),
    "spectral_tilt": (1.5,),
    "mfcc_mean": (12.0, 7.0, 6.0, 4.0, 4.0, 3.0, 2.0, 2.0, 1.5, 1.0, 1.5, 1.0),
    "mfcc_std": (5.0, 4.0, 3.0, 3.0, 2.0, 1.2, 1.0, 1.0, 0.7, 0.7, 0.8, 0.7),
}
GROUPS = tuple(WITHIN_SPEAKER_SD)

# Calibration of the 0–1 mapping on espeak-ng voices, three references per comparison
# (bench/fidelity_similarity.py --calibrate prints both numbers).
D_EQUAL_ERROR = 1.28
D_WIDTH = 0.24


AudioInput = Union[bytes, tuple[np.ndarray, int], VoiceFeatures]


@dataclass(frozen=True)
class VoiceProfile:
    """What a set of reference recordings has in common: per-group means and spreads. JSON-able.

    Build it once with `voice_profile(references)` and compare many recordings against it (drift).
    """

    mean: dict[str, tuple[float, ...]]
    variance: dict[str, tuple[float, ...]]
    count: int
    voiced_s: float
    features: VoiceFeatures

    def as_dict(self) -> dict:
        return {
            "mean": {k: [round(v, 5) for v in vs] for k, vs in self.mean.items()},
            "variance": {k: [round(v, 5) for v in vs] for k, vs in self.variance.items()},
            "count": self.count,
            "voiced_s": round(self.voiced_s, 2),
            "features": self.features.as_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "VoiceProfile":
        return cls(
            mean={k: tuple(v) for k, v in data["mean"].items()},
            variance={k: tuple(v) for k, v in data["variance"].items()},
            count=int(data["count"]),
            voiced_s=float(data["voiced_s"]),
            features=VoiceFeatures.from_dict(data["features"]),
        )


@dataclass(frozen=True)
class SimilarityResult:
    score: float  # 0–1, calibrated: ≥ 0.5 more likely the same speaker than not
    distance: float  # D, in within-speaker standard deviations (RMS over groups)
    components: dict[str, float]  # per feature group, the same units as `distance`
    features: VoiceFeatures  # of the audio (pooled when several)
    reference: VoiceFeatures  # of the references (pooled)
    encoder: str

    def as_dict(self) -> dict:
        return {
            "score": self.score,
            "distance": self.distance,
            "components": self.components,
            "features": self.features.as_dict(),
            "reference": self.reference.as_dict(),
            "encoder": self.encoder,
        }


class SpeakerEncoder(Protocol):
    """An optional embedding model behind `speaker_similarity` (FIDELITY_SPEAKER_ENCODER)."""

    name: str

    def score(self, audio: Sequence[tuple[np.ndarray, int]], references: Sequence[tuple[np.ndarray, int]]) -> float:
        """Calibrated 0–1 same-speaker score of the recordings `audio` against `references`."""


def speaker_similarity(
    audio: AudioInput | Sequence[AudioInput], references: VoiceProfile | Sequence[AudioInput]
) -> SimilarityResult:
    """Score how much `audio` sounds like the speaker of `references`; deterministic.

    `audio` and each reference may be encoded bytes, `(samples, sample_rate)`, or VoiceFeatures measured
    earlier; a list of several is pooled. Raises ValueError without references, NotEnoughVoice
    (fidelity.features) when a recording holds too little voiced speech, AudioProbeError on bytes that do
    not decode.
    """
    items = _as_list(audio)
    features = pool_features([_features(item) for item in items])
    profile = references if isinstance(references, VoiceProfile) else voice_profile(references)
    components = {}
    total = weight = 0.0
    vector = _groups(features)
    for group in GROUPS:
        scale = np.asarray(WITHIN_SPEAKER_SD[group])
        diff = np.asarray(vector[group]) - np.asarray(profile.mean[group])
        # The difference between one recording and the mean of n references varies by (1 + 1/n)·σ²;
        # σ is the table's, or the references' own spread when they vary more (a livelier speaker).
        variance = (1 + 1 / profile.count) * np.maximum(scale**2, np.asarray(profile.variance[group]))
        z2 = diff**2 / variance
        finite = np.isfinite(z2)
        if not finite.any():
            continue
        mean_z2 = float(z2[finite].mean())
        components[group] = round(math.sqrt(mean_z2), 3)
        total += mean_z2
        weight += 1.0
    distance = math.sqrt(total / weight) if weight else float("inf")
    score = _calibrated(distance)
    encoder_name = ENCODER_NAME
    encoder = _encoder()
    if encoder is not None:
        decoded = [_samples(item) for item in items]
        if isinstance(references, VoiceProfile) or any(r is None for r in decoded):
            raise ValueError("A speaker encoder needs audio, not stored features.")
        score = float(encoder.score(decoded, [_samples(r) for r in references]))
        encoder_name = encoder.name
    return SimilarityResult(
        score=round(score, 4),
        distance=round(distance, 4),
        components=components,
        features=features,
        reference=profile.features,
        encoder=encoder_name,
    )


def voice_profile(references: Sequence[AudioInput]) -> VoiceProfile:
    """Pool reference recordings (their features) into a profile to compare against. Raises ValueError when empty."""
    feats = [_features(item) for item in _as_list(references)]
    if not feats:
        raise ValueError("At least one reference recording is needed.")
    vectors = [_groups(f) for f in feats]
    weights = np.array([max(f.voiced_s, 1e-3) for f in feats])
    mean, variance = {}, {}
    for group in GROUPS:
        values = np.array([v[group] for v in vectors], dtype=float)
        m = _weighted_nanmean(values, weights)
        mean[group] = tuple(float(x) for x in m)
        spread = (
            _weighted_nanmean((values - m) ** 2, weights) * len(feats) / (len(feats) - 1)
            if len(feats) > 1
            else np.zeros_like(m)
        )
        variance[group] = tuple(float(x) for x in np.nan_to_num(spread))
    return VoiceProfile(
        mean=mean, variance=variance, count=len(feats), voiced_s=float(sum(f.voiced_s for f in feats)),
        features=pool_features(feats),
    )


def pool_features(features: Sequence[VoiceFeatures]) -> VoiceFeatures:
    """Features of several recordings as one: averages weighted by voiced duration."""
    if len(features) == 1:
        return features[0]
    weights = np.array([max(f.voiced_s, 1e-3) for f in features])

    def avg(values):
        return float(_weighted_nanmean(np.array(values, dtype=float)[:, None], weights)[0])

    def avg_vec(values):
        return tuple(float(v) for v in _weighted_nanmean(np.array(values, dtype=float), weights))

    return VoiceFeatures(
        duration_s=float(sum(f.duration_s for f in features)),
        speech_s=float(sum(f.speech_s for f in features)),
        voiced_s=float(sum(f.voiced_s for f in features)),
        # Pitch pools on the semitone scale, as it is compared.
        pitch_median_hz=float(100 * 2 ** (avg([12 * math.log2(f.pitch_median_hz / 100) for f in features]) / 12)),
        pitch_range_st=avg([f.pitch_range_st for f in features]),
        formants_hz=avg_vec([f.formants_hz for f in features]),
        hnr_db=avg([f.hnr_db for f in features]),
        jitter=avg([f.jitter for f in features]),
        shimmer=avg([f.shimmer for f in features]),
        spectral_tilt_db=avg([f.spectral_tilt_db for f in features]),
        energy_range_db=avg([f.energy_range_db for f in features]),
        mfcc_mean=avg_vec([f.mfcc_mean for f in features]),
        mfcc_std=avg_vec([f.mfcc_std for f in features]),
    )


def features_of(audio: AudioInput) -> VoiceFeatures:
    """VoiceFeatures of encoded bytes or `(samples, rate)`; VoiceFeatures pass through."""
    return _features(audio)


# --- internals ------------------------------------------------------------------------------------------


def _calibrated(distance: float) -> float:
    if not math.isfinite(distance):
        return 0.0
    return 1.0 / (1.0 + math.exp(min((distance - D_EQUAL_ERROR) / D_WIDTH, 700.0)))


def _groups(f: VoiceFeatures) -> dict[str, tuple[float, ...]]:
    def st(hz):
        return 12 * math.log2(hz / 100.0) if hz and hz > 0 and math.isfinite(hz) else float("nan")

    return {
        "pitch": (st(f.pitch_median_hz),),
        "formants": tuple(st(v) for v in f.formants_hz),
        "voice_quality": (f.hnr_db, 100 * f.jitter, 100 * f.shimmer),
        "spectral_tilt": (f.spectral_tilt_db,),
        "mfcc_mean": tuple(f.mfcc_mean),
        "mfcc_std": tuple(f.mfcc_std),
    }


def _weighted_nanmean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    mask = np.isfinite(values)
    w = weights[:, None] * mask
    total = w.sum(axis=0)
    summed = (np.where(mask, values, 0.0) * w).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, summed / np.where(total > 0, total, 1), np.nan)


def _as_list(value) -> list:
    if isinstance(value, (bytes, VoiceFeatures)) or (isinstance(value, tuple) and len(value) == 2
                                                      and isinstance(value[0], np.ndarray)):
        return [value]
    return list(value)


def _samples(item: AudioInput) -> tuple[np.ndarray, int] | None:
    if isinstance(item, VoiceFeatures):
        return None
    if isinstance(item, bytes):
        from clones.audio import decode_audio

        return decode_audio(item)
    return item


def _features(item: AudioInput) -> VoiceFeatures:
    if isinstance(item, VoiceFeatures):
        return item
    samples, rate = _samples(item)
    return voice_features(samples, rate)


@lru_cache(maxsize=4)
def _load_encoder(path: str) -> SpeakerEncoder:
    return import_string(path)()


def _encoder() -> SpeakerEncoder | None:
    from django.conf import settings

    path = getattr(settings, "FIDELITY_SPEAKER_ENCODER", "")
    return _load_encoder(path) if path else None
