"""Training copies: derived bytes for upload; the stored clip is never touched."""

import hashlib

import numpy as np
import pytest
from django.core.files.storage import default_storage

from clones.analysis import integrated_loudness
from clones.audio import decode_audio, probe_audio
from clones.services import SelectionLimits, clip_training_copy, select_clips_for_retrain, selection_training_copies
from tests.audio import encode, speech_like
from tests.factories import ClipSampleFactory, VoiceFactory

pytestmark = pytest.mark.django_db

SR = 44100


def silence(seconds, level=1e-4, seed=3):
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def stored_clip(samples, **extra):
    return ClipSampleFactory(audio=encode(samples, SR, fmt="MP3"), **extra)


def stored_bytes(clip) -> bytes:
    with default_storage.open(clip.file.name, "rb") as fh:
        return fh.read()


def test_copy_trims_edges_removes_dc_and_normalises_loudness_without_touching_the_stored_file():
    speech = 0.15 * speech_like(3.0, SR) / 0.25  # quiet speech
    signal = np.concatenate([silence(1.5), speech, silence(1.5)]) + 0.05  # and a DC offset
    clip = stored_clip(signal.astype(np.float32))
    before = stored_bytes(clip)

    copy = clip_training_copy(clip=clip)

    assert stored_bytes(clip) == before
    assert hashlib.sha256(before).hexdigest() == clip.sha256 == copy.source_sha256
    assert copy.sha256 != copy.source_sha256
    assert copy.content_type == "audio/mpeg" and copy.filename == f"generated_{clip.pk}.mp3"
    info = probe_audio(copy.content)
    # About 100 ms of the silence is kept on each side of the 3 s of speech.
    assert 3.0 <= info.duration_s <= 3.6
    assert copy.report["leading_trimmed_s"] == pytest.approx(1.4, abs=0.15)
    assert copy.report["trailing_trimmed_s"] == pytest.approx(1.4, abs=0.2)
    assert copy.report["dc_offset_removed"] == pytest.approx(0.05, abs=0.01)
    samples, rate = decode_audio(copy.content)
    assert abs(float(samples.mean())) < 0.005
    assert integrated_loudness(samples, rate) == pytest.approx(-20, abs=1.0)
    assert 20 * np.log10(np.abs(samples).max()) <= -0.5  # capped near -1 dBFS (MP3 adds a little)
    assert copy.irreparable_clipping is False


def test_peak_is_capped_rather_than_reaching_the_loudness_target():
    spiky = speech_like(3.0, SR) * 0.05
    spiky[SR::SR // 2] = 0.9  # isolated clicks near full scale
    clip = stored_clip(spiky.astype(np.float32))

    copy = clip_training_copy(clip=clip)

    assert copy.report["is_peak_capped"] is True
    assert copy.report["output_peak_dbfs"] <= -1.0 + 1e-6
    assert copy.report["output_loudness_lufs"] < -20


def test_clipping_in_the_waveform_is_reported_as_irreparable_not_fixed():
    clipped = np.clip(speech_like(3.0, SR) * 8, -1, 1).astype(np.float32)
    clip = stored_clip(clipped)

    copy = clip_training_copy(clip=clip)

    assert copy.irreparable_clipping is True
    assert copy.report["irreparable_clipping"] is True


def test_a_long_reply_is_cut_at_a_pause_before_its_tail():
    long_reply = np.concatenate([speech_like(10.0, SR, seed=i) for i in range(4)])  # 40 s
    clip = stored_clip(long_reply.astype(np.float32), duration_s=40.0)

    copy = clip_training_copy(clip=clip, max_use_s=25)

    info = probe_audio(copy.content)
    assert 23.0 <= info.duration_s <= 25.2
    assert copy.tail_cut_s >= 15
    assert stored_bytes(clip) and probe_audio(stored_bytes(clip)).duration_s == pytest.approx(40, abs=0.1)


def test_training_copies_of_a_selection_follow_its_order_and_cuts(settings):
    # At a generated-share cap of 0.6 the 8 s original leaves room for both replies (12 s).
    settings.RETRAIN_GENERATED_SHARE_MAX = 0.6
    voice = VoiceFactory()
    original = stored_clip(speech_like(8.0, SR, seed=9), voice=voice, source="original", review_status="approved",
                           duration_s=8.0, text="")
    short = stored_clip(speech_like(4.0, SR, seed=1), voice=voice, review_status="approved", duration_s=4.0,
                        quality_score=100, text="first words here")
    long = stored_clip(speech_like(30.0, SR, seed=2), voice=voice, review_status="approved", duration_s=30.0,
                       quality_score=90, text="second other sentence")
    limits = SelectionLimits.from_settings(max_use_s=8.0)
    selection = select_clips_for_retrain(voice=voice, limits=limits)
    assert selection.clip_ids == [original.pk, short.pk, long.pk]

    copies = selection_training_copies(selection=selection)

    assert [c.clip_id for c in copies] == [original.pk, short.pk, long.pk]
    assert copies[0].filename.startswith("original_")
    assert copies[2].tail_cut_s > 20
    assert probe_audio(copies[2].content).duration_s <= 8.2
    assert copies[1].file_kwargs()["content"] == copies[1].content
