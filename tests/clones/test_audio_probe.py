"""clones.audio: uploads are recognised by their bytes and proven by decoding them."""

import io
import struct

import av
import numpy as np
import pytest
import soundfile as sf

from clones.audio import AudioProbeError, decode_audio, probe_and_decode, probe_audio
from voiceclone.errors import UnsupportedAudio


def _tone(duration_s: float, sample_rate: int, *, channels: int = 1, frequency: float = 220.0) -> np.ndarray:
    t = np.arange(int(round(duration_s * sample_rate))) / sample_rate
    mono = (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    return mono if channels == 1 else np.stack([mono] * channels, axis=1)


def _soundfile_bytes(samples: np.ndarray, sample_rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _pyav_bytes(samples: np.ndarray, sample_rate: int, *, container: str, codec: str, options=None) -> bytes:
    """Encode mono float samples the way a browser (WebM/Opus) or a phone (M4A/AAC) would."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container, options=options or {}) as output:
        stream = output.add_stream(codec, rate=sample_rate, layout="mono")
        frame_size = stream.codec_context.frame_size or 1024
        for start in range(0, len(samples), frame_size):
            frame = av.AudioFrame.from_ndarray(
                samples[None, start : start + frame_size], format="fltp", layout="mono"
            )
            frame.sample_rate = sample_rate
            frame.pts = start
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return buffer.getvalue()


def _wav(duration_s=2.0, sample_rate=16000, channels=1) -> bytes:
    return _soundfile_bytes(_tone(duration_s, sample_rate, channels=channels), sample_rate, "WAV", "PCM_16")


def _mp3(duration_s=2.0, sample_rate=44100) -> bytes:
    return _soundfile_bytes(_tone(duration_s, sample_rate), sample_rate, "MP3")


@pytest.mark.parametrize(
    ("make", "fmt", "content_type", "sample_rate"),
    [
        (lambda: _wav(2.5, 16000), "wav", "audio/wav", 16000),
        (lambda: _mp3(2.5, 44100), "mp3", "audio/mpeg", 44100),
        (lambda: _soundfile_bytes(_tone(2.5, 44100), 44100, "OGG", "VORBIS"), "ogg", "audio/ogg", 44100),
        (lambda: _soundfile_bytes(_tone(2.5, 48000), 48000, "OGG", "OPUS"), "ogg", "audio/ogg", 48000),
        (lambda: _soundfile_bytes(_tone(2.5, 22050), 22050, "FLAC"), "flac", "audio/flac", 22050),
        (
            lambda: _pyav_bytes(_tone(2.5, 48000), 48000, container="webm", codec="libopus"),
            "webm",
            "audio/webm",
            48000,
        ),
        (lambda: _pyav_bytes(_tone(2.5, 44100), 44100, container="ipod", codec="aac"), "m4a", "audio/mp4", 44100),
        (lambda: _pyav_bytes(_tone(2.5, 48000), 48000, container="mp4", codec="aac"), "m4a", "audio/mp4", 48000),
    ],
    ids=["wav", "mp3", "ogg-vorbis", "ogg-opus", "flac", "webm-opus", "m4a-aac", "mp4-aac"],
)
def test_probe_accepts_supported_formats_with_their_duration(make, fmt, content_type, sample_rate):
    info = probe_audio(make(), filename="recording.bin")

    assert info.format == fmt
    assert info.content_type == content_type
    assert info.extension == f".{fmt}"
    assert info.sample_rate == sample_rate
    assert info.channels == 1
    assert info.duration_s == pytest.approx(2.5, abs=0.1)


def test_probe_measures_webm_without_a_duration_header_by_decoding():
    # MediaRecorder writes live WebM: no Duration element, no cues. The length comes from decoding.
    data = _pyav_bytes(_tone(3.0, 48000), 48000, container="webm", codec="libopus", options={"live": "1"})
    with av.open(io.BytesIO(data)) as container:
        assert container.duration is None

    assert probe_audio(data).duration_s == pytest.approx(3.0, abs=0.1)


def test_probe_detects_the_format_from_content_not_the_filename():
    info = probe_audio(_wav(), filename="voice.mp3")
    assert (info.format, info.content_type, info.extension) == ("wav", "audio/wav", ".wav")

    info = probe_audio(_mp3(), filename="voice.wav")
    assert (info.format, info.content_type, info.extension) == ("mp3", "audio/mpeg", ".mp3")


def test_probe_reports_channels_and_decode_downmixes_to_mono():
    data = _wav(1.0, 16000, channels=2)
    assert probe_audio(data).channels == 2

    samples, sample_rate = decode_audio(data)
    assert sample_rate == 16000
    assert samples.dtype == np.float32
    assert samples.ndim == 1
    assert samples.shape == (16000,)
    np.testing.assert_allclose(samples, _tone(1.0, 16000), atol=1e-4)


def test_decode_keeps_lossy_overshoot_within_full_scale():
    t = np.arange(44100) / 44100
    square = np.sign(np.sin(2 * np.pi * 200 * t)).astype(np.float32)  # flat tops at ±1 ring after MP3
    samples, _ = decode_audio(_soundfile_bytes(square, 44100, "MP3"))
    assert samples.max() <= 1.0
    assert samples.min() >= -1.0
    assert np.isclose(np.abs(samples).max(), 1.0)


def test_probe_and_decode_agree_with_the_separate_calls():
    data = _pyav_bytes(_tone(2.0, 48000), 48000, container="webm", codec="libopus")
    info, samples = probe_and_decode(data, filename="a.webm")
    assert info == probe_audio(data, filename="a.webm")
    decoded, sample_rate = decode_audio(data)
    assert sample_rate == info.sample_rate == 48000
    np.testing.assert_array_equal(samples, decoded)
    assert len(samples) / sample_rate == pytest.approx(info.duration_s)


def _assert_refused(data: bytes, code: str, *, filename: str = "upload.wav") -> AudioProbeError:
    with pytest.raises(AudioProbeError) as caught:
        probe_audio(data, filename=filename)
    assert caught.value.code == code
    return caught.value


def test_empty_file_is_refused():
    error = _assert_refused(b"", "empty")
    assert str(error) == "The file is empty."
    assert isinstance(error, UnsupportedAudio)  # mapped to a 400 by the API's handler


PNG = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + bytes(17) + bytes(200)
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" * 20
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(300)
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(300)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(300)
ADTS_AAC = b"\xff\xf1\x50\x80\x02\x1f\xfc" + bytes(300)


@pytest.mark.parametrize(
    "data",
    [b"hello, this is not audio\n" * 40, PNG, PDF, ZIP, HEIC, JPEG, ADTS_AAC],
    ids=["text", "png", "pdf", "zip", "heic", "jpeg", "raw-aac"],
)
def test_non_audio_is_refused_as_unsupported_format(data):
    error = _assert_refused(data, "unsupported_format", filename="notes.wav")
    assert str(error) == "“notes.wav” is not a supported audio file (WAV, MP3, OGG, WebM or M4A)."


def test_unsupported_message_without_a_filename():
    with pytest.raises(AudioProbeError) as caught:
        probe_audio(b"plain text")
    assert str(caught.value) == "The file is not a supported audio file (WAV, MP3, OGG, WebM or M4A)."


def test_random_bytes_after_an_mpeg_frame_sync_are_not_mp3():
    noise = np.random.default_rng(5).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    _assert_refused(b"\xff\xfb\x90\x64" + noise, "unsupported_format")
    _assert_refused(b"\xff\xfb" + noise, "unsupported_format")


def _garbage(size: int, seed: int = 11) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


@pytest.mark.parametrize(
    ("make", "label"),
    [
        (lambda: _wav(2.0)[:44], "WAV"),  # header, no samples
        (lambda: _wav(2.0)[: len(_wav(2.0)) // 2], "WAV"),  # cut in half: data chunk says more
        (lambda: _wav(2.0)[:12] + _garbage(5000), "WAV"),  # RIFF/WAVE then garbage
        (lambda: _mp3(2.0)[: len(_mp3(2.0)) // 2], "MP3"),  # Xing header says 2 s, half is there
        (lambda: b"ID3\x04\x00\x00\x00\x00\x00\x00" + _garbage(20000), "MP3"),
        (lambda: _soundfile_bytes(_tone(2.0, 44100), 44100, "OGG")[:3000], "OGG"),
        (lambda: b"OggS" + _garbage(5000), "OGG"),
        (lambda: _soundfile_bytes(_tone(2.0, 44100), 44100, "FLAC")[:2000], "FLAC"),
        (lambda: b"\x1a\x45\xdf\xa3" + _garbage(5000), "WebM"),
        (lambda: b"\x00\x00\x00\x1cftypM4A " + _garbage(5000), "M4A"),
        (
            lambda: _pyav_bytes(_tone(2.0, 44100), 44100, container="ipod", codec="aac")[:-2000],
            "M4A",
        ),
    ],
    ids=[
        "wav-header-only",
        "wav-truncated",
        "wav-magic-garbage",
        "mp3-truncated",
        "id3-garbage",
        "ogg-truncated",
        "ogg-magic-garbage",
        "flac-truncated",
        "ebml-garbage",
        "ftyp-garbage",
        "m4a-truncated",
    ],
)
def test_broken_audio_is_refused_as_undecodable(make, label):
    error = _assert_refused(make(), "undecodable", filename="take1.wav")
    assert str(error) == f"“take1.wav” looks like {label} but could not be decoded."


def test_decode_audio_refuses_what_probe_refuses():
    with pytest.raises(AudioProbeError) as caught:
        decode_audio(b"not audio at all")
    assert caught.value.code == "unsupported_format"


@pytest.mark.parametrize(
    "make",
    [lambda: _wav(3.0), lambda: _pyav_bytes(_tone(3.0, 48000), 48000, container="webm", codec="libopus")],
    ids=["sndfile", "pyav"],
)
def test_decoding_stops_at_the_safety_limit(monkeypatch, make):
    # A small file can expand to hours of audio; a 3 s clip stands in for it under a 2 s limit.
    monkeypatch.setattr("clones.audio.MAX_DECODE_S", 2)
    with pytest.raises(AudioProbeError) as caught:
        decode_audio(make())
    assert caught.value.code == "too_long"
