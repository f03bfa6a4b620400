"""Synthetic speech for the emulator's text-to-speech, plus small audio probes.

The audio is not speech, but it has what the app and its tests look at: a duration that follows the
text (about 13 characters per second, like real narration), voiced syllables separated by pauses at
word and sentence boundaries (so silence trimming, loudness and "speech ratio" metrics behave), and
a timbre (voiceclone.emulator.timbre: median pitch, pitch range, formant scale, spectral tilt,
breathiness) estimated from the voice's samples, so two voices differ measurably in pitch and spectral
shape. The same (timbre, text, speed) always gives the same samples.

Why the synthesis looks the way it does: it must stay cheap (the MP3 encoder already costs more than
the synthesis), so everything is vectorised over the whole utterance in float32: one cumulative
phase array gives the glottal periods, three formants ring as damped sinusoids inside each period
(formant-wave-function synthesis), and per-syllable envelopes cut the result into syllables.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from fidelity.fingerprint import Landmarks, landmarks

from .timbre import Timbre, synthesis_parameters, timbre_for

SAMPLE_RATE = 22050
# Narration runs at roughly 12-15 characters per second. Words are spoken at a slightly faster rate
# so that, once pauses at punctuation and the edges are added, the whole clip lands near 13/s.
CHARS_PER_SECOND = 15.0

_VOWEL_GROUPS = re.compile(r"[aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüý]+", re.IGNORECASE)
_WORDS = re.compile(r"\S+")


def _syllable_count(word: str) -> int:
    letters = sum(ch.isalpha() for ch in word)
    groups = len(_VOWEL_GROUPS.findall(word))
    if groups == 0:
        # Scripts without Latin vowels (or digits): about one syllable per three characters.
        groups = max(1, letters // 3)
    return max(1, min(groups, 8))


def _segments(text: str, speed: float, rng: np.random.Generator) -> tuple[list[float], list[bool]]:
    """Split text into alternating durations (seconds) of syllables (True) and pauses (False)."""
    durations: list[float] = [0.06]  # leading silence, as real TTS output has a little
    voiced: list[bool] = [False]
    words = _WORDS.findall(text) or [text]
    char_s = 1.0 / (CHARS_PER_SECOND * speed)
    for word in words:
        n = _syllable_count(word)
        # A word takes its characters' share of time plus one space; 80 % of it is voiced.
        word_s = (len(word) + 1) * char_s
        weights = rng.uniform(0.7, 1.3, n)
        for i, part in enumerate(weights / weights.sum() * word_s * 0.8):
            durations.append(max(part, 0.05))
            voiced.append(True)
            if i < n - 1:
                durations.append(0.02)  # tiny closure between syllables of one word
                voiced.append(False)
        pause = word_s * 0.2
        if word[-1] in ",;:":
            pause += 0.08 / speed
        elif word[-1] in ".!?":
            pause += 0.16 / speed
        durations.append(pause)
        voiced.append(False)
    durations.append(0.1)  # trailing silence
    voiced.append(False)
    return durations, voiced


# Vowel formant sets (F1, F2, F3 in Hz, adult average); each syllable picks one, scaled per voice.
_VOWELS = np.array(
    [
        (730.0, 1090.0, 2440.0),  # a
        (530.0, 1840.0, 2480.0),  # e
        (390.0, 1990.0, 2550.0),  # i
        (570.0, 840.0, 2410.0),  # o
        (440.0, 1020.0, 2240.0),  # u
        (660.0, 1720.0, 2410.0),  # ae
    ],
    dtype=np.float32,
)


# Utterances are rendered in blocks of about this many samples. Scratch arrays of a 2 s block stay
# in the CPU cache (measured: about twice as fast as one pass over a 15 s utterance), and a
# 10,000-character request (over ten minutes of audio) needs no gigabyte of temporaries.
_BLOCK_SAMPLES = 2 * SAMPLE_RATE


def synthesize(text: str, voice: Timbre | str, *, speed: float = 1.0) -> np.ndarray:
    """Return mono float32 samples at SAMPLE_RATE for `text` spoken with the timbre `voice`.

    A string is a seed for `timbre_for` (premade voices, benchmarks).
    """
    timbre = timbre_for(voice) if isinstance(voice, str) else voice
    knobs = synthesis_parameters(timbre)
    speed = min(max(speed, 0.5), 2.0)
    content_hash = hashlib.sha256(f"{timbre.key()}\x00{speed}\x00{text}".encode("utf-8")).digest()
    rng = np.random.default_rng(int.from_bytes(content_hash[:8], "big"))

    durations, voiced_list = _segments(text, speed, rng)
    voiced = np.asarray(voiced_list)
    lengths = np.maximum(1, np.round(np.asarray(durations) * SAMPLE_RATE).astype(np.int64))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    n_total, n_seg = int(lengths.sum()), len(lengths)

    # Per-syllable choices, all drawn before rendering so the block size cannot change the result.
    # Pitch offsets are centred (median 0) and every contour below is zero-mean, so the median
    # pitch of any utterance stays at the timbre's median: that keeps two voices reliably distinguishable.
    offsets = rng.uniform(-1.0, 1.0, n_seg)
    offsets -= np.median(offsets[voiced])
    syllables = {
        "pitch": (knobs.f0_hz * (1.0 + knobs.pitch_spread * offsets)).astype(np.float32),
        "formants": _VOWELS[rng.integers(0, len(_VOWELS), n_seg)] * np.float32(knobs.formant_scale),
        "gain": (rng.uniform(0.7, 1.0, n_seg) * voiced).astype(np.float32),
        "burst": (rng.uniform(0.0, 1.0, n_seg) < 0.5) & voiced,
    }

    out = np.empty(n_total, dtype=np.float32)
    # A block begins with the segment that contains each multiple of _BLOCK_SAMPLES.
    block_starts = np.unique(np.searchsorted(starts, np.arange(0, n_total, _BLOCK_SAMPLES), side="right") - 1)
    phase = 0.0
    for first, last in zip(block_starts, [*block_starts[1:], n_seg]):
        phase = _render_block(out, range(first, last), starts, lengths, syllables, knobs, rng, phase)
    np.clip(out, -0.99, 0.99, out=out)
    return out


def _render_block(out, segments, starts, lengths, syllables, knobs, rng, phase_carry: float) -> float:
    """Render `segments` into `out`; returns the glottal phase to carry into the next block."""
    f32 = np.float32
    seg_index = np.repeat(np.arange(segments.start, segments.stop), lengths[segments.start : segments.stop])
    begin, n = int(starts[segments.start]), len(seg_index)
    sample = np.arange(begin, begin + n)
    pos = (sample - starts[seg_index]).astype(f32)  # offset inside the segment
    seg_len = lengths[seg_index].astype(f32)
    rel = pos / seg_len  # 0..1 inside the segment
    progress = sample.astype(f32) / f32(len(out))  # 0..1 over the utterance

    # Pitch: per-syllable level, a gentle declination over the utterance and a rise-fall inside
    # each syllable, as in read speech.
    rise_fall = 1.0 + 0.03 * (np.sin(f32(np.pi) * rel) - f32(2 / np.pi))
    f0 = syllables["pitch"][seg_index] * (1.03 - 0.06 * progress) * rise_fall
    # Time since the start of the current glottal period, from one cumulative phase array.
    phase = phase_carry + np.cumsum(f0 / f32(SAMPLE_RATE), dtype=np.float64)
    tau = (phase - np.floor(phase)).astype(f32) / f0  # floor is ~10x faster than % here

    # Formant-wave-function synthesis: every glottal period excites each formant as a damped
    # sinusoid. It costs a few vector ops per formant and gives harmonics at k*f0 shaped by the
    # formants, without any filtering pass. Formants change per syllable (the "vowel").
    voice = np.zeros(n, dtype=f32)
    gains = [(k + 1) ** -(1.0 + knobs.tilt) for k in range(3)]
    for k, gain in enumerate(gains):
        centre = syllables["formants"][:, k][seg_index]
        # Below tilt 0.2 only the gains change: narrower bandwidths would ring into the next period.
        bandwidth = f32(50.0 + 40.0 * max(knobs.tilt, 0.2) * (k + 1))
        voice += f32(gain) * np.exp(-f32(np.pi) * bandwidth * tau) * np.sin(f32(2 * np.pi) * centre * tau)

    # Envelope: raised-cosine attack/release per syllable, zero in pauses.
    attack = np.clip(pos / f32(0.025 * SAMPLE_RATE), 0.0, 1.0)
    release = np.clip((seg_len - pos) / f32(0.045 * SAMPLE_RATE), 0.0, 1.0)
    envelope = np.sin(f32(0.5 * np.pi) * np.minimum(attack, release)) ** 2 * syllables["gain"][seg_index]

    # Aspiration (breathiness) and a short consonant-like burst at the start of half of the
    # syllables; noise is kept low because it makes the MP3 encoder work much harder. A fixed
    # scale (not the block's peak) keeps the loudness identical across blocks.
    noise_level = f32(knobs.noise) * envelope
    noise_level += np.where(syllables["burst"][seg_index] & (pos < f32(0.03 * SAMPLE_RATE)), f32(0.08), f32(0.0))
    out[begin : begin + n] = voice * envelope * f32(0.8 / sum(gains)) + rng.standard_normal(n, dtype=f32) * noise_level
    return float(phase[-1] % 1.0)


def encode(
    samples: np.ndarray, audio_format: str, sample_rate: int = SAMPLE_RATE, *, bitrate_kbps: int | None = None
) -> bytes:
    """Encode mono float samples given at `sample_rate`: "mp3", "wav" (16-bit), "pcm" (raw s16le), "ulaw", "alaw".

    "mp3" with `bitrate_kbps` is constant-bitrate MPEG audio at exactly that rate (what an `mp3_<rate>_<kbps>`
    output format promises); without it, a fast low-quality VBR encode at the samples' own rate.
    """
    if audio_format == "mp3" and bitrate_kbps is not None:
        return encode_mp3_cbr(samples, sample_rate, sample_rate, bitrate_kbps)
    buffer = io.BytesIO()
    if audio_format == "mp3":
        # Low-quality VBR (about 30 kbit/s) is the fastest setting libsndfile offers.
        sf.write(buffer, samples, sample_rate, format="MP3", bitrate_mode="VARIABLE", compression_level=0.9)
    elif audio_format == "wav":
        sf.write(buffer, samples, sample_rate, format="WAV", subtype="PCM_16")
    elif audio_format == "pcm":
        sf.write(buffer, samples, sample_rate, format="RAW", subtype="PCM_16", endian="LITTLE")
    elif audio_format in ("ulaw", "alaw"):
        sf.write(buffer, samples, sample_rate, format="RAW", subtype=audio_format.upper())
    else:
        raise ValueError(f"unsupported audio format {audio_format!r}")
    return buffer.getvalue()


# LAME's speed/quality knob (0 best … 9 fastest). Encoding dominates a reply's cost, and at 64 kbit/s or more
# the fastest setting is transparent for this synthetic speech.
MP3_LAME_COMPRESSION_LEVEL = 9


def encode_mp3_cbr(samples: np.ndarray, sample_rate: int, out_rate: int, bitrate_kbps: int) -> bytes:
    """Constant-bitrate MP3 at `out_rate` Hz and `bitrate_kbps` (ffmpeg's libmp3lame through PyAV).

    PyAV rather than libsndfile because libsndfile only offers a 0–1 "compression level" that maps to a
    bitrate per MPEG version and rounds, while this must be exactly the advertised format; resampling goes
    through ffmpeg's swresample (a proper low-pass, unlike `resample`'s linear interpolation). The MP3 starts
    with a LAME Info tag, so decoders know the exact length.
    """
    import av  # only here: the emulator's other formats need no ffmpeg

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp3") as output:
        stream = output.add_stream("libmp3lame", rate=out_rate, layout="mono")
        stream.bit_rate = bitrate_kbps * 1000
        # No bit reservoir: libsndfile's mpg123 decoder, read in blocks as clones.audio does, loses the
        # reservoir at some block boundaries and logs "part2_3_length ... too large" (a dropped granule).
        stream.codec_context.options = {"compression_level": str(MP3_LAME_COMPRESSION_LEVEL), "reservoir": "0"}
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.float32)[None, :], format="flt", layout="mono"
        )
        frame.sample_rate = sample_rate
        resampler = av.AudioResampler(
            format=stream.codec_context.format, layout="mono", rate=out_rate, frame_size=stream.codec_context.frame_size
        )
        for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(chunk):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return buffer.getvalue()


def resample(samples: np.ndarray, rate: int) -> np.ndarray:
    """Linear-interpolation resampling; good enough for PCM/WAV outputs at other rates."""
    if rate == SAMPLE_RATE:
        return samples
    n_out = max(1, int(round(len(samples) * rate / SAMPLE_RATE)))
    positions = np.arange(n_out) * (SAMPLE_RATE / rate)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


class PendingLandmarks:
    """The landmarks of one render, computed at most once and only when something needs them.

    The fingerprint costs about half an MP3 encode (mostly Praat's resampler; a cheaper linear resampler
    was tried and its landmarks no longer match a training copy of the reply), and a client never needs
    it: only a later sample upload that is matched against the renders does (voiceclone.emulator.lineage,
    which also fingerprints a backlog in the background). So a render keeps only its recipe (text, timbre,
    speed; synthesis is deterministic) and `result()` re-synthesises and fingerprints on first use. The
    value is the same whenever it is computed: matching stays deterministic.
    """

    def __init__(self, text: str, timbre: Timbre, speed: float) -> None:
        self._recipe: tuple | None = (text, timbre, speed)
        self._value: Landmarks | None = None
        self._lock = threading.Lock()

    @property
    def is_done(self) -> bool:
        return self._value is not None

    def result(self) -> Landmarks:
        with self._lock:
            if self._value is None:
                text, timbre, speed = self._recipe
                self._value = landmarks(synthesize(text, timbre, speed=speed), SAMPLE_RATE)
                self._recipe = None
            return self._value


@dataclass(frozen=True)
class Rendered:
    data: bytes
    duration_secs: float
    # Spectral-peak landmarks of the speech (fidelity.fingerprint), so the emulator recognises its own
    # output when it comes back as a voice sample (voiceclone.emulator.lineage). Pending until computed.
    fingerprint: PendingLandmarks | None = None

    @property
    def landmarks(self) -> Landmarks | None:
        """The landmarks, computed now if the background worker has not got to them yet."""
        return self.fingerprint.result() if self.fingerprint is not None else None


# Rendered replies by (text, timbre, speed, format, rate). Output is deterministic, so repeated
# requests (previews, retries, tests) skip the encoder; bounded by total size.
_CACHE_MAX_BYTES = 32 * 1024 * 1024
_cache: OrderedDict[tuple, Rendered] = OrderedDict()
_cache_bytes = 0
_cache_lock = threading.Lock()


def render(
    text: str,
    voice: Timbre | str,
    *,
    speed: float = 1.0,
    audio_format: str = "mp3",
    sample_rate: int = SAMPLE_RATE,
    bitrate_kbps: int | None = None,
) -> Rendered:
    """Synthesise and encode at `sample_rate` (mp3 with `bitrate_kbps`: constant bitrate).

    The landmarks are left pending (`Rendered.fingerprint`), computed when first needed.

    "mp3" without a bitrate keeps the legacy fast path: VBR at SAMPLE_RATE whatever `sample_rate` says.
    """
    global _cache_bytes
    voice = timbre_for(voice) if isinstance(voice, str) else voice
    key = (text, voice.key(), speed, audio_format, sample_rate, bitrate_kbps)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    samples = synthesize(text, voice, speed=speed)
    if audio_format == "mp3" and bitrate_kbps is not None:
        data = encode_mp3_cbr(samples, SAMPLE_RATE, sample_rate, bitrate_kbps)
    elif audio_format == "mp3":
        data = encode(samples, "mp3")
    else:
        data = encode(resample(samples, sample_rate), audio_format, sample_rate)
    rendered = Rendered(data, round(seconds(samples), 3), PendingLandmarks(text, voice, speed))
    with _cache_lock:
        if key not in _cache and len(data) <= _CACHE_MAX_BYTES // 4:
            _cache[key] = rendered
            _cache_bytes += len(data)
            while _cache_bytes > _CACHE_MAX_BYTES:
                _, evicted = _cache.popitem(last=False)
                _cache_bytes -= len(evicted.data)
    return rendered


def probe_duration(data: bytes) -> float | None:
    """Duration in seconds if libsndfile can read the bytes (wav, mp3, ogg, flac, ...), else None."""
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None
    if info.samplerate <= 0 or info.frames <= 0:
        return None
    return round(info.frames / info.samplerate, 3)


# Container signatures, because SDK uploads of raw bytes arrive as application/octet-stream.
_MAGIC = (
    (b"ID3", "audio/mpeg"),
    (b"RIFF", "audio/wav"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"\x1a\x45\xdf\xa3", "audio/webm"),
)


def sniff_mime(data: bytes, declared: str | None) -> str:
    """Best guess of an upload's audio MIME type from its first bytes, falling back to the declared one."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        return "audio/mpeg"  # bare MPEG frame sync
    if data[4:8] == b"ftyp":
        return "audio/mp4"
    if declared and declared != "application/octet-stream":
        return declared
    return "application/octet-stream"


def seconds(samples: np.ndarray) -> float:
    return len(samples) / SAMPLE_RATE


__all__ = [
    "SAMPLE_RATE",
    "PendingLandmarks",
    "Rendered",
    "Timbre",
    "encode",
    "encode_mp3_cbr",
    "probe_duration",
    "render",
    "resample",
    "seconds",
    "sniff_mime",
    "synthesize",
    "timbre_for",
]
