"""What an emulated voice sounds like: a five-number timbre, estimated from the voice's samples.

The real service builds an instant clone from the uploaded audio, so a clone sounds like its samples and a
clone of degraded audio sounds degraded. The emulator models that with five measurable dimensions:

- `median_pitch_hz`: the voice's register;
- `pitch_range_st`: the melody, 10th–90th percentile spread of pitch in semitones;
- `formant_scale`: vocal-tract length, formant frequencies relative to an average adult (1.0);
- `spectral_tilt_db`: long-term spectrum 0–1 kHz minus 1–4 kHz (more negative: darker);
- `breathiness`: aspiration noise, 0 (none) to 1 (near whisper).

`estimate_timbre` measures them on human-like samples with the project's own Praat features
(fidelity.features, praat-parselmouth), and `synthesis_parameters` turns a timbre into the synthesiser's
knobs through tables measured on the synthesiser itself (see `_TILT_TABLE` and friends), so a voice
cloned from emulator speech measures like its source. Samples that are emulator speech are not measured
but recognised (voiceclone.emulator.lineage): they pass on the exact timbre they were rendered with, plus
one `Degradation` step per clone, weighted by their share of the samples. This module is pure numpy and
parselmouth (no Django), like the rest of the emulator.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

TIMBRE_KEYS = ("median_pitch_hz", "pitch_range_st", "formant_scale", "spectral_tilt_db", "breathiness")

# What the synthesiser can render; estimates outside are clamped (a 1 kHz test tone is not a voice).
LIMITS = {
    "median_pitch_hz": (60.0, 400.0),
    "pitch_range_st": (0.5, 12.0),
    "formant_scale": (0.75, 1.35),
    "spectral_tilt_db": (-22.0, -6.0),
    "breathiness": (0.0, 1.0),
}
# Where a voice regresses to as its lineage deepens: an average adult voice (model collapse loses the tails).
NEUTRAL = {"median_pitch_hz": 150.0, "formant_scale": 1.0}
# Median F1–F3 (Hz) Praat measures on voiced frames of an average adult voice: formant_scale 1.0.
REFERENCE_FORMANTS_HZ = (560.0, 1760.0, 2700.0)


@dataclass(frozen=True)
class Timbre:
    median_pitch_hz: float
    pitch_range_st: float
    formant_scale: float
    spectral_tilt_db: float
    breathiness: float

    def as_dict(self) -> dict:
        return {key: round(value, 4) for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "Timbre":
        return cls(**{key: float(data[key]) for key in TIMBRE_KEYS})

    def clamped(self) -> "Timbre":
        return Timbre(**{key: min(max(getattr(self, key), low), high) for key, (low, high) in LIMITS.items()})

    def key(self) -> tuple:
        """Rounded values: what a render cache and a synthesis seed depend on."""
        return tuple(round(getattr(self, name), 4) for name in TIMBRE_KEYS)


def timbre_for(seed: str) -> Timbre:
    """A deterministic timbre from a seed string: premade voices, and clones whose samples hold no voice."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()

    def unit(i: int) -> float:
        return int.from_bytes(digest[2 * i : 2 * i + 2], "big") / 65535.0

    # Log-uniform pitch: perceptual pitch distance is logarithmic, so this spreads voices evenly.
    return Timbre(
        median_pitch_hz=90.0 * (260.0 / 90.0) ** unit(0),
        pitch_range_st=2.0 + 3.0 * unit(4),
        formant_scale=0.85 + 0.3 * unit(2),
        spectral_tilt_db=-17.0 + 5.0 * unit(1),
        breathiness=0.05 + 0.15 * unit(3),
    )


# ------------------------------------------------------------------------------ estimation


def estimate_from_features(features) -> Timbre:
    """The timbre of one human-like recording from its `fidelity.features.VoiceFeatures`."""
    formants = [f / ref for f, ref in zip(features.formants_hz[:3], REFERENCE_FORMANTS_HZ) if math.isfinite(f) and f > 0]
    scale = math.exp(sum(math.log(r) for r in formants) / len(formants)) if formants else 1.0
    return Timbre(
        median_pitch_hz=features.pitch_median_hz,
        pitch_range_st=features.pitch_range_st,
        formant_scale=scale,
        spectral_tilt_db=features.spectral_tilt_db,
        breathiness=_breathiness_from_hnr(features.hnr_db),
    ).clamped()


def blend(parts: list[tuple[Timbre, float]]) -> Timbre:
    """Weighted mean of timbres: pitch and formant scale in the log domain (perception is logarithmic)."""
    total = sum(weight for _, weight in parts)
    if total <= 0:
        raise ValueError("blend needs a positive weight")
    values = {}
    for key in TIMBRE_KEYS:
        logarithmic = key in ("median_pitch_hz", "formant_scale")
        mean = sum(weight * (math.log(getattr(t, key)) if logarithmic else getattr(t, key)) for t, weight in parts)
        values[key] = math.exp(mean / total) if logarithmic else mean / total
    return Timbre(**values)


# ------------------------------------------------------------------------------ lineage degradation


@dataclass(frozen=True)
class Degradation:
    """What one clone made only of emulator speech loses; a clone made partly of it loses that share.

    Defaults are deliberately audible within a few generations (issue 10: a voice retrained on its own
    output flattens and drifts): the melody narrows, aspiration noise grows, formants and register slide
    toward an average voice, and the spectrum flattens (buzz).
    """

    pitch_range_factor: float = 0.85  # pitch range multiplied by this
    breathiness_step: float = 0.06  # added to breathiness (0–1)
    formant_smear: float = 0.1  # formant scale moves this fraction of the way to 1.0
    pitch_pull: float = 0.04  # median pitch moves this fraction of the way (in log) to NEUTRAL
    tilt_step_db: float = 0.8  # spectral tilt rises (flatter, buzzier) by this many dB

    def as_dict(self) -> dict:
        return asdict(self)

    def updated(self, values: dict) -> "Degradation":
        known = {item.name for item in fields(self)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown degradation setting(s) {sorted(unknown)}; known: {sorted(known)}")
        for name, value in values.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"degradation {name} must be a number")
        return replace(self, **{name: float(value) for name, value in values.items()})


def degrade(timbre: Timbre, amount: float, degradation: Degradation) -> Timbre:
    """`timbre` after `amount` generations' worth of degradation (fractional: the synthetic share)."""
    if amount <= 0:
        return timbre
    keep = lambda fraction: (1.0 - min(max(fraction, 0.0), 1.0)) ** amount  # noqa: E731
    pitch = math.exp(
        math.log(NEUTRAL["median_pitch_hz"])
        + (math.log(timbre.median_pitch_hz) - math.log(NEUTRAL["median_pitch_hz"])) * keep(degradation.pitch_pull)
    )
    return Timbre(
        median_pitch_hz=pitch,
        pitch_range_st=timbre.pitch_range_st * degradation.pitch_range_factor**amount,
        formant_scale=math.exp(math.log(timbre.formant_scale) * keep(degradation.formant_smear)),
        spectral_tilt_db=timbre.spectral_tilt_db + degradation.tilt_step_db * amount,
        breathiness=timbre.breathiness + degradation.breathiness_step * amount,
    ).clamped()


# ------------------------------------------------------------------------------ planted shifts

# How a planted shift applies per key: pitch, range, tilt and breathiness add; formant scale multiplies.
_MULTIPLICATIVE = {"formant_scale"}


def validate_shift(shift: dict) -> dict:
    if not isinstance(shift, dict):
        raise ValueError("shift must be a JSON object")
    unknown = set(shift) - set(TIMBRE_KEYS)
    if unknown:
        raise ValueError(f"unknown timbre key(s) {sorted(unknown)}; known: {list(TIMBRE_KEYS)}")
    for key, value in shift.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"shift {key} must be a number")
        if key in _MULTIPLICATIVE and value <= 0:
            raise ValueError(f"shift {key} is a factor and must be positive")
    return {key: float(value) for key, value in shift.items()}


def shifted(timbre: Timbre, shift: dict | None) -> Timbre:
    if not shift:
        return timbre
    values = asdict(timbre)
    for key, value in shift.items():
        values[key] = values[key] * value if key in _MULTIPLICATIVE else values[key] + value
    return Timbre(**values).clamped()


# ------------------------------------------------------------------------------ synthesis


@dataclass(frozen=True)
class SynthesisParameters:
    """The synthesiser's knobs (voiceclone.emulator.audio)."""

    f0_hz: float
    pitch_spread: float  # syllable pitch offsets are uniform in ±pitch_spread (relative)
    formant_scale: float
    tilt: float  # formant gain roll-off and bandwidth growth
    noise: float  # aspiration noise level


# Measured on the synthesiser (12 s of speech, Praat via fidelity.features): what each knob yields.
# Reproduce: render with one knob varied, the others at their defaults, and run voice_features.
_SPREAD_TABLE = ((0.0, 0.85), (0.03, 1.13), (0.06, 1.67), (0.10, 2.65), (0.15, 3.92), (0.25, 6.4), (0.4, 10.0))
_TILT_TABLE = ((-0.6, -8.0), (-0.3, -10.5), (0.0, -11.5), (0.3, -12.6), (0.6, -14.8), (1.0, -16.9), (1.6, -18.6),
               (2.2, -19.2))
# Noise level -> harmonics-to-noise ratio (dB); breathiness = noise / NOISE_PER_BREATHINESS.
_NOISE_TABLE = ((0.0, 25.5), (0.02, 21.3), (0.05, 14.7), (0.10, 9.0), (0.20, 3.3), (0.25, 1.5))
NOISE_PER_BREATHINESS = 0.25


def _interp(x: float, table, *, inverse: bool = False) -> float:
    knob, measured = (np.array(column, dtype=float) for column in zip(*table))
    if inverse:  # measured -> knob
        order = np.argsort(measured)
        return float(np.interp(x, measured[order], knob[order]))
    return float(np.interp(x, knob, measured))


def _breathiness_from_hnr(hnr_db: float) -> float:
    return _interp(hnr_db, _NOISE_TABLE, inverse=True) / NOISE_PER_BREATHINESS


def synthesis_parameters(timbre: Timbre) -> SynthesisParameters:
    return SynthesisParameters(
        f0_hz=timbre.median_pitch_hz,
        pitch_spread=_interp(timbre.pitch_range_st, _SPREAD_TABLE, inverse=True),
        formant_scale=timbre.formant_scale,
        tilt=_interp(timbre.spectral_tilt_db, _TILT_TABLE, inverse=True),
        noise=timbre.breathiness * NOISE_PER_BREATHINESS,
    )
