"""Speaker similarity on real (human-like) speech: espeak-ng voices reading different sentences."""

import numpy as np
import pytest
from django.test import override_settings

from fidelity.features import NotEnoughVoice, VoiceFeatures, voice_features
from fidelity.similarity import VoiceProfile, speaker_similarity, voice_profile
from tests.audio import decode, encode, transformed
from tests.espeak import SENTENCES, require_espeak, speak

SPEAKERS = ("m1", "m3", "m7", "f1", "f3", "f5", "klatt", "david")


@pytest.fixture(scope="module")
def voices():
    """{speaker: [features of 4 sentences]}; sentences are read at different speaking rates."""
    require_espeak()
    return {
        speaker: [voice_features(*speak(sentence, speaker, words_per_minute=140 + 15 * i))
                  for i, sentence in enumerate(SENTENCES[:4])]
        for speaker in SPEAKERS
    }


def auc(same, different):
    same, different = np.asarray(same)[:, None], np.asarray(different)[None, :]
    return float((same > different).mean() + 0.5 * (same == different).mean())


def test_same_speaker_scores_clearly_above_different_speakers(voices):
    same, different = [], []
    for speaker, clips in voices.items():
        for i, clip in enumerate(clips):
            references = [c for j, c in enumerate(clips) if j != i]
            same.append(speaker_similarity(clip, references).score)
            for other, others in voices.items():
                if other != speaker:
                    different.append(speaker_similarity(clip, others[:3]).score)

    # bench/fidelity_similarity.py measures 0.995 over 22 speakers x 10 sentences with channel changes.
    assert auc(same, different) >= 0.97
    assert np.median(same) - np.median(different) >= 0.5
    assert np.median(same) >= 0.7 and np.median(different) <= 0.1


def test_each_recording_is_closest_to_its_own_speaker(voices):
    hits = 0
    for speaker, clips in voices.items():
        probe = clips[0]
        scores = {other: speaker_similarity(probe, others[1:]).score for other, others in voices.items()}
        hits += max(scores, key=scores.get) == speaker
        assert scores[speaker] > 0.5, (speaker, scores)
    assert hits >= len(voices) - 1


def test_score_survives_channel_and_level_changes_and_is_deterministic():
    require_espeak()
    references = [speak(sentence, "m3") for sentence in SENTENCES[1:4]]
    samples, rate = speak(SENTENCES[0], "m3")
    plain = speaker_similarity((samples, rate), references)
    _, phone_like = transformed(encode(samples, rate), "resample_16000+reencode_mp3_48+gain_m12")

    edited = speaker_similarity(phone_like, references)

    assert plain.score > 0.7 and edited.score > 0.6
    assert speaker_similarity((samples, rate), references) == plain  # same input, same numbers
    assert abs(edited.features.pitch_median_hz - plain.features.pitch_median_hz) < 3


def test_result_carries_the_features_and_a_stored_profile_gives_the_same_score():
    require_espeak()
    references = [speak(sentence, "f2") for sentence in SENTENCES[:3]]
    probe = speak(SENTENCES[5], "f2")
    profile = voice_profile(references)
    stored = VoiceProfile.from_dict(profile.as_dict())  # e.g. kept as JSON on a voice for drift checks

    direct = speaker_similarity(probe, references)
    via_profile = speaker_similarity(VoiceFeatures.from_dict(direct.features.as_dict()), stored)

    assert via_profile.score == pytest.approx(direct.score, abs=0.01)
    assert set(direct.components) == {"pitch", "formants", "voice_quality", "spectral_tilt", "mfcc_mean", "mfcc_std"}
    assert direct.features.pitch_median_hz > 150  # a female variant
    assert len(direct.features.formants_hz) == 4 and direct.features.formants_hz[0] < direct.features.formants_hz[1]
    assert direct.encoder == "praat-features-v1"
    assert 0 <= direct.score <= 1 and direct.as_dict()["features"]["hnr_db"] == pytest.approx(
        direct.features.hnr_db, abs=1e-3)


def test_silence_is_not_a_voice():
    silence = np.zeros(16000 * 2, dtype=np.float32)
    with pytest.raises(NotEnoughVoice):
        voice_features(silence, 16000)
    with pytest.raises(ValueError):
        speaker_similarity((silence + 0.1, 16000), [])


class ConstantEncoder:
    """A stand-in speaker encoder: the plug-in contract, not a model (none ships with the project)."""

    name = "constant-test-encoder"

    def score(self, audio, references):
        assert all(isinstance(s, np.ndarray) and rate > 0 for s, rate in [*audio, *references])
        return 0.42


@override_settings(FIDELITY_SPEAKER_ENCODER="tests.fidelity.test_similarity_espeak.ConstantEncoder")
def test_a_speaker_encoder_plugs_in_behind_the_same_interface():
    require_espeak()
    wav = encode(*speak(SENTENCES[0], "m1"))
    result = speaker_similarity(wav, [decode(wav)])
    assert result.encoder == "constant-test-encoder"
    assert result.score == 0.42
    assert result.features.pitch_median_hz > 0  # the Praat features are still reported
