"""The gate's other two measures: prosody statistics and the speech-to-text round-trip WER."""

import numpy as np
import pytest

from fidelity.prosody import measure_prosody
from fidelity.wer import transcript_wer
from tests.audio import speech_like
from tests.espeak import SENTENCES, require_espeak, speak


def test_a_flattened_voice_has_a_narrower_pitch_range():
    lively = speech_like(4.0, 16000, f0=160.0)
    t = np.arange(4 * 16000) / 16000
    flat = (0.25 * np.sin(2 * np.pi * 160 * t) * np.clip(np.sin(2 * np.pi * 3 * t), 0, None)).astype(np.float32)

    a, b = measure_prosody(lively, 16000), measure_prosody(flat, 16000)

    assert a.pitch_median_hz == pytest.approx(160, rel=0.05) and b.pitch_median_hz == pytest.approx(160, rel=0.02)
    assert a.pitch_range_st > 1.5 > b.pitch_range_st
    assert a.energy_range_db > 0


def test_speaking_rate_follows_the_tempo_of_real_speech():
    require_espeak()
    text = SENTENCES[2]
    slow = measure_prosody(*speak(text, "m2", words_per_minute=120), text=text)
    fast = measure_prosody(*speak(text, "m2", words_per_minute=220), text=text)
    assert 5 < slow.speaking_rate_cps < fast.speaking_rate_cps < 30
    assert slow.speech_s > fast.speech_s


def test_silence_has_no_prosody():
    quiet = measure_prosody(np.zeros(16000, dtype=np.float32), 16000)
    assert quiet.pitch_median_hz is None and quiet.pitch_range_st is None


@pytest.mark.parametrize(
    "reference, hypothesis, expected",
    [
        ("Hello, world!", "hello world", 0.0),
        ("The bread is ready.", "the bread is", 0.25),
        ("The bread is ready.", "", 1.0),
        (["one two", "three four"], ["one two", "three for"], 0.25),
    ],
)
def test_word_error_rate_ignores_case_and_punctuation(reference, hypothesis, expected):
    assert transcript_wer(reference, hypothesis) == pytest.approx(expected)


def test_word_error_rate_needs_a_reference():
    with pytest.raises(ValueError):
        transcript_wer("  ...  ", "anything")
