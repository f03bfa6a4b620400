"""The review queue says truthfully why each clip is where it is: only a metric within a unit of doubt of
its threshold is "close", and that metric is named; clean, flagged and unanalysed clips say so."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from clones import selectors
from clones.models import ClipSample
from tests.factories import ClipSampleFactory, VoiceFactory

pytestmark = pytest.mark.django_db


def test_reasons_and_order_of_the_review_queue():
    voice = VoiceFactory()  # no originals: no retrain would pick anything, so no tier-0 clips here
    now = timezone.now()
    clean_old = ClipSampleFactory(voice=voice, quality_score=100)
    ClipSample.objects.filter(pk=clean_old.pk).update(created_at=now - timedelta(hours=2))  # auto_now_add
    clean_new = ClipSampleFactory(voice=voice, quality_score=97)
    snr_near = ClipSampleFactory(voice=voice, snr_db=15.4, quality_score=92)  # 0.4 dB / 5 dB = 0.08
    duration_near = ClipSampleFactory(voice=voice, duration_s=2.2, quality_score=88)  # 0.2 s / 1 s = 0.2
    flagged = ClipSampleFactory(voice=voice, loudness_lufs=-47.0, quality_score=70, quality_flags=["too_quiet"])
    unheard = ClipSampleFactory(voice=voice, analysed_at=None, quality_score=None)

    queue = selectors.clip_review_queue(voice=voice)
    reasons = {clip.pk: clip.queue_reason for clip in queue}

    assert [clip.pk for clip in queue] == [
        snr_near.pk, duration_near.pk, clean_new.pk, clean_old.pk, flagged.pk, unheard.pk,
    ]
    assert reasons[duration_near.pk] == "close to a quality threshold: duration 2.2 s, 0.2 s above the 2 s minimum"
    assert reasons[snr_near.pk] == (
        "close to a quality threshold: signal-to-noise 15.4 dB, 0.4 dB above the 15 dB minimum"
    )
    assert reasons[clean_old.pk] == "passes every check (score 100, no flags)"
    assert reasons[clean_new.pk] == "passes every check (score 97, no flags)"
    assert reasons[flagged.pk] == "flagged: too quiet (score 70)"
    assert reasons[unheard.pk] == "not analysed yet"
    assert not any("margin" in reason for reason in reasons.values())


def test_a_flagged_clip_near_its_threshold_says_both():
    voice = VoiceFactory()
    clip = ClipSampleFactory(voice=voice, snr_db=14.5, quality_score=89, quality_flags=["noisy"])

    (queued,) = selectors.clip_review_queue(voice=voice)

    assert queued.pk == clip.pk
    assert queued.queue_reason == (
        "close to a quality threshold: signal-to-noise 14.5 dB, 0.5 dB below the 15 dB minimum (flagged: noisy)"
    )


def test_the_queue_page_shows_the_reasons(client, staff):
    voice = VoiceFactory()
    ClipSampleFactory(voice=voice, quality_score=100)
    client.force_login(staff)

    html = client.get(reverse("admin:clones_clipsample_queue"), {"voice": str(voice.pk)}).content.decode()

    assert "passes every check (score 100, no flags)" in html
    assert "close to a quality threshold:" not in html
