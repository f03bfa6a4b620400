"""Recognise and decode uploaded audio by its content, never by its name or declared type.

`probe_audio` answers "is this a recording we accept, and how long is it?"; `decode_audio` returns the
samples for analysis. Both sniff the container from its magic bytes, then decode it for real: a header
alone proves nothing (a text file renamed to .wav, a truncated upload, random bytes that happen to start
with an MPEG frame sync).

Decoders: libsndfile (through soundfile) reads WAV, MP3, OGG Vorbis/Opus and FLAC. It cannot read the
WebM and M4A that browsers' MediaRecorder and phones produce, so those two containers, and only those,
go through PyAV (ffmpeg's libraries, shipped in its wheel). PyAV is always told which demuxer to use
rather than left to probe, so an upload can never select one of ffmpeg's playlist demuxers (HLS, concat)
that would open other files or URLs.

Size and duration limits are the caller's business (`AudioInfo.duration_s`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np
import soundfile as sf

from voiceclone.errors import UnsupportedAudio

__all__ = ["AudioInfo", "AudioProbeError", "audio_format_of", "decode_audio", "probe_and_decode", "probe_audio"]

SUPPORTED_LABEL = "WAV, MP3, OGG, WebM or M4A"

_CONTENT_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "webm": "audio/webm",
    "m4a": "audio/mp4",
    "flac": "audio/flac",
}
_DISPLAY_NAMES = {"wav": "WAV", "mp3": "MP3", "ogg": "OGG", "webm": "WebM", "m4a": "M4A", "flac": "FLAC"}
# What libsndfile must report after opening, so a file sniffed as one format is not accepted as another.
_SNDFILE_FORMATS = {"wav": {"WAV", "WAVEX", "RF64"}, "mp3": {"MP3"}, "ogg": {"OGG"}, "flac": {"FLAC"}}
# ffmpeg demuxer names; forcing them keeps ffmpeg from probing untrusted bytes (see module docstring).
_AV_DEMUXERS = {"webm": "matroska", "m4a": "mov"}
# ISO-BMFF brands of still images (HEIC, AVIF): `ftyp` at offset 4, but never audio.
_IMAGE_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1", b"avif", b"avis"}

# A container that states its length and yields less than this share of it was cut short in transit.
_TRUNCATION_TOLERANCE = 0.05
_TRUNCATION_MIN_S = 0.1
_BLOCK_FRAMES = 1 << 16
_WAV_MAX_CHUNKS_BEFORE_DATA = 64  # real files have a handful (fmt, fact, LIST, bext); bounds the walk
# A few megabytes of FLAC or Opus can hold hours of near-silence. Decoding stops here, far above any
# upload limit, so a crafted file costs bounded time and memory (≈ 230 MB of float32 at 48 kHz).
MAX_DECODE_S = 20 * 60
# Below the telephone band's 8 kHz no speech is intelligible; callers refuse such uploads (the
# analysis, prosody and the provider all assume speech-capable sample rates).
MIN_SPEECH_SAMPLE_RATE_HZ = 8000


class AudioProbeError(UnsupportedAudio):
    """The bytes are not audio we accept. `code` is `empty`, `unsupported_format`, `undecodable`, or
    `too_long` when decoding passed MAX_DECODE_S (a safety stop; upload limits are the caller's)."""

    def __init__(self, message: str, code: str):
        super().__init__(message, code=code)


@dataclass(frozen=True)
class AudioInfo:
    format: str  # "wav" | "mp3" | "ogg" | "webm" | "m4a" | "flac"
    content_type: str
    duration_s: float
    sample_rate: int
    channels: int
    extension: str


def probe_audio(data: bytes, *, filename: str = "") -> AudioInfo:
    """Identify `data` by content and decode it fully to prove it plays and to measure its duration.

    `filename` only appears in error messages. Raises AudioProbeError with code `empty`,
    `unsupported_format` (not a container we accept) or `undecodable` (looks like one, does not decode,
    holds no audio, or is shorter than its own header says), or `too_long` past MAX_DECODE_S.
    """
    info, _ = _load(data, filename=filename, keep_samples=False)
    return info


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """Decode to float32 mono (channels averaged) clipped to [-1, 1], with its sample rate.

    Raises AudioProbeError like `probe_audio`.
    """
    info, samples = _load(data, filename="", keep_samples=True)
    return samples, info.sample_rate


def probe_and_decode(data: bytes, *, filename: str = "") -> tuple[AudioInfo, np.ndarray]:
    """`probe_audio` and `decode_audio` in one decoding pass, for callers that need both."""
    return _load(data, filename=filename, keep_samples=True)


def audio_format_of(data: bytes) -> str | None:
    """The container `data` starts like ("wav", "mp3", "ogg", "flac", "webm", "m4a"), without decoding.

    A cheap first check for many files (voice kit import); only `probe_audio` proves that a file plays.
    """
    found, _certain = _sniff(data)
    return found


# --- sniffing -------------------------------------------------------------------------------------------


def _sniff(data: bytes) -> tuple[str | None, bool]:
    """Return (format, is_certain). `is_certain` is False for a bare MPEG frame sync (11 bits of magic)."""
    head = data[:64]
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav", True
    if head[:4] == b"OggS":
        return "ogg", True
    if head[:4] == b"fLaC":
        return "flac", True
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm", True
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return (None, True) if head[8:12] in _IMAGE_BRANDS else ("m4a", True)
    if head[:3] == b"ID3" and len(head) >= 10:
        # An ID3v2 tag usually precedes MP3 frames, occasionally FLAC.
        after = 10 + _syncsafe(head[6:10]) + (10 if head[5] & 0x10 else 0)
        if data[after : after + 4] == b"fLaC":
            return "flac", True
        return "mp3", True
    if _mpeg_frame_length(head) is not None:
        return "mp3", _has_second_mpeg_frame(data)
    return None, False


def _syncsafe(raw: bytes) -> int:
    return (raw[0] << 21) | (raw[1] << 14) | (raw[2] << 7) | raw[3]


_MPEG_BITRATES_KBPS = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame_length(header: bytes) -> int | None:
    """Byte length of the MPEG audio frame whose 4-byte header starts `header`, or None if not a header.

    0 means a valid header in free format (length unknown). Rejects the reserved values that make
    random bytes after 0xFFE look like a frame sync, and the ADTS (AAC) sync, whose layer bits are 00.
    """
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version_bits = (header[1] >> 3) & 0x3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5, 1: reserved
    layer = 4 - ((header[1] >> 1) & 0x3)  # bits 11: layer I, 10: II, 01: III, 00: reserved
    bitrate_index = header[2] >> 4
    rate_index = (header[2] >> 2) & 0x3
    if version_bits == 1 or layer == 4 or bitrate_index == 15 or rate_index == 3:
        return None
    if bitrate_index == 0:
        return 0
    table_version = 1 if version_bits == 3 else 2
    bitrate = _MPEG_BITRATES_KBPS[(table_version, layer)][bitrate_index] * 1000
    sample_rate = _MPEG_SAMPLE_RATES[version_bits][rate_index]
    padding = (header[2] >> 1) & 0x1
    if layer == 1:
        return (12 * bitrate // sample_rate + padding) * 4
    if layer == 3 and table_version == 2:
        return 72 * bitrate // sample_rate + padding
    return 144 * bitrate // sample_rate + padding


def _has_second_mpeg_frame(data: bytes) -> bool:
    length = _mpeg_frame_length(data[:4])
    return bool(length) and _mpeg_frame_length(data[length : length + 4]) is not None


def _has_mp3_length_tag(data: bytes) -> bool:
    """Xing/Info/VBRI tags state the exact frame count; without one libsndfile only estimates it."""
    start = 10 + _syncsafe(data[6:10]) if data[:3] == b"ID3" and len(data) >= 10 else 0
    first_frame = data[start : start + 4096]
    return any(tag in first_frame for tag in (b"Xing", b"Info", b"VBRI"))


# --- decoding -------------------------------------------------------------------------------------------


class _Undecodable(Exception):
    """Internal: the sniffed container did not decode."""


class _TooLong(Exception):
    """Internal: decoding passed MAX_DECODE_S."""


@dataclass
class _Decoded:
    sample_rate: int
    channels: int
    frames: int
    declared_frames: int | None  # what the container says, when it says it reliably
    samples: np.ndarray | None


def _load(data: bytes, *, filename: str, keep_samples: bool) -> tuple[AudioInfo, np.ndarray | None]:
    if not data:
        raise AudioProbeError("The file is empty.", "empty")
    subject = f"“{filename}”" if filename else "The file"
    fmt, is_certain = _sniff(data)
    if fmt is None:
        raise AudioProbeError(f"{subject} is not a supported audio file ({SUPPORTED_LABEL}).", "unsupported_format")
    undecodable = AudioProbeError(
        f"{subject} looks like {_DISPLAY_NAMES[fmt]} but could not be decoded.", "undecodable"
    )
    decode = _decode_pyav if fmt in _AV_DEMUXERS else _decode_sndfile
    try:
        decoded = decode(data, fmt, keep_samples)
    except _TooLong:
        raise AudioProbeError(
            f"{subject} is longer than {MAX_DECODE_S // 60} minutes, too long to be a voice sample.", "too_long"
        ) from None
    except _Undecodable:
        if not is_certain:
            # Only a frame sync matched and no second frame follows: not an MP3 at all.
            raise AudioProbeError(
                f"{subject} is not a supported audio file ({SUPPORTED_LABEL}).", "unsupported_format"
            ) from None
        raise undecodable from None
    if decoded.frames == 0 or decoded.sample_rate <= 0:
        raise undecodable
    if decoded.declared_frames:
        missing = decoded.declared_frames - decoded.frames
        if missing > max(_TRUNCATION_TOLERANCE * decoded.declared_frames, _TRUNCATION_MIN_S * decoded.sample_rate):
            raise undecodable
    info = AudioInfo(
        format=fmt,
        content_type=_CONTENT_TYPES[fmt],
        duration_s=decoded.frames / decoded.sample_rate,
        sample_rate=decoded.sample_rate,
        channels=decoded.channels,
        extension=f".{fmt}",
    )
    return info, decoded.samples


def _decode_sndfile(data: bytes, fmt: str, keep_samples: bool) -> _Decoded:
    # soundfile reports libsndfile's failures as SoundFileError; its MP3 decoder (mpg123) gives up on
    # garbage after a bounded resync, so a decode never hangs, and an undecodable stream errors out.
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            if f.format not in _SNDFILE_FORMATS[fmt]:
                raise _Undecodable
            channels, sample_rate = f.channels, f.samplerate
            declared = _sndfile_declared_frames(data, fmt, f)
            block = np.empty((_BLOCK_FRAMES, channels), dtype=np.float32)
            parts: list[np.ndarray] = []
            frames = 0
            while True:
                chunk = f.read(_BLOCK_FRAMES, dtype="float32", always_2d=True, out=block)
                if not len(chunk):
                    break
                frames += len(chunk)
                if frames > MAX_DECODE_S * sample_rate:
                    raise _TooLong
                if keep_samples:
                    parts.append(_downmix(chunk))
    except sf.SoundFileError as exc:
        raise _Undecodable from exc
    samples = _join(parts) if keep_samples else None
    return _Decoded(sample_rate, channels, frames, declared, samples)


def _sndfile_declared_frames(data: bytes, fmt: str, f: sf.SoundFile) -> int | None:
    """The length the file itself states, where libsndfile's frame count can be trusted for that.

    For WAV libsndfile shrinks its count to the bytes present, so the data chunk's size is read here.
    For MP3 the count is exact only with a Xing/Info/VBRI tag; otherwise it is a bitrate estimate.
    OGG and FLAC truncation already makes libsndfile fail.
    """
    if fmt == "mp3":
        return f.frames if _has_mp3_length_tag(data) else None
    if fmt == "wav" and data[:4] == b"RIFF":
        return _wav_declared_frames(data)
    return None


def _wav_declared_frames(data: bytes) -> int | None:
    block_align = None
    pos = 12
    for _ in range(_WAV_MAX_CHUNKS_BEFORE_DATA):
        if pos + 8 > len(data):
            break
        chunk_id, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if chunk_id == b"fmt " and pos + 22 <= len(data):
            block_align = int.from_bytes(data[pos + 20 : pos + 22], "little")
        elif chunk_id == b"data":
            # Streaming writers leave 0 or 0xFFFFFFFF when they cannot seek back: length unknown.
            if not block_align or size in (0, 0xFFFFFFFF):
                return None
            return size // block_align
        pos += 8 + size + (size & 1)
    return None


def _decode_pyav(data: bytes, fmt: str, keep_samples: bool) -> _Decoded:
    try:
        with av.open(io.BytesIO(data), mode="r", format=_AV_DEMUXERS[fmt]) as container:
            if not container.streams.audio:
                raise _Undecodable
            stream = container.streams.audio[0]
            declared = None
            if stream.duration and stream.time_base and stream.codec_context.sample_rate:
                # Matroska from MediaRecorder carries no duration at all; MP4 always does.
                declared = round(float(stream.duration * stream.time_base) * stream.codec_context.sample_rate)
            resampler = None
            parts: list[np.ndarray] = []
            frames = channels = sample_rate = 0
            for frame in container.decode(stream):
                if resampler is None:
                    sample_rate, channels = frame.sample_rate, frame.layout.nb_channels
                    # Planar float keeps every channel apart for our own downmix, and pins the rate
                    # should a stream change it midway. A passthrough when the codec decodes to fltp.
                    resampler = av.AudioResampler(format="fltp", layout=frame.layout, rate=sample_rate)
                for planar in resampler.resample(frame):
                    frames += planar.samples
                    if frames > MAX_DECODE_S * sample_rate:
                        raise _TooLong
                    if keep_samples:
                        parts.append(planar.to_ndarray().mean(axis=0, dtype=np.float32))
            if resampler is not None:
                for planar in resampler.resample(None):  # flush what a real conversion buffered
                    frames += planar.samples
                    if keep_samples:
                        parts.append(planar.to_ndarray().mean(axis=0, dtype=np.float32))
    except (av.FFmpegError, ValueError) as exc:
        raise _Undecodable from exc
    samples = _join(parts) if keep_samples else None
    return _Decoded(sample_rate, channels, frames, declared, samples)


def _downmix(block: np.ndarray) -> np.ndarray:
    if block.shape[1] == 1:
        return block[:, 0].copy()
    return block.mean(axis=1, dtype=np.float32)


def _join(parts: list[np.ndarray]) -> np.ndarray:
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    # Lossy decoders overshoot full scale around clipped peaks; the contract is [-1, 1].
    np.clip(samples, -1.0, 1.0, out=samples)
    return samples.astype(np.float32, copy=False)
