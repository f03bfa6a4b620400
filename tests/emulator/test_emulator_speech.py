"""Text-to-speech and speech-to-text over plain HTTP: real MP3, durations, timbre, quota, streaming."""

import io
import math
import re
import threading

import httpx
import numpy as np
import pytest
import soundfile as sf

SENTENCE = "The quick brown fox jumps over the lazy dog while the narrator keeps on reading aloud."
TEXT_20 = "Hello there, friend."
TEXT_200 = (
    "It was a bright cold day in April, and the clocks were striking thirteen. Winston slipped quickly through "
    "the glass doors of Victory Mansions, though not quickly enough to keep out a swirl of ash too."
)


def _tts(http, voice_id, text, *, stream=False, **query):
    suffix = "/stream" if stream else ""
    body = {"text": text, "model_id": "eleven_multilingual_v2"}
    return http.post(f"/v1/text-to-speech/{voice_id}{suffix}", params=query, json=body)


def _decode(data: bytes) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    return samples, rate


def _median_pitch_hz(samples: np.ndarray, rate: int, fmin: float = 65.0, fmax: float = 350.0) -> float:
    """Autocorrelation pitch of the loud 40 ms frames, median over the clip."""
    frame, hop = int(0.04 * rate), int(0.02 * rate)
    low_lag, high_lag = int(rate / fmax), int(rate / fmin)
    frames = np.lib.stride_tricks.sliding_window_view(samples, frame)[::hop]
    rms = np.sqrt((frames**2).mean(axis=1))
    voiced = frames[rms > 0.3 * rms.max()]
    voiced = voiced - voiced.mean(axis=1, keepdims=True)
    power = np.abs(np.fft.rfft(voiced, 2 * frame, axis=1)) ** 2
    autocorrelation = np.fft.irfft(power, axis=1)[:, :frame]
    autocorrelation /= autocorrelation[:, :1]
    lags = low_lag + np.argmax(autocorrelation[:, low_lag:high_lag], axis=1)
    strong = autocorrelation[np.arange(len(lags)), lags] > 0.5
    return float(np.median(rate / lags[strong]))


def test_tts_returns_a_decodable_mp3_with_the_documented_headers(emulator_http, create_voice):
    voice_id = create_voice()

    response = _tts(emulator_http, voice_id, TEXT_20)

    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    assert sf.info(io.BytesIO(response.content)).format == "MP3"
    samples, rate = _decode(response.content)
    assert rate == 44100 and samples.ndim == 1  # the default output format is mp3_44100_128
    assert 0.1 < np.abs(samples).max() <= 1.0
    headers = response.headers
    assert re.fullmatch(r"[A-Za-z0-9]{20}", headers["request-id"])
    assert re.fullmatch(r"[A-Za-z0-9]{20}", headers["history-item-id"])
    assert headers["character-cost"] == headers["x-character-count"] == str(len(TEXT_20))
    assert headers["current-concurrent-requests"] == "1"
    assert int(headers["maximum-concurrent-requests"]) >= 1
    assert int(headers["content-length"]) == len(response.content)


def test_duration_follows_text_length(emulator_http, create_voice):
    voice_id = create_voice()

    short, _ = _decode(_tts(emulator_http, voice_id, TEXT_20).content)
    long, rate = _decode(_tts(emulator_http, voice_id, TEXT_200).content)

    short_s, long_s = len(short) / rate, len(long) / rate
    assert long_s > 5 * short_s
    # Narration pace: roughly 12-15 characters per second.
    assert 11 <= len(TEXT_200) / long_s <= 16
    assert 1.0 <= short_s <= 2.5


def test_audio_has_pauses_between_words(emulator_http, create_voice):
    voice_id = create_voice()
    samples, rate = _decode(_tts(emulator_http, voice_id, TEXT_200).content)

    frame = int(0.02 * rate)
    rms = np.sqrt((samples[: len(samples) // frame * frame].reshape(-1, frame) ** 2).mean(axis=1))
    silent = rms < 0.02 * rms.max()
    pauses = np.count_nonzero(np.diff(silent.astype(int)) == 1)

    assert 0.1 < silent.mean() < 0.5
    assert pauses >= 20  # roughly one per word


def test_same_voice_and_text_give_identical_audio(emulator_http, create_voice):
    voice_id = create_voice()

    first = _tts(emulator_http, voice_id, SENTENCE).content
    second = _tts(emulator_http, voice_id, SENTENCE).content

    assert first == second


def test_two_clones_of_the_same_samples_sound_alike_but_not_identical(emulator_http, emulator_control, create_voice,
                                                                      tone):
    samples = [("alice.mp3", tone(1.0), "audio/mpeg")]
    version_1 = create_voice(name="Alice", files=samples)
    version_2 = create_voice(name="Alice", files=samples)
    reported = {v["voice_id"]: v["emulator"]["timbre"]["median_pitch_hz"] for v in emulator_control.state()["voices"]}

    pitch, audio = {}, {}
    for voice_id in (version_1, version_2):
        audio[voice_id] = _tts(emulator_http, voice_id, SENTENCE).content
        pitch[voice_id] = _median_pitch_hz(*_decode(audio[voice_id]))

    for voice_id, measured in pitch.items():
        assert measured == pytest.approx(reported[voice_id], rel=0.04)
        assert measured == pytest.approx(220, rel=0.04)  # the sample's pitch, not a hash of the id
    assert audio[version_1] != audio[version_2]  # two instant clones are near-identical, not identical


def test_adding_samples_in_place_changes_the_timbre(emulator_http, emulator_control, create_voice, tone):
    voice_id = create_voice()  # a 220 Hz sample
    before = _tts(emulator_http, voice_id, SENTENCE).content

    emulator_http.post(
        f"/v1/voices/{voice_id}/edit", data={"name": "Alice"},
        files=[("files", ("g.mp3", tone(frequency_hz=330.0), "audio/mpeg"))],
    )
    after = _tts(emulator_http, voice_id, SENTENCE).content

    assert before != after
    emulator = emulator_control.state()["voices"][0]["emulator"]
    assert emulator["revision"] == 1
    assert 230 < emulator["timbre"]["median_pitch_hz"] < 320  # between the two samples' pitches


def test_characters_are_counted_and_quota_exceeded_is_401(emulator_http, emulator_control, create_voice):
    voice_id = create_voice()
    emulator_control.configure(character_limit=30)

    assert _tts(emulator_http, voice_id, TEXT_20).status_code == 200
    refused = _tts(emulator_http, voice_id, TEXT_20)

    assert refused.status_code == 401
    detail = refused.json()["detail"]
    assert detail["status"] == detail["code"] == "quota_exceeded"
    assert detail["message"] == (
        "This request exceeds your quota of 30. You have 10 credits remaining, "
        "while 20 credits are required for this request."
    )
    subscription = emulator_http.get("/v1/user/subscription").json()
    assert (subscription["character_count"], subscription["character_limit"]) == (20, 30)


def test_text_over_10000_characters_is_400(emulator_http, create_voice):
    voice_id = create_voice()

    response = _tts(emulator_http, voice_id, "a" * 10_001)

    assert response.status_code == 400
    assert response.json()["detail"]["code"] == "max_character_limit_exceeded"
    assert emulator_http.get("/v1/user/subscription").json()["character_count"] == 0


def test_missing_text_is_a_422(emulator_http, create_voice):
    voice_id = create_voice()

    response = emulator_http.post(f"/v1/text-to-speech/{voice_id}", json={"model_id": "eleven_multilingual_v2"})

    assert response.status_code == 422
    assert response.json() == {"detail": [{"loc": ["body", "text"], "msg": "Field required", "type": "missing"}]}


def test_unknown_and_deleted_voices_are_404(emulator_http, create_voice):
    voice_id = create_voice()
    assert _tts(emulator_http, voice_id, TEXT_20).status_code == 200
    emulator_http.delete(f"/v1/voices/{voice_id}")

    after_delete = _tts(emulator_http, voice_id, TEXT_20)
    unknown = _tts(emulator_http, "unknownVoice00000000", TEXT_20)

    assert after_delete.status_code == 404
    assert after_delete.json()["detail"]["message"] == f"A voice with the voice_id {voice_id} was not found."
    assert unknown.json()["detail"]["code"] == "voice_not_found"


def test_premade_voice_can_speak(emulator_http, emulator_control):
    premade_id = emulator_control.state()["premade_voice_ids"][0]

    assert _tts(emulator_http, premade_id, TEXT_20).status_code == 200


def test_stream_sends_the_first_part_before_the_rest_is_rendered(emulator_http, create_voice, monkeypatch):
    """The stream answers like the real API: audio for the first part of the text goes out while the rest
    is still being rendered. Rendering of the second part is held until the client has the first chunk;
    an emulator that rendered the whole clip first would never send it (the hold times out)."""
    from voiceclone.emulator import audio

    voice_id = create_voice()
    first_chunk_read = threading.Event()
    held = {"timed_out": False}
    rendered_texts = []
    render = audio.render

    def render_after_first_chunk(text, *args, **kwargs):
        rendered_texts.append(text)
        if len(rendered_texts) == 2:
            held["timed_out"] = not first_chunk_read.wait(timeout=20)
        return render(text, *args, **kwargs)

    monkeypatch.setattr(audio, "render", render_after_first_chunk)
    body = {"text": TEXT_200, "model_id": "eleven_multilingual_v2"}
    with emulator_http.stream("POST", f"/v1/text-to-speech/{voice_id}/stream", json=body) as response:
        raw = response.iter_raw()
        chunks = [next(raw)]
        first_chunk_read.set()
        chunks += [chunk for chunk in raw if chunk]
        headers = response.headers
    monkeypatch.setattr(audio, "render", render)

    assert held == {"timed_out": False}
    assert len(rendered_texts) >= 3 and TEXT_200.startswith(rendered_texts[0])
    assert headers["transfer-encoding"] == "chunked"
    assert "content-length" not in headers
    assert headers["content-type"] == "audio/mpeg"
    assert headers["character-cost"] == str(len(TEXT_200))
    # One continuous MP3 stream, as long as the whole clip give or take the pauses between parts.
    streamed, rate = _decode(b"".join(chunks))
    whole, whole_rate = _decode(_tts(emulator_http, voice_id, TEXT_200).content)
    assert 0.9 < len(streamed) / len(whole) < 1.3
    assert rate == whole_rate


def test_streamed_speech_is_transcribed_like_converted_speech(emulator_http, create_voice):
    voice_id = create_voice()
    body = {"text": TEXT_200, "model_id": "eleven_multilingual_v2"}
    with emulator_http.stream("POST", f"/v1/text-to-speech/{voice_id}/stream", json=body) as response:
        streamed = b"".join(response.iter_bytes())

    result = emulator_http.post("/v1/speech-to-text", data={"model_id": "scribe_v1"},
                                files={"file": ("reply.mp3", streamed, "audio/mpeg")})

    assert result.status_code == 200, result.text
    assert result.json()["text"] == TEXT_200


def test_pcm_output_format(emulator_http, create_voice):
    voice_id = create_voice()

    response = _tts(emulator_http, voice_id, TEXT_20, output_format="pcm_16000")

    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/pcm"
    samples = np.frombuffer(response.content, dtype="<i2")
    assert 1.0 < len(samples) / 16000 < 2.5


def test_unknown_output_format_is_a_422(emulator_http, create_voice):
    voice_id = create_voice()

    response = _tts(emulator_http, voice_id, TEXT_20, output_format="flac_1")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "output_format"]


def test_parallel_requests_are_served_concurrently(emulator_server, emulator_http, create_voice):
    voice_id = create_voice()
    results = []

    def speak(index):
        with httpx.Client(base_url=emulator_server.url, headers={"xi-api-key": "k"}) as client:
            results.append(_tts(client, voice_id, f"{SENTENCE} number {index}").status_code)

    threads = [threading.Thread(target=speak, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [200] * 6
    assert emulator_http.get("/v1/user/subscription").json()["character_count"] == sum(
        len(f"{SENTENCE} number {i}") for i in range(6)
    )


# ----------------------------------------------------------------- speech-to-text

def _stt(http, data: bytes, filename="clip.mp3", content_type="audio/mpeg", **fields):
    return http.post(
        "/v1/speech-to-text", data={"model_id": "scribe_v1", **fields}, files={"file": (filename, data, content_type)}
    )


def test_stt_transcribes_audio_the_emulator_spoke(emulator_http, create_voice):
    voice_id = create_voice()
    spoken = _tts(emulator_http, voice_id, SENTENCE).content

    response = _stt(emulator_http, spoken, webhook_metadata="null", entity_detection="null", entity_redaction="null")

    assert response.status_code == 200
    body = response.json()
    assert body["text"] == SENTENCE
    assert body["language_code"] == "eng"
    assert re.fullmatch(r"[A-Za-z0-9]{20}", body["transcription_id"])
    decoded, rate = _decode(spoken)
    assert body["audio_duration_secs"] == pytest.approx(len(decoded) / rate, abs=0.1)
    words = [w["text"] for w in body["words"] if w["type"] == "word"]
    assert " ".join(words) == SENTENCE
    assert {w["type"] for w in body["words"]} == {"word", "spacing"}
    assert all(w["start"] <= w["end"] <= body["audio_duration_secs"] for w in body["words"])


def test_stt_of_foreign_audio_is_a_labelled_deterministic_placeholder(emulator_http, tone):
    recording = tone(3.0, audio_format="WAV", sample_rate=16000)

    first = _stt(emulator_http, recording, filename="user.wav", content_type="audio/wav").json()
    second = _stt(emulator_http, recording, filename="user.wav", content_type="audio/wav").json()

    assert first["text"].startswith("[emulated transcript] ")
    assert first["text"] == second["text"]
    assert first["audio_duration_secs"] == pytest.approx(3.0, abs=0.01)


def test_stt_accepts_any_scribe_model_and_rejects_missing_model_id(emulator_http, tone):
    clip = tone()

    newer = emulator_http.post("/v1/speech-to-text", data={"model_id": "scribe_v2"}, files={"file": ("a.mp3", clip)})
    missing = emulator_http.post("/v1/speech-to-text", files={"file": ("a.mp3", clip)})

    assert newer.status_code == 200
    assert missing.status_code == 422
    assert missing.json()["detail"] == [{"loc": ["body", "model_id"], "msg": "Field required", "type": "missing"}]


@pytest.mark.parametrize("text", ["x", "?!", "a" * 400, "日本語のテキストです。", "Numbers 1 2 3 4 5 6 7 8 9 10."])
def test_unusual_texts_still_render_decodable_audio(emulator_http, create_voice, text):
    voice_id = create_voice()

    response = _tts(emulator_http, voice_id, text)

    assert response.status_code == 200
    samples, rate = _decode(response.content)
    assert len(samples) / rate > 0.2
    assert np.isfinite(samples).all()
