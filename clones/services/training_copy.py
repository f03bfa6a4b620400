"""Training copies of clips, derived for upload and never written over the stored clip (issue 5, item 7).

The stored file stays exactly as it was (its sha256 is the registry's key and the reviewers heard it).
What a retrain uploads is derived in memory: a long reply cut at a pause before its degraded tail, DC
offset removed, edge silence trimmed to about 100 ms, one gain to a loudness target with the peak capped
(`clones.analysis.training_copy`), encoded as MP3. Clipping already in the waveform is reported as
irreparable, never "repaired".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from clones import storage
from clones.models import ClipSample

# A long reply is cut at the quietest 30 ms inside the last this-many seconds before its use limit.
TAIL_CUT_SEARCH_S = 1.5
TAIL_CUT_FRAME_S = 0.03
LAME_RATES = (8000, 48000)


@dataclass(frozen=True)
class TrainingCopy:
    clip_id: int
    filename: str
    content: bytes
    content_type: str
    source_sha256: str
    sha256: str
    tail_cut_s: float  # seconds removed from the end of a long reply (0 when none)
    irreparable_clipping: bool
    report: dict  # clones.analysis.TrainingCopyReport.as_dict()

    def file_kwargs(self) -> dict:
        """`voiceclone.provider.AudioFile(**copy.file_kwargs())`."""
        return {"filename": self.filename, "content": self.content, "content_type": self.content_type}


def clip_training_copy(*, clip: ClipSample, max_use_s: float | None = None) -> TrainingCopy:
    """Derive the bytes a retrain uploads for `clip`; the stored file is only read.

    max_use_s: keep at most this many seconds from the start (the selection's `use_s`), cut at the
    quietest moment of the last 1.5 s before it, so a word is not cut in half. Raises
    clones.audio.AudioProbeError when the stored file does not decode. Pure: no database or storage write.
    """
    from clones.analysis import QualityThresholds, encode_mp3, encode_wav, training_copy
    from clones.audio import decode_audio

    data = storage.read_bytes(clip.file.name)
    samples, sample_rate = decode_audio(data)
    original_n = samples.size
    if max_use_s is not None and samples.size > max_use_s * sample_rate:
        samples = samples[: _tail_cut_index(samples, sample_rate, max_use_s)]
    tail_cut_s = (original_n - samples.size) / sample_rate
    out, report = training_copy(
        samples,
        sample_rate,
        target_lufs=settings.TRAINING_COPY_TARGET_LUFS,
        pad_s=settings.TRAINING_COPY_PAD_S,
        peak_cap_dbfs=settings.TRAINING_COPY_PEAK_CAP_DBFS,
        thresholds=QualityThresholds.from_settings(),
    )
    if LAME_RATES[0] <= sample_rate <= LAME_RATES[1]:
        content, content_type, extension = encode_mp3(out, sample_rate), "audio/mpeg", "mp3"
    else:
        content, content_type, extension = encode_wav(out, sample_rate), "audio/wav", "wav"
    return TrainingCopy(
        clip_id=clip.pk,
        filename=f"{clip.source}_{clip.pk}.{extension}",
        content=content,
        content_type=content_type,
        source_sha256=hashlib.sha256(data).hexdigest(),
        sha256=hashlib.sha256(content).hexdigest(),
        tail_cut_s=round(tail_cut_s, 3),
        irreparable_clipping=report.irreparable_clipping,
        report=report.as_dict(),
    )


def selection_training_copies(*, selection) -> list[TrainingCopy]:
    """Training copies of every clip of a `Selection` (originals first, then generated best first),
    each cut to its `use_s`. Reads the stored files; writes nothing."""
    clips = ClipSample.objects.in_bulk(selection.clip_ids)
    return [clip_training_copy(clip=clips[chosen.clip_id], max_use_s=chosen.use_s) for chosen in selection.clips]


def _tail_cut_index(samples: np.ndarray, sample_rate: int, max_use_s: float) -> int:
    limit = int(max_use_s * sample_rate)
    frame = max(1, int(TAIL_CUT_FRAME_S * sample_rate))
    start = max(0, limit - int(TAIL_CUT_SEARCH_S * sample_rate))
    window = samples[start:limit].astype(np.float64)
    count = window.size // frame
    if count < 2:
        return limit
    energy = np.square(window[: count * frame]).reshape(count, frame).mean(axis=1)
    # The latest of the quietest frames (within 1 dB of the minimum), so as much speech as possible stays.
    quiet = np.flatnonzero(energy <= energy.min() * 1.26 + 1e-12)
    return start + int(quiet[-1]) * frame + frame // 2
