"""Perceptual fingerprints of audio: spectral-peak landmarks (Wang 2003, "An industrial-strength audio
search algorithm"; the scheme of audfprint and dejavu), so a generated clip is recognised again after it
was re-encoded, resampled, trimmed or re-gained.

How: the audio is resampled to FINGERPRINT_RATE (8 kHz: everything a codec, a resampler or a phone keeps),
its log spectrogram's local maxima are found (peaks survive lossy coding because a codec spends its bits
on exactly these), and pairs of nearby peaks become landmarks: `hash = (f1, f2 - f1, t2 - t1)` packed in
21 bits, stored with the anchor's time `t1`. Only differences appear in the hash, so a gain change (a
constant in dB), a trim (a constant in time) or a different container leaves it unchanged. Two recordings
are the same audio when many landmark hashes agree *at one consistent time offset*; chance agreements of
unrelated audio scatter over offsets.

Matching against millions of stored clips needs no scan: landmarks are rows indexed by hash
(fidelity.models.FingerprintLandmark), an upload's few hundred hashes are looked up, and only the clips
that share them are counted (fidelity.selectors.generated_audio_match).

Pure numpy, deterministic; about 2 ms per second of audio (bench/fidelity_fingerprint.py prints it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import parselmouth

FINGERPRINT_RATE = 8000
N_FFT = 512  # 64 ms: resolves the harmonics of a speaking voice (15.6 Hz bins)
HOP = 128  # 16 ms
MIN_BIN, MAX_BIN = 4, 244  # 62 Hz – 3.8 kHz: away from DC hum and the resampler's roll-off near Nyquist
PEAK_TIME_FRAMES = 8  # a peak is the largest value within ±8 frames (128 ms) ...
PEAK_FREQ_BINS = 10  # ... and ±10 bins (156 Hz)
PEAK_FLOOR_DB = 45.0  # and within this of the loudest point: quieter "peaks" are noise floor
FANOUT = 3  # landmarks per anchor peak: pairs with the next FANOUT peaks in its target zone
MAX_DT = 63  # target zone: up to ~1 s after the anchor ...
MAX_DF = 63  # ... and within ±63 bins (±980 Hz)
# A query is also fingerprinted at these fractions of a hop: a trim that cuts mid-hop shifts every peak
# by a fraction of a frame, and one of these grids lines up with the stored one again (audfprint's shifts).
QUERY_SHIFTS = (0.0, 0.25, 0.5, 0.75)

FINGERPRINT_VERSION = 1


@dataclass(frozen=True)
class Landmarks:
    """Landmark hashes of one recording and the frame (HOP / FINGERPRINT_RATE s) of each anchor."""

    hashes: np.ndarray  # int32
    offsets: np.ndarray  # int32, anchor frame
    duration_s: float

    def __len__(self) -> int:
        return int(self.hashes.size)


def landmarks(samples: np.ndarray, sample_rate: int, *, shifts: tuple[float, ...] = (0.0,)) -> Landmarks:
    """Landmarks of a mono float recording. With several `shifts` (fractions of a hop) the union, deduplicated."""
    x = _resample(np.asarray(samples, dtype=np.float64), int(sample_rate))
    duration_s = x.size / FINGERPRINT_RATE
    hashes, offsets = [], []
    for shift in shifts:
        start = int(round(shift * HOP))
        h, o = _landmarks_of(x[start:])
        hashes.append(h)
        offsets.append(o)
    pairs = np.unique(
        np.stack([np.concatenate(hashes), np.concatenate(offsets)], axis=1).astype(np.int64), axis=0
    ) if hashes else np.zeros((0, 2), dtype=np.int64)
    return Landmarks(pairs[:, 0].astype(np.int32), pairs[:, 1].astype(np.int32), duration_s)


def query_landmarks(samples: np.ndarray, sample_rate: int) -> Landmarks:
    """Landmarks of an upload to be matched: the union over QUERY_SHIFTS (robust to sub-hop trims)."""
    return landmarks(samples, sample_rate, shifts=QUERY_SHIFTS)


@dataclass(frozen=True)
class OffsetMatch:
    aligned: int  # stored landmarks that agree at the best offset (± 1 frame)
    offset: int  # stored frame − query frame at that offset


def best_alignment(
    query_hashes: np.ndarray, query_offsets: np.ndarray, stored_hashes: np.ndarray, stored_offsets: np.ndarray
) -> OffsetMatch:
    """How many of the query's landmarks agree with one stored clip at one consistent time offset."""
    if not query_hashes.size or not stored_hashes.size:
        return OffsetMatch(0, 0)
    order = np.argsort(query_hashes, kind="stable")
    qh, qo = query_hashes[order], query_offsets[order]
    left = np.searchsorted(qh, stored_hashes, side="left")
    right = np.searchsorted(qh, stored_hashes, side="right")
    counts = right - left
    if not counts.any():
        return OffsetMatch(0, 0)
    # Every (stored, query) pair with the same hash votes for offset = stored - query.
    stored_index = np.repeat(np.arange(stored_hashes.size), counts)
    starts = np.repeat(left, counts)
    within = np.arange(stored_index.size) - np.repeat(np.cumsum(counts) - counts, counts)
    deltas = stored_offsets[stored_index] - qo[starts + within]
    values, votes = np.unique(deltas, return_counts=True)
    # A trim or a resampler can move peaks by one frame: count each offset with its two neighbours.
    padded = np.zeros(values.size, dtype=np.int64)
    for step in (-1, 0, 1):
        neighbour = np.searchsorted(values, values + step)
        found = (neighbour < values.size) & (values[np.minimum(neighbour, values.size - 1)] == values + step)
        padded += np.where(found, votes[np.minimum(neighbour, values.size - 1)], 0)
    offset = int(values[int(np.argmax(padded))])
    # Each stored landmark counts once, however many query grids (shifts) found it.
    agreeing = np.unique(stored_index[np.abs(deltas - offset) <= 1])
    return OffsetMatch(int(agreeing.size), offset)


# --- internals ------------------------------------------------------------------------------------------


def _resample(x: np.ndarray, rate: int) -> np.ndarray:
    if x.ndim == 2:
        x = x.mean(axis=1)
    if rate == FINGERPRINT_RATE or not x.size:
        return x
    # Praat's sinc resampler (the same one fidelity.features uses) low-passes before decimating.
    return parselmouth.Sound(x, sampling_frequency=float(rate)).resample(FINGERPRINT_RATE, 10).values[0]


def _landmarks_of(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    peaks_t, peaks_f = _peaks(x)
    if peaks_t.size < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    hashes, offsets = [], []
    taken = np.zeros(peaks_t.size, dtype=np.int64)
    # Peaks are sorted by time: pair each anchor with the next FANOUT peaks inside its target zone.
    for step in range(1, min(FANOUT * 8, peaks_t.size - 1) + 1):
        dt = peaks_t[step:] - peaks_t[:-step]
        df = peaks_f[step:] - peaks_f[:-step]
        ok = (dt >= 1) & (dt <= MAX_DT) & (np.abs(df) <= MAX_DF) & (taken[:-step] < FANOUT)
        taken[:-step] += ok
        hashes.append(_pack(peaks_f[:-step][ok], df[ok], dt[ok]))
        offsets.append(peaks_t[:-step][ok])
    return np.concatenate(hashes), np.concatenate(offsets)


def _pack(f1: np.ndarray, df: np.ndarray, dt: np.ndarray) -> np.ndarray:
    return ((f1.astype(np.int64) & 0xFF) << 13) | (((df + 64).astype(np.int64) & 0x7F) << 6) | (dt & 0x3F)


def _peaks(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time frames and frequency bins of the spectrogram's local maxima, sorted by time then bin."""
    if x.size < N_FFT:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP]
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(N_FFT), axis=1))[:, MIN_BIN:MAX_BIN]
    level = 20 * np.log10(spectrum + 1e-9)
    local_max = _max_filter(level, PEAK_TIME_FRAMES, PEAK_FREQ_BINS)
    is_peak = (level == local_max) & (level > level.max() - PEAK_FLOOR_DB)
    t, f = np.nonzero(is_peak)
    return t.astype(np.int64), (f + MIN_BIN).astype(np.int64)


def _max_filter(level: np.ndarray, half_t: int, half_f: int) -> np.ndarray:
    """Maximum over a (2·half_t+1) × (2·half_f+1) box; separable, edges padded with -inf."""
    out = level
    for axis, half in ((0, half_t), (1, half_f)):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (half, half)
        padded = np.pad(out, pad, constant_values=-np.inf)
        out = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=axis).max(axis=-1)
    return out
