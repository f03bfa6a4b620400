"""Clip quality analysis in its background task, the auto-review policy and clip provenance."""

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from clones import tasks
from clones.models import ClipSample, GeneratedAudio, Voice
from clones.waveform import waveform_path
from conversations.models import Message
from tests.audio import encode, speech_like
from tests.factories import ClipSampleFactory

pytestmark = pytest.mark.django_db

SR = 44100


def near_silent() -> np.ndarray:
    return (1e-4 * np.random.default_rng(1).standard_normal(4 * SR)).astype(np.float32)


def heavily_clipped() -> np.ndarray:
    return np.clip(speech_like(4.0, SR) * 8, -1, 1).astype(np.float32)


def clean() -> np.ndarray:
    return speech_like(4.0, SR)


def unanalysed_clip(samples, **extra) -> ClipSample:
    clip = ClipSampleFactory(
        audio=encode(samples, SR, fmt="MP3"), analysed_at=None, quality_score=None, quality_flags=[],
        loudness_lufs=None, speech_ratio=None, snr_db=None, duration_s=None, **extra,
    )
    # Media outlives the test database within a run: no image left by an earlier test with this id.
    if default_storage.exists(waveform_path(clip)):
        default_storage.delete(waveform_path(clip))
    return clip


@pytest.mark.parametrize(
    "signal, expected",
    [(near_silent, {"mostly_silence"}), (heavily_clipped, {"clipped"}), (clean, set())],
    ids=["near-silent", "clipped", "clean"],
)
def test_near_silent_clipped_and_clean_clips_get_their_flags(signal, expected):
    clip = unanalysed_clip(signal())

    tasks.clip_analyse(clip.pk)

    clip.refresh_from_db()
    assert clip.analysed_at is not None
    if expected:
        assert expected <= set(clip.quality_flags)
        assert clip.quality_score < 70
    else:
        assert clip.quality_flags == []
        assert clip.quality_score == 100
    assert clip.duration_s == pytest.approx(4.0, abs=0.1)
    assert clip.sample_rate == SR
    # The waveform image is rendered once, here, and cached in storage.
    assert default_storage.exists(waveform_path(clip))


def test_analysis_measures_metrics_and_prosody_of_a_clean_clip():
    text = "Good morning! The bread is almost ready."
    clip = unanalysed_clip(speech_like(4.0, SR, f0=160.0), text=text)

    tasks.clip_analyse(clip.pk)

    clip.refresh_from_db()
    assert -30 < clip.loudness_lufs < -15
    assert clip.peak_dbfs < 0
    assert clip.clipping_ratio == 0
    assert 0.3 < clip.speech_ratio < 1
    assert clip.snr_db > 15
    assert clip.pitch_median_hz == pytest.approx(160, rel=0.05)
    assert clip.pitch_range_st > 1  # the test signal glides ±20 Hz
    assert clip.energy_range_db > 0
    letters = sum(ch.isalnum() for ch in text)
    assert clip.speaking_rate_cps == pytest.approx(letters / (clip.duration_s * clip.speech_ratio), rel=0.01)
    svg = default_storage.open(waveform_path(clip)).read().decode()
    assert svg.startswith("<svg") and "<polygon" in svg


def test_heavily_clipped_clip_waveform_marks_the_clipping():
    clip = unanalysed_clip(heavily_clipped())
    tasks.clip_analyse(clip.pk)
    svg = default_storage.open(waveform_path(clip)).read().decode()
    assert "#e53e3e" in svg


def test_an_undecodable_file_is_flagged_instead_of_failing_the_task():
    clip = ClipSampleFactory(audio=b"not audio at all" * 50, analysed_at=None, quality_score=None)

    tasks.clip_analyse(clip.pk)

    clip.refresh_from_db()
    assert clip.quality_flags == ["undecodable"]
    assert clip.quality_score == 0
    assert clip.review_status == "pending"


def test_auto_review_is_off_by_default_and_clean_clips_stay_pending():
    clip = unanalysed_clip(clean())
    tasks.clip_analyse(clip.pk)
    clip.refresh_from_db()
    assert clip.quality_flags == []
    assert clip.review_status == "pending"


@override_settings(CLIP_AUTO_APPROVE=True)
def test_auto_review_approves_only_clean_generated_pending_clips():
    good = unanalysed_clip(clean())
    bad = unanalysed_clip(heavily_clipped())
    already_rejected = unanalysed_clip(clean(), review_status="rejected", review_reason="wrong_voice")

    for clip in (good, bad, already_rejected):
        tasks.clip_analyse(clip.pk)

    for clip in (good, bad, already_rejected):
        clip.refresh_from_db()
    assert good.review_status == "approved"
    assert good.review_reason.startswith("auto-approved")
    assert good.reviewed_by is None and good.reviewed_at is not None
    assert bad.review_status == "pending"
    assert already_rejected.review_status == "rejected"


def send_text(api, conversation_id, text, run):
    with run():
        response = api.post(f"/api/v1/conversations/{conversation_id}/messages/", {"text": text}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["assistant_message"]["id"]


def test_chat_reply_is_ready_then_analysed_with_lineage_and_registered_hash(alice_api, alice_voice, run_tasks):
    voice = Voice.objects.get(pk=alice_voice)
    # This version was trained on depth-1 clips: what it speaks is depth 2.
    voice.current_version.training_lineage_depth = 1
    voice.current_version.save(update_fields=["training_lineage_depth"])
    conversation = alice_api.post("/api/v1/conversations/", {"voice": alice_voice}, format="json").json()["id"]

    message_id = send_text(alice_api, conversation, "Tell me about your sourdough starter.", run_tasks)

    message = Message.objects.select_related("clip").get(pk=message_id)
    assert message.status == "ready"
    clip = message.clip
    assert clip.analysed_at is not None  # analysed by its own task, after the reply was ready
    assert clip.lineage_depth == 2
    assert GeneratedAudio.objects.filter(sha256=clip.sha256, clip=clip).exists()
    originals = ClipSample.objects.filter(voice=voice, source="original")
    assert originals.exists() and all(c.lineage_depth == 0 for c in originals)


def test_generated_audio_uploaded_again_as_an_original_is_refused(alice_api, alice_voice, run_tasks):
    conversation = alice_api.post("/api/v1/conversations/", {"voice": alice_voice}, format="json").json()["id"]
    message_id = send_text(alice_api, conversation, "Say something I can reuse.", run_tasks)
    clip = Message.objects.get(pk=message_id).clip
    generated = default_storage.open(clip.file.name).read()

    with run_tasks():
        response = alice_api.post(
            "/api/v1/voices/",
            {
                "name": "Copy", "persona": "A copy.", "consent": "true",
                "samples": [SimpleUploadedFile("mine.mp3", generated, content_type="audio/mpeg")],
            },
            format="multipart",
        )

    assert response.status_code == 400
    (error,) = response.json()["errors"]["samples"]
    assert "generated by voiceclone" in error
    assert Voice.objects.filter(name="Copy").count() == 0
