"""Output formats are honoured (issue 12, item 7): the rate and bitrate a format names, decodable without errors."""

from __future__ import annotations

import io

import av
import pytest

from clones.analysis import analyse_bytes

TEXT = "Hello there, friend. How was the trip to the coast?"


def _tts(http, voice_id: str, output_format: str | None, *, stream: bool = False):
    suffix = "/stream" if stream else ""
    params = {"output_format": output_format} if output_format else {}
    return http.post(f"/v1/text-to-speech/{voice_id}{suffix}", params=params, json={"text": TEXT})


def _mp3_stream_info(data: bytes) -> tuple[int, int]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        return stream.sample_rate, stream.bit_rate


@pytest.mark.parametrize(
    "output_format, rate, kbps",
    [("mp3_22050_32", 22050, 32), ("mp3_24000_48", 24000, 48), ("mp3_44100_64", 44100, 64),
     ("mp3_44100_96", 44100, 96), ("mp3_44100_128", 44100, 128), ("mp3_44100_192", 44100, 192)],
)
def test_mp3_formats_have_their_rate_and_bitrate_and_decode_cleanly(
    emulator_http, create_voice, capfd, output_format, rate, kbps
):
    voice_id = create_voice()
    capfd.readouterr()

    data = _tts(emulator_http, voice_id, output_format).content
    streamed = b"".join(_tts(emulator_http, voice_id, output_format, stream=True).iter_bytes())
    analysis = analyse_bytes(data)  # the project's decoder (libsndfile's mpg123) and clip analysis

    assert _mp3_stream_info(data) == (rate, kbps * 1000)
    assert _mp3_stream_info(streamed) == (rate, kbps * 1000)
    assert analysis.duration_s == pytest.approx(len(TEXT) / 13, rel=0.35)
    # libmpg123 writes its complaints ("part2_3_length ... too large") straight to file descriptor 2.
    err = capfd.readouterr().err
    assert "mpg123" not in err and "part2_3_length" not in err


def test_default_format_is_mp3_44100_128(emulator_http, create_voice):
    voice_id = create_voice()

    response = _tts(emulator_http, voice_id, None)

    assert response.headers["content-type"] == "audio/mpeg"
    assert _mp3_stream_info(response.content) == (44100, 128_000)


@pytest.mark.parametrize("output_format, rate, bytes_per_sample", [
    ("pcm_16000", 16000, 2), ("pcm_22050", 22050, 2), ("pcm_24000", 24000, 2), ("pcm_44100", 44100, 2),
    ("ulaw_8000", 8000, 1), ("alaw_8000", 8000, 1),
])
def test_raw_formats_have_their_rate(emulator_http, create_voice, output_format, rate, bytes_per_sample):
    voice_id = create_voice()
    reference = _tts(emulator_http, voice_id, "pcm_8000").content  # 2 bytes per sample at 8 kHz

    data = _tts(emulator_http, voice_id, output_format).content

    seconds = len(reference) / 2 / 8000
    assert len(data) / bytes_per_sample / rate == pytest.approx(seconds, abs=0.01)


def test_wav_format_says_its_rate(emulator_http, create_voice):
    import soundfile as sf

    voice_id = create_voice()
    info = sf.info(io.BytesIO(_tts(emulator_http, voice_id, "wav_24000").content))

    assert (info.samplerate, info.subtype) == (24000, "PCM_16")


def test_opus_is_a_clear_400_and_an_unknown_format_a_422(emulator_http, create_voice):
    voice_id = create_voice()

    opus = _tts(emulator_http, voice_id, "opus_48000_64")
    odd_bitrate = _tts(emulator_http, voice_id, "mp3_44100_100")

    assert opus.status_code == 400
    assert opus.json()["detail"]["status"] == "unsupported_output_format"
    assert odd_bitrate.status_code == 422
    assert odd_bitrate.json()["detail"][0]["loc"] == ["query", "output_format"]
    assert "mp3_44100_128" in odd_bitrate.json()["detail"][0]["msg"]
