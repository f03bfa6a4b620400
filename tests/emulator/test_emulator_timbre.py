"""Emulator voices come from their samples (issue 10, item 1): estimated timbre, lineage drift, planted shifts.

Human-like samples are espeak-ng speakers (tests/espeak.py); emulator speech that comes back as a sample
goes through the project's own training copy (silence trim, loudness normalisation, MP3 re-encode).
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import soundfile as sf

from clones.analysis import encode_mp3, training_copy
from fidelity.features import voice_features
from fidelity.similarity import speaker_similarity
from voiceclone.emulator.audio import SAMPLE_RATE, synthesize
from voiceclone.emulator.lineage import MAX_PENDING
from voiceclone.emulator.timbre import Timbre
from tests.espeak import SENTENCES, require_espeak, speak, speak_wav

REPLIES = (
    "I remember the summer we spent by the lake, when the water was warm until September.",
    "Tell me more about your brother, did he ever finish building that wooden boat of his?",
    "That sounds like a wonderful plan, and I would love to hear how the garden turns out.",
)


def _semitones(a: float, b: float) -> float:
    return 12 * math.log2(a / b)


def _clone(http, name: str, files: list[tuple[str, bytes]]) -> str:
    response = http.post(
        "/v1/voices/add", data={"name": name}, files=[("files", (fn, data, "audio/wav")) for fn, data in files]
    )
    assert response.status_code == 200, response.text
    return response.json()["voice_id"]


def _speak(http, voice_id: str, text: str) -> bytes:
    response = http.post(f"/v1/text-to-speech/{voice_id}", params={"output_format": "mp3_22050_32"}, json={"text": text})
    assert response.status_code == 200, response.text
    return response.content


def _decode(data: bytes) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    return samples, rate


def _as_training_copy(data: bytes) -> bytes:
    """What voiceclone uploads for a stored reply: trimmed, loudness-normalised, re-encoded as MP3."""
    samples, rate = _decode(data)
    out, _ = training_copy(samples, rate)
    return encode_mp3(out, rate)


def _next_generation(http, voice_id: str, name: str) -> str:
    """Clone a voice from nothing but the previous voice's replies (the old retrain behaviour)."""
    copies = [(f"reply{i}.mp3", _as_training_copy(_speak(http, voice_id, text))) for i, text in enumerate(REPLIES)]
    return _clone(http, name, copies)


@pytest.fixture(scope="module")
def speakers():
    require_espeak()
    return {speaker: [speak_wav(text, speaker) for text in SENTENCES[:3]] for speaker in ("m1", "f2")}


def test_timbre_is_estimated_from_each_speakers_samples(emulator_http, emulator_control, speakers):
    clones = {speaker: _clone(emulator_http, speaker, [(f"{speaker}{i}.wav", d) for i, d in enumerate(wavs)])
              for speaker, wavs in speakers.items()}

    for speaker, voice_id in clones.items():
        view = emulator_control.voice_timbre(voice_id)
        measured = [voice_features(*speak(text, speaker)) for text in SENTENCES[:3]]
        speaker_pitch = float(np.median([f.pitch_median_hz for f in measured]))
        assert view["voice_id"] == voice_id
        assert view["generation"] == 0 and view["planted_shift"] is None
        assert abs(_semitones(view["timbre"]["median_pitch_hz"], speaker_pitch)) < 1.0
        # The clone speaks in its speaker's register.
        rendered = voice_features(*_decode(_speak(emulator_http, voice_id, REPLIES[0])))
        assert abs(_semitones(rendered.pitch_median_hz, speaker_pitch)) < 1.5

    male, female = (emulator_control.voice_timbre(clones[s])["timbre"] for s in ("m1", "f2"))
    assert _semitones(female["median_pitch_hz"], male["median_pitch_hz"]) > 6
    assert female["breathiness"] < male["breathiness"]  # espeak's m1 is the rougher voice (lower HNR)


def test_emulator_speech_coming_back_as_samples_is_recognised_and_degrades(emulator_http, emulator_control, speakers):
    original = _clone(emulator_http, "m1", [(f"m1-{i}.wav", d) for i, d in enumerate(speakers["m1"])])
    child = _next_generation(emulator_http, original, "m1 retrained")

    parent_view, child_view = emulator_control.voice_timbre(original), emulator_control.voice_timbre(child)
    parent, timbre = parent_view["timbre"], child_view["timbre"]
    assert (parent_view["generation"], child_view["generation"]) == (0, 1)
    assert child_view["lineage"]["synthetic_share"] == 1.0
    # One default degradation step (voiceclone.emulator.timbre.Degradation): narrower, breathier, flatter.
    assert timbre["pitch_range_st"] == pytest.approx(parent["pitch_range_st"] * 0.85, rel=0.02)
    assert timbre["breathiness"] == pytest.approx(parent["breathiness"] + 0.06, abs=0.01)
    assert timbre["spectral_tilt_db"] == pytest.approx(parent["spectral_tilt_db"] + 0.8, abs=0.05)


def test_replies_are_recognised_whether_fingerprinted_in_the_background_or_on_upload(emulator_http, emulator_control):
    """Render fingerprints are off the request path (pending, a backlog worked off in the background);
    an upload still sees every render made before it, so recognition does not depend on timing."""
    base = _clone(emulator_http, "base", _synthetic_speaker(Timbre(190.0, 5.0, 1.1, -12.0, 0.1)))
    texts = [f"{REPLIES[i % len(REPLIES)]} Number {i}." for i in range(MAX_PENDING + 3)]
    replies = [_speak(emulator_http, base, text) for text in texts]
    # The oldest went to the background worker; the newest are still pending when the upload arrives.
    for name, reply in (("oldest", replies[0]), ("newest", replies[-1])):
        child = _clone(emulator_http, name, [(f"{name}.mp3", _as_training_copy(reply))])
        view = emulator_control.voice_timbre(child)
        assert (view["generation"], view["lineage"]["synthetic_share"]) == (1, 1.0), name


def _synthetic_speaker(timbre: Timbre) -> list[tuple[str, bytes]]:
    """Recordings of a "human" the emulator can clone exactly: its own synthesiser, called directly, so the
    renders are not registered as emulator output. (Emulator speech and espeak-ng differ in every MFCC, so
    the absolute similarity of a clone to espeak originals says nothing; this speaker isolates the drift.)"""
    files = []
    for i, text in enumerate(SENTENCES[3:6]):
        buffer = io.BytesIO()
        sf.write(buffer, synthesize(text, timbre), SAMPLE_RATE, format="WAV", subtype="PCM_16")
        files.append((f"human{i}.wav", buffer.getvalue()))
    return files


def test_deep_lineage_clone_drifts_from_its_originals_and_an_originals_clone_does_not(emulator_http, emulator_control):
    originals = _synthetic_speaker(Timbre(125.0, 4.0, 1.0, -14.0, 0.12))
    first = _clone(emulator_http, "Sam", originals)
    voice = first
    for generation in range(1, 4):
        voice = _next_generation(emulator_http, voice, f"Sam gen {generation}")
    assert emulator_control.voice_timbre(voice)["generation"] == 3
    again = _clone(emulator_http, "Sam again", originals)  # a fresh clone of the human audio

    def similarity(voice_id: str):
        replies = [_decode(_speak(emulator_http, voice_id, text)) for text in REPLIES]
        return speaker_similarity(replies, [_decode(d) for _, d in originals])

    fresh, deep, reference = similarity(again), similarity(voice), similarity(first)
    assert fresh.score > 0.6 and reference.score > 0.6  # clones of the originals sound like the speaker
    assert deep.score < fresh.score - 0.4  # three generations of its own speech: measurably someone else
    assert deep.distance > fresh.distance + 0.5


def test_planted_shift_changes_later_renders_and_is_reported(emulator_http, emulator_control, speakers):
    voice_id = _clone(emulator_http, "f2", [(f"f2-{i}.wav", d) for i, d in enumerate(speakers["f2"])])
    before = _speak(emulator_http, voice_id, REPLIES[1])
    estimate = emulator_control.voice_timbre(voice_id)["timbre"]

    view = emulator_control.shift_timbre(voice_id, median_pitch_hz=-40.0, formant_scale=0.9)
    shifted = _speak(emulator_http, voice_id, REPLIES[1])

    assert view["planted_shift"] == {"median_pitch_hz": -40.0, "formant_scale": 0.9}
    assert view["timbre"] == estimate  # the estimate stays; renders use it plus the shift
    assert emulator_control.voice_timbre(voice_id)["planted_shift"] == view["planted_shift"]
    measured = voice_features(*_decode(shifted)).pitch_median_hz
    assert measured == pytest.approx(estimate["median_pitch_hz"] - 40.0, rel=0.04)

    cleared = emulator_control.shift_timbre(voice_id)
    assert cleared["planted_shift"] is None
    assert _speak(emulator_http, voice_id, REPLIES[1]) == before


def test_timbre_control_rejects_unknown_keys_and_voices(emulator_http, emulator_control, create_voice):
    voice_id = create_voice()
    bad_key = emulator_http.post(f"/_emulator/voices/{voice_id}/timbre", json={"shift": {"loudness": 3}})
    bad_factor = emulator_http.post(f"/_emulator/voices/{voice_id}/timbre", json={"shift": {"formant_scale": 0}})
    missing = emulator_http.get("/_emulator/voices/nope/timbre")

    assert bad_key.status_code == 400 and "loudness" in bad_key.json()["error"]
    assert bad_factor.status_code == 400
    assert missing.status_code == 404
    assert emulator_control.voice_timbre(voice_id)["planted_shift"] is None
