"""clones.analysis: clip quality metrics, flags, score and the derived training copy."""

import json
import math
from typing import NamedTuple

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from clones.analysis import (
    FLAGS,
    QualityThresholds,
    analyse_audio,
    analyse_bytes,
    encode_mp3,
    encode_wav,
    integrated_loudness,
    k_weighting_coefficients,
    training_copy,
)
from clones.audio import decode_audio, probe_audio

SR = 44100


class Clip(NamedTuple):
    samples: np.ndarray
    speech_start_s: float
    speech_end_s: float


def speech_like(
    duration_s: float = 4.0,
    *,
    sample_rate: int = SR,
    lead_s: float = 0.3,
    trail_s: float = 0.3,
    lufs: float = -20.0,
    noise_dbfs: float = -65.0,
    seed: int = 7,
) -> Clip:
    """Voiced syllables (a harmonic series on a wobbling 110–170 Hz pitch under a sin² envelope),
    grouped into words by short gaps and longer pauses, over faint white noise, at `lufs`."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sample_rate))
    voice = np.zeros(n)
    t, end = lead_s, duration_s - trail_s
    last_end = lead_s
    while True:
        length = rng.uniform(0.12, 0.25)
        if t + length > end:
            break
        start, count = int(round(t * sample_rate)), int(round(length * sample_rate))
        tt = np.arange(count) / sample_rate
        pitch = rng.uniform(110, 170) * (1 + 0.05 * np.sin(2 * np.pi * 5 * tt))
        phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
        harmonics = [k for k in range(1, 25) if k * pitch.max() < 0.45 * sample_rate]
        syllable = sum(np.sin(k * phase) / k for k in harmonics)
        voice[start : start + count] += syllable * np.sin(np.pi * np.arange(count) / count) ** 2
        last_end = (start + count) / sample_rate
        t += length + (rng.uniform(0.15, 0.35) if rng.random() < 0.35 else rng.uniform(0.0, 0.04))
    voice *= 10 ** ((lufs - integrated_loudness(voice.astype(np.float32), sample_rate)) / 20)
    noise = rng.standard_normal(n) * 10 ** (noise_dbfs / 20)
    return Clip((voice + noise).astype(np.float32), lead_s, last_end)


def via_mp3(samples: np.ndarray, sample_rate: int = SR) -> tuple[np.ndarray, int]:
    return decode_audio(encode_mp3(samples, sample_rate))


def near_silence(duration_s: float = 4.0) -> np.ndarray:
    rng = np.random.default_rng(3)
    samples = rng.standard_normal(int(duration_s * SR)) * 10 ** (-70 / 20)
    blip = slice(SR, SR + SR // 20)  # one faint 50 ms click of room noise
    samples[blip] += 10 ** (-60 / 20) * np.sin(2 * np.pi * 300 * np.arange(SR // 20) / SR)
    return samples.astype(np.float32)


def heavily_clipped() -> np.ndarray:
    return np.clip(speech_like().samples * 8, -1.0, 1.0)


# --- acceptance: the three reference clips, analysed after an MP3 round trip -----------------------------


def test_clean_speech_has_no_flags():
    result = analyse_audio(*via_mp3(speech_like().samples))

    assert result.flags == []
    assert result.quality_score == 100.0
    assert result.loudness_lufs == pytest.approx(-20.0, abs=1.0)
    assert result.peak_dbfs < -3
    assert result.clipping_ratio == 0.0
    assert 0.4 < result.speech_ratio < 0.9
    assert result.snr_db > 30
    assert result.duration_s == pytest.approx(4.0, abs=0.01)
    assert result.sample_rate == SR


def test_near_silent_clip_is_mostly_silence():
    result = analyse_audio(*via_mp3(near_silence()))

    assert "mostly_silence" in result.flags
    assert "too_quiet" in result.flags
    assert result.speech_ratio < 0.05


def test_heavily_clipped_speech_is_flagged_clipped():
    result = analyse_audio(*via_mp3(heavily_clipped()))

    assert "clipped" in result.flags
    assert result.clipping_ratio > 0.01
    assert result.peak_dbfs == pytest.approx(0.0, abs=0.01)


def test_score_ranks_clean_above_clipped_and_silent():
    clean = analyse_audio(*via_mp3(speech_like().samples))
    clipped = analyse_audio(*via_mp3(heavily_clipped()))
    silent = analyse_audio(*via_mp3(near_silence()))

    assert clean.quality_score > clipped.quality_score
    assert clean.quality_score > silent.quality_score
    assert 0 <= silent.quality_score < 50
    assert 0 <= clipped.quality_score < 80
    assert set(clipped.flags) | set(silent.flags) <= FLAGS


def test_analyse_bytes_decodes_then_analyses():
    clip = speech_like().samples
    from_bytes = analyse_bytes(encode_mp3(clip, SR))
    assert from_bytes == analyse_audio(*via_mp3(clip))


# --- loudness (ITU-R BS.1770) ---------------------------------------------------------------------------


@pytest.mark.parametrize("sample_rate", [48000, 44100])
def test_full_scale_997_hz_sine_reads_minus_3_01_lufs(sample_rate):
    t = np.arange(5 * sample_rate) / sample_rate
    sine = np.sin(2 * np.pi * 997 * t).astype(np.float32)
    assert integrated_loudness(sine, sample_rate) == pytest.approx(-3.01, abs=0.05)


def test_1_khz_sine_at_minus_20_dbfs_rms_reads_minus_20_lufs():
    t = np.arange(5 * SR) / SR
    sine = (10 ** (-20 / 20) * math.sqrt(2) * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    assert integrated_loudness(sine, SR) == pytest.approx(-20.0, abs=1.0)
    assert analyse_audio(sine, SR).loudness_lufs == pytest.approx(-20.0, abs=1.0)


def test_k_weighting_matches_the_bs1770_table_at_48_khz():
    (shelf_b, shelf_a), (pass_b, pass_a) = k_weighting_coefficients(48000)
    np.testing.assert_allclose(shelf_b, [1.53512485958697, -2.69169618940638, 1.19839281085285], rtol=1e-9)
    np.testing.assert_allclose(shelf_a, [1.0, -1.69065929318241, 0.73248077421585], rtol=1e-9)
    np.testing.assert_allclose(pass_b, [1.0, -2.0, 1.0])
    np.testing.assert_allclose(pass_a, [1.0, -1.99004745483398, 0.99007225036621], rtol=1e-9)


def _direct_form_loudness(x: np.ndarray, sample_rate: int) -> float:
    """Textbook BS.1770: sample-by-sample biquads, then the same gating. Slow; a reference only."""
    y = x.astype(np.float64)
    for b, a in k_weighting_coefficients(sample_rate):
        out = np.zeros_like(y)
        x1 = x2 = y1 = y2 = 0.0
        for i, v in enumerate(y):
            o = b[0] * v + b[1] * x1 + b[2] * x2 - a[1] * y1 - a[2] * y2
            x2, x1, y2, y1 = x1, v, y1, o
            out[i] = o
        y = out
    block, step = int(0.4 * sample_rate), int(0.1 * sample_rate)
    energies = np.array([np.mean(y[s : s + block] ** 2) for s in range(0, len(y) - block + 1, step)])
    lufs = -0.691 + 10 * np.log10(energies)
    kept = energies[lufs > -70]
    gate = -0.691 + 10 * np.log10(kept.mean()) - 10
    return -0.691 + 10 * np.log10(energies[(lufs > -70) & (lufs > gate)].mean())


def test_loudness_matches_a_direct_form_reference():
    clip = speech_like(1.5, sample_rate=16000, lead_s=0.1, trail_s=0.1, lufs=-23.0).samples
    assert integrated_loudness(clip, 16000) == pytest.approx(_direct_form_loudness(clip, 16000), abs=0.01)


def test_relative_gate_ignores_the_quiet_part():
    t = np.arange(2 * SR) / SR
    loud = 10 ** (-20 / 20) * math.sqrt(2) * np.sin(2 * np.pi * 1000 * t)
    signal = np.concatenate([loud, loud * 10 ** (-30 / 20)]).astype(np.float32)
    assert integrated_loudness(signal, SR) == pytest.approx(-20.0, abs=0.5)


def test_digital_silence_has_no_loudness_and_as_dict_stays_json_safe():
    result = analyse_audio(np.zeros(3 * SR, dtype=np.float32), SR)

    assert result.loudness_lufs == -math.inf
    assert result.peak_dbfs == -math.inf
    assert result.speech_ratio == 0.0
    assert result.flags == ["mostly_silence", "too_quiet"]
    data = result.as_dict()
    assert data["loudness_lufs"] is None and data["peak_dbfs"] is None
    json.dumps(data, allow_nan=False)


# --- silence, duration, noise ---------------------------------------------------------------------------


def test_leading_and_trailing_silence_are_measured_within_50_ms():
    clip = speech_like(6.0, lead_s=1.0, trail_s=0.8)
    samples, sample_rate = via_mp3(clip.samples)

    result = analyse_audio(samples, sample_rate)

    assert result.leading_silence_s == pytest.approx(clip.speech_start_s, abs=0.05)
    assert result.trailing_silence_s == pytest.approx(6.0 - clip.speech_end_s, abs=0.05)


def test_long_edge_silences_are_flagged():
    clip = speech_like(7.0, lead_s=2.0, trail_s=2.0)
    result = analyse_audio(clip.samples, SR)
    assert "long_leading_silence" in result.flags
    assert "long_trailing_silence" in result.flags


def test_one_second_clip_is_too_short():
    result = analyse_audio(speech_like(1.0, lead_s=0.1, trail_s=0.1).samples, SR)
    assert "too_short" in result.flags


def test_long_clip_is_too_long():
    result = analyse_audio(speech_like(61.0).samples, SR)
    assert "too_long" in result.flags


def test_noisy_recording_is_flagged_noisy():
    clean = analyse_audio(speech_like(noise_dbfs=-65).samples, SR)
    noisy = analyse_audio(speech_like(noise_dbfs=-25).samples, SR)

    assert "noisy" in noisy.flags
    assert noisy.snr_db < 15
    assert "noisy" not in clean.flags
    assert clean.snr_db > noisy.snr_db + 20


def test_dc_offset_is_reported():
    clip = speech_like().samples + np.float32(0.05)
    assert analyse_audio(clip, SR).dc_offset == pytest.approx(0.05, abs=0.002)


def test_analysis_is_deterministic_and_leaves_its_input_alone():
    samples, sample_rate = via_mp3(speech_like().samples)
    before = samples.copy()
    samples.flags.writeable = False

    first = analyse_audio(samples, sample_rate)
    second = analyse_audio(samples, sample_rate)

    assert first == second
    assert first.as_dict() == second.as_dict()
    np.testing.assert_array_equal(samples, before)


def test_stereo_input_is_averaged_to_mono():
    mono = speech_like().samples
    assert analyse_audio(np.stack([mono, mono], axis=1), SR) == analyse_audio(mono, SR)


# --- thresholds -----------------------------------------------------------------------------------------


def test_thresholds_change_the_flags():
    clip = speech_like().samples
    strict = QualityThresholds(max_lufs=-25.0, min_snr_db=80.0)
    result = analyse_audio(clip, SR, thresholds=strict)
    assert {"too_loud", "noisy"} <= set(result.flags)
    assert result.quality_score < 100


def test_thresholds_from_settings_override_defaults(settings):
    settings.CLIP_QUALITY_THRESHOLDS = {"min_duration_s": 0.5, "max_lufs": -10}

    thresholds = QualityThresholds.from_settings()

    assert thresholds.min_duration_s == 0.5
    assert thresholds.max_lufs == -10.0
    assert thresholds.min_lufs == QualityThresholds().min_lufs
    result = analyse_audio(speech_like(1.0, lead_s=0.1, trail_s=0.1).samples, SR, thresholds=thresholds)
    assert "too_short" not in result.flags


def test_thresholds_from_settings_without_the_setting(settings):
    del settings.CLIP_QUALITY_THRESHOLDS
    assert QualityThresholds.from_settings() == QualityThresholds()


@pytest.mark.parametrize("overrides", [{"min_lufz": -30}, {"min_lufs": "loud"}, {"min_lufs": True}, [1, 2]])
def test_thresholds_from_settings_refuse_bad_values(settings, overrides):
    settings.CLIP_QUALITY_THRESHOLDS = overrides
    with pytest.raises(ImproperlyConfigured):
        QualityThresholds.from_settings()


# --- training copy --------------------------------------------------------------------------------------


def test_training_copy_trims_normalises_and_caps():
    clip = speech_like(6.0, lead_s=1.2, trail_s=1.0, lufs=-28.0)
    samples, sample_rate = via_mp3(clip.samples)
    before = samples.copy()
    samples.flags.writeable = False

    copy, report = training_copy(samples, sample_rate)

    np.testing.assert_array_equal(samples, before)
    assert copy.dtype == np.float32
    assert report.leading_trimmed_s == pytest.approx(clip.speech_start_s - 0.1, abs=0.05)
    assert report.trailing_trimmed_s == pytest.approx(6.0 - clip.speech_end_s - 0.1, abs=0.05)
    measured = analyse_audio(copy, sample_rate)
    assert measured.leading_silence_s == pytest.approx(0.1, abs=0.05)
    assert measured.trailing_silence_s == pytest.approx(0.1, abs=0.05)
    assert measured.loudness_lufs == pytest.approx(-20.0, abs=1.0)
    assert report.output_loudness_lufs == pytest.approx(measured.loudness_lufs, abs=0.01)
    assert measured.peak_dbfs <= -1.0
    assert report.gain_db == pytest.approx(8.0, abs=1.0)
    assert report.irreparable_clipping is False
    assert report.is_peak_capped is False
    assert report.has_speech is True


def test_training_copy_caps_the_peak_instead_of_reaching_a_hot_target():
    copy, report = training_copy(speech_like().samples, SR, target_lufs=-8.0, peak_cap_dbfs=-1.0)

    assert report.is_peak_capped is True
    assert 20 * np.log10(np.abs(copy).max()) <= -1.0 + 1e-4
    assert report.output_loudness_lufs < -8.0


def test_training_copy_flags_clipping_it_cannot_repair():
    _, clipped_report = training_copy(*via_mp3(heavily_clipped()))
    _, clean_report = training_copy(*via_mp3(speech_like().samples))

    assert clipped_report.irreparable_clipping is True
    assert clean_report.irreparable_clipping is False


def test_training_copy_removes_dc_offset():
    samples = speech_like().samples + np.float32(0.05)
    copy, report = training_copy(samples, SR)
    assert report.dc_offset_removed == pytest.approx(0.05, abs=0.002)
    assert abs(float(copy.mean())) < 0.002


def test_training_copy_of_silence_applies_no_gain():
    copy, report = training_copy(near_silence(), SR)
    assert report.has_speech is False
    assert report.gain_db == 0.0
    assert len(copy) == len(near_silence())


def test_encoders_write_what_probe_reads_back():
    clip = speech_like(2.0).samples
    mp3 = probe_audio(encode_mp3(clip, SR))
    wav = probe_audio(encode_wav(clip, SR))

    assert (mp3.format, wav.format) == ("mp3", "wav")
    assert mp3.duration_s == pytest.approx(2.0, abs=0.05)
    assert wav.duration_s == pytest.approx(2.0, abs=1e-6)
    decoded, _ = decode_audio(encode_wav(clip, SR))
    np.testing.assert_allclose(decoded, np.clip(clip, -1, 1), atol=1 / 32768 + 1e-6)
