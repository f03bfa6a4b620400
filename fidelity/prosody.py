"""Prosody of a clip: pitch level and spread, energy spread, speaking rate. Not identity, but expression.

Used by clip analysis (diversity-aware selection, clones.services.clips) and by the promotion gate
(a retrained voice must not go flat: narrower pitch and energy ranges are the first sign of a clone
trained on its own speech). One pitch tracker serves both this and speaker similarity: Praat's
autocorrelation method (Boersma 1993) through praat-parselmouth, on the same analysis grid as
fidelity.features.

- `pitch_median_hz`: median F0 over voiced frames; `pitch_range_st`: its 10th–90th percentile spread
  in semitones.
- `energy_range_db`: 10th–90th percentile spread of frame intensity over speech frames (those within
  SPEECH_RANGE_DB of the loudest).
- `speaking_rate_cps`: characters of text (letters and digits) per second of speech, when the text is known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fidelity.features import (
    FRAME_STEP_S,
    PITCH_CEILING_HZ,
    PITCH_FLOOR_HZ,
    SPEECH_RANGE_DB,
    _analysis_sound,
)

MIN_VOICED_FRAMES = 5


@dataclass(frozen=True)
class Prosody:
    pitch_median_hz: float | None
    pitch_range_st: float | None
    energy_range_db: float | None
    voiced_ratio: float
    speech_s: float = 0.0
    speaking_rate_cps: float | None = None


def measure_prosody(samples: np.ndarray, sample_rate: int, *, text: str = "") -> Prosody:
    """Pitch, energy and (with `text`) speaking rate of a mono float clip. Deterministic.

    Fields are None when the clip has too few loud (energy) or voiced (pitch) frames to say.
    """
    x = np.asarray(samples)
    if x.size < int(sample_rate) * 0.1:
        return Prosody(None, None, None, 0.0)
    sound = _analysis_sound(x, sample_rate)
    pitch = sound.to_pitch_ac(time_step=FRAME_STEP_S, pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ)
    times = pitch.xs()
    if times.size < MIN_VOICED_FRAMES:
        return Prosody(None, None, None, 0.0)
    f0 = pitch.selected_array["frequency"]
    intensity = sound.to_intensity(minimum_pitch=PITCH_FLOOR_HZ, time_step=FRAME_STEP_S)
    level_db = np.interp(times, intensity.xs(), intensity.values[0])
    speech = level_db > level_db.max() - SPEECH_RANGE_DB
    speech_s = round(float(speech.sum() * FRAME_STEP_S), 3)
    if speech.sum() < MIN_VOICED_FRAMES:
        return Prosody(None, None, None, 0.0)
    e10, e90 = np.percentile(level_db[speech], [10, 90])
    letters = sum(ch.isalnum() for ch in text)
    rate = round(letters / speech_s, 2) if letters and speech_s > 0 else None
    voiced = (f0 > 0) & speech
    voiced_ratio = round(float(voiced.sum() / times.size), 3)
    energy_range_db = round(float(e90 - e10), 2)
    if voiced.sum() < MIN_VOICED_FRAMES:
        return Prosody(None, None, energy_range_db, voiced_ratio, speech_s, rate)
    semitones = 12 * np.log2(f0[voiced] / 100.0)
    s10, s90 = np.percentile(semitones, [10, 90])
    return Prosody(
        pitch_median_hz=round(float(np.median(f0[voiced])), 1),
        pitch_range_st=round(float(s90 - s10), 2),
        energy_range_db=energy_range_db,
        voiced_ratio=voiced_ratio,
        speech_s=speech_s,
        speaking_rate_cps=rate,
    )
