"""The emulator recognises its own speech when it comes back as a voice sample, and clones accordingly.

Every text-to-speech render is registered with its spectral-peak landmarks (fidelity.fingerprint, the
project's lineage-guard fingerprint: it survives loudness normalisation, trimming, resampling and MP3
re-encoding), the timbre it was rendered with and its depth (the rendering voice's generation + 1). An
uploaded sample that matches a registered render is synthetic: it passes on that exact timbre and depth
instead of being measured. Anything else is measured as human speech (fidelity.features).

`clone_timbre` then combines a voice's samples (weights: voiced seconds):

    timbre     = degrade(blend(human estimates, inherited timbres), synthetic share)
    generation = round(weighted mean depth), human samples counting 0

so a clone made mostly from deep-lineage clips inherits their timbre plus one more `Degradation` step,
while a clone from originals measures like its speaker. The registry lives in memory (cleared by reset,
bounded to MAX_RENDERS); it is not written to the state file.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from fidelity.features import NotEnoughVoice, voice_features
from fidelity.fingerprint import Landmarks, best_alignment, query_landmarks

from .timbre import Degradation, Timbre, blend, degrade, estimate_from_features, timbre_for

MAX_RENDERS = 5000
# Renders whose fingerprint is still pending (audio.PendingLandmarks) are fingerprinted when an upload is
# matched against them. Beyond this many, the oldest are fingerprinted by one background worker after the
# response (RenderRegistry.work_off_backlog): no client waits for a fingerprint, and an upload waits for at
# most this many (about 0.1 s each), which stays well inside a client's timeout on a loaded machine.
MAX_PENDING = 2
_fingerprint_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emulator-fingerprint")
# A sample is a registered render when this many landmarks agree at one offset and they are at least
# MIN_MATCH_SHARE of the render's landmarks over the stretch the sample covers (the thresholds the
# project's lineage guard uses, FIDELITY_FINGERPRINT_MIN_ALIGNED, with a stricter share).
MIN_ALIGNED = 20
MIN_MATCH_SHARE = 0.1
# Long uploads are measured on their first minutes only: enough for a median, and cloning stays quick.
MAX_ANALYSED_S = 120.0


@dataclass(frozen=True)
class SampleAnalysis:
    """What one uploaded sample contributes to a clone. JSON-able (stored on the sample record)."""

    voiced_s: float
    timbre: Timbre | None  # measured (human) or inherited (synthetic); None: no voice found
    depth: int  # 0: human speech; n: emulator speech n clones away from human audio

    def as_dict(self) -> dict:
        return {"voiced_s": round(self.voiced_s, 3), "timbre": self.timbre.as_dict() if self.timbre else None,
                "depth": self.depth}

    @classmethod
    def from_dict(cls, data: dict) -> "SampleAnalysis":
        timbre = Timbre.from_dict(data["timbre"]) if data.get("timbre") else None
        return cls(float(data["voiced_s"]), timbre, int(data["depth"]))


class _Computed:
    """Landmarks already at hand, with the interface of audio.PendingLandmarks."""

    def __init__(self, landmarks: Landmarks) -> None:
        self._landmarks = landmarks

    def result(self) -> Landmarks:
        return self._landmarks


@dataclass(frozen=True)
class _Render:
    fingerprint: object  # audio.PendingLandmarks, or _Computed: `.result()` gives the Landmarks
    depth: int
    timbre: Timbre
    voiced_s: float

    @property
    def landmarks(self) -> Landmarks:
        return self.fingerprint.result()


class RenderRegistry:
    """Renders the emulator produced, by content key; matched against uploads by landmarks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._renders: OrderedDict[tuple, _Render] = OrderedDict()
        self._pending: deque = deque()  # fingerprints not computed yet, oldest first

    def clear(self) -> None:
        with self._lock:
            self._renders.clear()
            self._pending.clear()

    def add(self, key: tuple, landmarks, *, depth: int, timbre: Timbre, duration_s: float | None = None) -> None:
        """Register a render. `landmarks` is a Landmarks, or a pending fingerprint (audio.PendingLandmarks,
        then with `duration_s`) that `match` waits for: a render registered before an upload is always
        matched against it, whether or not the background worker has fingerprinted it yet."""
        if isinstance(landmarks, Landmarks):
            landmarks, duration_s = _Computed(landmarks), landmarks.duration_s
        with self._lock:
            if key in self._renders:
                self._renders.move_to_end(key)
                return
            # About 80 % of an emulator utterance is voiced (audio._segments); good enough as a weight.
            self._renders[key] = _Render(landmarks, depth, timbre, 0.8 * duration_s)
            if not isinstance(landmarks, _Computed):
                self._pending.append(landmarks)
            while len(self._renders) > MAX_RENDERS:
                self._renders.popitem(last=False)

    def work_off_backlog(self) -> None:
        """Queue the oldest pending fingerprints beyond MAX_PENDING on the background worker (call it after
        the response is sent). Only the moment a value is computed changes, never the value."""
        with self._lock:
            while self._pending and (self._pending[0].is_done or len(self._pending) > MAX_PENDING):
                fingerprint = self._pending.popleft()
                if not fingerprint.is_done:
                    _fingerprint_worker.submit(fingerprint.result)

    def match(self, samples: np.ndarray, sample_rate: int) -> _Render | None:
        """The registered render this recording is a copy of (re-encoded, trimmed, re-gained), or None."""
        with self._lock:
            renders = list(self._renders.values())
        if not renders:
            return None
        query = query_landmarks(samples, sample_rate)
        if not len(query):
            return None
        unique = np.unique(query.hashes)
        # Stage 1: shared hashes at any offset, an upper bound of the aligned count; stage 2 aligns the best.
        shared = [int(np.isin(render.landmarks.hashes, unique, assume_unique=False).sum()) for render in renders]
        best, best_share = None, 0.0
        for index in np.argsort(shared)[::-1][:5]:
            if shared[index] < MIN_ALIGNED:
                break
            render = renders[index]
            found = best_alignment(query.hashes, query.offsets, render.landmarks.hashes, render.landmarks.offsets)
            # Share over the stretch the sample covers: a trimmed copy holds only part of the render.
            start, end = found.offset, found.offset + int(query.offsets.max())
            within = int(((render.landmarks.offsets >= start - 1) & (render.landmarks.offsets <= end + 1)).sum())
            share = found.aligned / max(within, 1)
            if found.aligned >= MIN_ALIGNED and share >= MIN_MATCH_SHARE and share > best_share:
                best, best_share = render, share
        return best


def decode(data: bytes) -> tuple[np.ndarray, int] | None:
    """Mono float samples of an upload libsndfile can read (wav, mp3, flac, ogg), else None."""
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None
    if not samples.size or rate <= 0:
        return None
    return samples[: int(MAX_ANALYSED_S * rate)].mean(axis=1), int(rate)


def analyse_sample(data: bytes, registry: RenderRegistry) -> SampleAnalysis:
    """Recognise or measure one upload. Never raises: unreadable or voiceless audio contributes nothing."""
    decoded = decode(data)
    if decoded is None:
        return SampleAnalysis(0.0, None, 0)
    samples, rate = decoded
    render = registry.match(samples, rate)
    if render is not None:
        voiced_s = min(render.voiced_s, 0.8 * len(samples) / rate)
        return SampleAnalysis(voiced_s, render.timbre, render.depth)
    try:
        features = voice_features(samples, rate)
    except NotEnoughVoice:
        return SampleAnalysis(0.0, None, 0)
    return SampleAnalysis(features.voiced_s, estimate_from_features(features), 0)


@dataclass(frozen=True)
class CloneTimbre:
    timbre: Timbre
    generation: int
    synthetic_share: float
    mean_depth: float


def clone_timbre(analyses: list[SampleAnalysis], *, seed: str, degradation: Degradation) -> CloneTimbre:
    """The timbre and generation of a clone made from these samples (deterministic).

    `seed` (derived from the sample hashes and the clone's sequence number) only picks a tiny pitch
    offset, under 1 %: two instant clones of the same audio are near-identical, not bit-identical, as on
    the real service, and A/B previews of two versions stay distinguishable.
    """
    voiced = [a for a in analyses if a.timbre is not None and a.voiced_s > 0]
    nudge = _clone_nudge(seed)
    if not voiced:
        base = timbre_for(seed)
        return CloneTimbre(base, 0, 0.0, 0.0)
    total = sum(a.voiced_s for a in voiced)
    human = [(a.timbre, a.voiced_s) for a in voiced if a.depth == 0]
    synthetic = [(a.timbre, a.voiced_s) for a in voiced if a.depth > 0]
    share = sum(w for _, w in synthetic) / total
    mean_depth = sum(a.depth * a.voiced_s for a in voiced) / total
    parts = []
    if human:
        parts.append((blend(human), 1.0 - share))
    if synthetic:
        parts.append((blend(synthetic), share))
    timbre = degrade(blend(parts), share, degradation)
    timbre = Timbre(**{**timbre.as_dict(), "median_pitch_hz": timbre.median_pitch_hz * nudge}).clamped()
    return CloneTimbre(timbre, int(math.floor(mean_depth + 0.5)), share, mean_depth)


def _clone_nudge(seed: str) -> float:
    unit = int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest()[:2], "big") / 65535.0
    magnitude = 0.004 + 0.006 * unit
    return 1.0 + (magnitude if int(unit * 1000) % 2 else -magnitude)
