"""Prosody of one clip, for diversity-aware selection: pitch, its spread, and the spread of speech energy.

Companion to `clones.analysis` (quality); these numbers say nothing about quality, only about how a clip
differs from others of the same voice, so a retrain sees the voice's range instead of one monotone
register. Vectorised numpy, a few milliseconds per second of audio.

- Pitch: the signal is low-passed and decimated to about 8 kHz, cut into 40 ms frames every 20 ms,
  and each loud frame's normalised autocorrelation (batched FFTs) is searched for its strongest peak
  between 60 and 400 Hz (speaking voices). A frame is voiced when that peak reaches `VOICED_CLARITY`.
  `pitch_median_hz` is the median over voiced frames; `pitch_range_st` the 10th–90th percentile
  spread in semitones.
- `energy_range_db`: 10th–90th percentile spread of frame energy over the active frames (within
  `ACTIVE_RANGE_DB` of the loudest frame).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TARGET_RATE = 8000
FRAME_S = 0.040
HOP_S = 0.020
MIN_F0_HZ = 60.0
MAX_F0_HZ = 400.0
VOICED_CLARITY = 0.5
ACTIVE_RANGE_DB = 35.0
MIN_VOICED_FRAMES = 5


@dataclass(frozen=True)
class Prosody:
    pitch_median_hz: float | None
    pitch_range_st: float | None
    energy_range_db: float | None
    voiced_ratio: float


def measure_prosody(samples: np.ndarray, sample_rate: int) -> Prosody:
    """Pitch and energy spread of a mono float clip. Deterministic; `samples` is not modified.

    Fields are None when the clip has too few loud (energy) or voiced (pitch) frames to say.
    """
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    rate, x = _decimate(x, int(sample_rate))
    frame = int(round(FRAME_S * rate))
    hop = int(round(HOP_S * rate))
    if x.size < frame * 2:
        return Prosody(None, None, None, 0.0)
    x = x - float(x.mean())
    count = 1 + (x.size - frame) // hop
    frames = np.lib.stride_tricks.as_strided(x, shape=(count, frame), strides=(hop * x.strides[0], x.strides[0]))
    energy = np.maximum(np.mean(np.square(frames, dtype=np.float64), axis=1), 1e-12)
    energy_db = 10 * np.log10(energy)
    active = energy_db > max(float(energy_db.max()) - ACTIVE_RANGE_DB, -60.0)
    if active.sum() < MIN_VOICED_FRAMES:
        return Prosody(None, None, None, 0.0)
    p10, p90 = np.percentile(energy_db[active], [10, 90])
    energy_range_db = round(float(p90 - p10), 2)

    loud = frames[active] * np.hanning(frame).astype(np.float32)
    size = 1 << math.ceil(math.log2(2 * frame))
    spectrum = np.fft.rfft(loud, n=size, axis=1)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, n=size, axis=1)[:, :frame]
    acf /= np.maximum(acf[:, :1], 1e-12)
    min_lag = int(rate / MAX_F0_HZ)
    max_lag = min(int(math.ceil(rate / MIN_F0_HZ)), frame - 2)
    window = acf[:, min_lag : max_lag + 1]
    best = np.argmax(window, axis=1)
    clarity = window[np.arange(window.shape[0]), best]
    lag = best + min_lag
    # Parabolic interpolation around the peak for sub-sample lag precision.
    left = acf[np.arange(acf.shape[0]), np.clip(lag - 1, 0, frame - 1)]
    mid = acf[np.arange(acf.shape[0]), lag]
    right = acf[np.arange(acf.shape[0]), np.clip(lag + 1, 0, frame - 1)]
    denominator = left - 2 * mid + right
    shift = np.where(np.abs(denominator) > 1e-9, 0.5 * (left - right) / np.where(denominator == 0, 1, denominator), 0)
    f0 = rate / (lag + np.clip(shift, -0.5, 0.5))
    voiced = clarity >= VOICED_CLARITY
    voiced_ratio = round(float(voiced.sum() / count), 3)
    if voiced.sum() < MIN_VOICED_FRAMES:
        return Prosody(None, None, energy_range_db, voiced_ratio)
    semitones = 12 * np.log2(f0[voiced] / 100.0)
    s10, s90 = np.percentile(semitones, [10, 90])
    return Prosody(
        pitch_median_hz=round(float(np.median(f0[voiced])), 1),
        pitch_range_st=round(float(s90 - s10), 2),
        energy_range_db=energy_range_db,
        voiced_ratio=voiced_ratio,
    )


def _decimate(x: np.ndarray, rate: int) -> tuple[int, np.ndarray]:
    """Average blocks of `factor` samples (a crude low pass that is enough for pitch) down to ~8 kHz."""
    factor = max(1, rate // TARGET_RATE)
    if factor == 1:
        return rate, x
    usable = (x.size // factor) * factor
    return rate / factor, x[:usable].reshape(-1, factor).mean(axis=1)
