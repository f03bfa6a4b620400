"""What a voice sounds like, measured from one recording: the features behind speaker similarity.

Praat (through praat-parselmouth) does the phonetics: pitch, formants, harmonicity, jitter/shimmer and
MFCCs are its standard algorithms, used in speech science for decades, so none of that DSP is ours.
Everything is measured on voiced frames only (where Praat's pitch tracker finds a periodic voice), so
silence, breaths and consonant noise do not dilute a voice's colour, and the numbers are comparable
between a 2-second reply and a 2-minute upload.

Every recording is first resampled to ANALYSIS_RATE and measured below FEATURE_MAX_HZ, so the same
voice uploaded as a 44.1 kHz WAV, a 22 kHz MP3 or an 8 kHz phone recording gives the same features.
Levels are never used (only ratios inside the recording), so gain does not matter either.

Cost: about 25 ms per second of audio on one core (bench/fidelity_similarity.py prints it). Deterministic:
the same samples always give the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import parselmouth
from parselmouth.praat import call

ANALYSIS_RATE = 11000
FEATURE_MAX_HZ = 5000.0
PITCH_FLOOR_HZ = 60.0
PITCH_CEILING_HZ = 500.0
FRAME_STEP_S = 0.01
# Formant tracks change slowly and Burg is the costliest step: a median needs no 10 ms grid.
FORMANT_STEP_S = 0.02
# Burg formant ceiling: Praat's standard 5500 Hz fits every adult voice well enough for a median.
FORMANT_CEILING_HZ = 5500.0
N_FORMANTS = 4
N_MFCC = 12
MIN_VOICED_FRAMES = 20  # 0.2 s of voice: less says nothing about a speaker
# Frames quieter than this below the loudest frame are never counted as speech.
SPEECH_RANGE_DB = 35.0

FEATURES_VERSION = 1


class NotEnoughVoice(ValueError):
    """The recording holds too little voiced speech to describe a voice."""


@dataclass(frozen=True)
class VoiceFeatures:
    """Summary of one recording's voice (or of several, pooled). JSON-able via `as_dict` / `from_dict`.

    - `pitch_median_hz`, `pitch_range_st` (10th–90th percentile spread in semitones): the voice's
      register and its melody.
    - `formants_hz`: median F1–F4 over voiced frames (vocal-tract length and vowel space).
    - `hnr_db`: median harmonics-to-noise ratio from the pitch tracker's periodicity (breathiness/buzz).
    - `jitter`, `shimmer`: Praat's local cycle-to-cycle perturbation of period and amplitude.
    - `spectral_tilt_db`: Ltas energy 0–1 kHz minus 1–4 kHz (dark vs bright voice).
    - `mfcc_mean`, `mfcc_std`: c1–c12 over voiced frames (the spectral envelope; c0, the level, is left out).
    - `energy_range_db`: 10th–90th percentile spread of frame intensity over speech frames.
    - `voiced_s`, `speech_s`, `duration_s`: how much the numbers rest on (weights when pooling).
    """

    duration_s: float
    speech_s: float
    voiced_s: float
    pitch_median_hz: float
    pitch_range_st: float
    formants_hz: tuple[float, ...]
    hnr_db: float
    jitter: float
    shimmer: float
    spectral_tilt_db: float
    energy_range_db: float
    mfcc_mean: tuple[float, ...]
    mfcc_std: tuple[float, ...]
    version: int = field(default=FEATURES_VERSION)

    def as_dict(self) -> dict:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, (tuple, list)):
                data[key] = [round(float(v), 4) for v in value]
            elif isinstance(value, float):
                data[key] = round(value, 4)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "VoiceFeatures":
        values = dict(data)
        for key in ("formants_hz", "mfcc_mean", "mfcc_std"):
            values[key] = tuple(float(v) for v in values[key])
        return cls(**values)


def voice_features(samples: np.ndarray, sample_rate: int) -> VoiceFeatures:
    """Measure the voice in a mono (or multi-channel, averaged) float recording.

    Raises NotEnoughVoice when fewer than MIN_VOICED_FRAMES frames are voiced.
    """
    sound = _analysis_sound(samples, sample_rate)
    duration_s = float(sound.duration)
    pitch = sound.to_pitch_ac(
        time_step=FRAME_STEP_S, pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ
    )
    times = pitch.xs()
    f0 = pitch.selected_array["frequency"]
    strength = pitch.selected_array["strength"]
    intensity = sound.to_intensity(minimum_pitch=PITCH_FLOOR_HZ, time_step=FRAME_STEP_S)
    level_db = np.interp(times, intensity.xs(), intensity.values[0])
    speech = level_db > level_db.max() - SPEECH_RANGE_DB
    voiced = (f0 > 0) & speech
    if int(voiced.sum()) < MIN_VOICED_FRAMES:
        raise NotEnoughVoice(f"only {voiced.sum() * FRAME_STEP_S:.2f} s of voiced speech")
    t_voiced = times[voiced]

    semitones = 12 * np.log2(f0[voiced] / 100.0)
    s10, s90 = np.percentile(semitones, [10, 90])
    e10, e90 = np.percentile(level_db[speech], [10, 90])
    # The autocorrelation peak r of a periodic signal plus noise gives HNR = 10·log10(r / (1 − r)),
    # Boersma (1993), the same relation Praat's own Harmonicity (ac) uses; clipped where r → 1.
    r = np.clip(strength[voiced], 1e-4, 0.999)
    hnr_db = float(np.median(10 * np.log10(r / (1 - r))))

    formant = sound.to_formant_burg(
        time_step=FORMANT_STEP_S, max_number_of_formants=5, maximum_formant=FORMANT_CEILING_HZ
    )
    formants = []
    for number in range(1, N_FORMANTS + 1):
        values = np.array([formant.get_value_at_time(number, t) for t in t_voiced])
        values = values[np.isfinite(values)]
        formants.append(float(np.median(values)) if values.size else float("nan"))

    mfcc = sound.to_mfcc(
        number_of_coefficients=N_MFCC, window_length=0.025, time_step=FRAME_STEP_S,
        # 50 mel apart: below FEATURE_MAX_HZ Praat's default 100 would leave fewer filters than coefficients.
        distance_between_filters=50.0, maximum_frequency=_hz_to_mel(FEATURE_MAX_HZ),
    )
    coefficients = mfcc.to_array()[1:]  # drop c0 (level)
    columns = np.clip(np.round((t_voiced - mfcc.x1) / mfcc.dx).astype(int), 0, coefficients.shape[1] - 1)
    voiced_mfcc = coefficients[:, columns]

    # Glottal pulses from the pitch track already computed (the "periodic" variant would track again).
    points = call([sound, pitch], "To PointProcess (cc)")
    jitter = call(points, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3)
    shimmer = call([sound, points], "Get shimmer (local)", 0, 0, 0.0001, 0.02, 1.3, 1.6)
    ltas = call(sound, "To Ltas", 100)
    tilt = call(ltas, "Get slope", 0, 1000, 1000, 4000, "energy")

    return VoiceFeatures(
        duration_s=duration_s,
        speech_s=float(speech.sum() * FRAME_STEP_S),
        voiced_s=float(voiced.sum() * FRAME_STEP_S),
        pitch_median_hz=float(np.median(f0[voiced])),
        pitch_range_st=float(s90 - s10),
        formants_hz=tuple(formants),
        hnr_db=hnr_db,
        jitter=_finite_or(jitter, 0.0),
        shimmer=_finite_or(shimmer, 0.0),
        spectral_tilt_db=_finite_or(tilt, 0.0),
        energy_range_db=float(e90 - e10),
        mfcc_mean=tuple(float(v) for v in voiced_mfcc.mean(axis=1)),
        mfcc_std=tuple(float(v) for v in voiced_mfcc.std(axis=1)),
    )


def _analysis_sound(samples: np.ndarray, sample_rate: int) -> parselmouth.Sound:
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    x = x - x.mean() if x.size else x
    sound = parselmouth.Sound(x, sampling_frequency=float(sample_rate))
    if int(sample_rate) != ANALYSIS_RATE:
        # Precision 10 (Praat's sinc width in samples) is ample below FEATURE_MAX_HZ and twice as fast as 50.
        sound = sound.resample(ANALYSIS_RATE, 10)
    return sound


def _hz_to_mel(hz: float) -> float:
    # Praat's mel scale (the one its MFCC filter bank uses).
    return 550.0 * math.log(1 + hz / 550.0)


def _finite_or(value, default: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else default
