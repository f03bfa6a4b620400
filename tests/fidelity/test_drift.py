"""The drift monitor: each live voice's recent stored replies scored against its originals and its version's
baseline, a time series per voice, `voice.drift_detected` when a voice leaves its band, a badge, a filter and
a chart in the admin, and a rollback offered there."""

import math
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from clones.audio import decode_audio
from clones.models import ClipSample, Voice, VoiceVersion
from fidelity.prosody import measure_prosody
from fidelity.models import DriftPoint
from fidelity.tasks import drift_monitor_run
from tests.factories import ClipSampleFactory
from tests.retraining.helpers import add_versions, provider_voice, voice_at_provider
from voiceclone import provider
from voiceclone.events.models import Event, WebhookDelivery

pytestmark = pytest.mark.django_db

SENTENCES = [
    "I baked three loaves of rye bread this morning before the shop opened.",
    "The weather in Leeds has been grey all week, but the kitchen stays warm.",
    "Would you like the recipe for the lemon drizzle cake we talked about?",
    "My grandmother always said that patience is the secret ingredient.",
    "On Sundays we close early and walk along the canal with the dog.",
    "Cinnamon buns sell out first, usually before ten o'clock.",
    "I once burned a whole tray of scones because I was reading a novel.",
    "Sourdough needs a starter that you feed every single day.",
]


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def store_replies(voice, *, spoken_by: str, count: int, days_ago: float = 0.0, start: int = 0) -> list[ClipSample]:
    """Replies of the voice's current version as the chat stores them: rendered by the provider voice
    `spoken_by` (the version's own, unless a test makes the provider change underneath)."""
    clips = []
    for i in range(count):
        text = SENTENCES[(start + i) % len(SENTENCES)]
        audio = provider.tts(voice_id=spoken_by, text=text).audio
        clip = ClipSampleFactory(voice=voice, version=voice.current_version, text=text, audio=audio)
        ClipSample.objects.filter(pk=clip.pk).update(
            created_at=timezone.now() - timedelta(days=days_ago, minutes=len(clips) + 1))
        clips.append(clip)
    return clips


def median_pitch_st(provider_voice_id: str) -> float:
    samples, rate = decode_audio(provider.tts(voice_id=provider_voice_id, text=SENTENCES[0]).audio)
    return 12 * math.log2(measure_prosody(samples, rate).pitch_median_hz / 100)


def distinct_provider_voice(own: str) -> str:
    """Another provider voice that speaks at least 4 semitones away from `own` (a clearly different timbre)."""
    mine = median_pitch_st(own)
    for i in range(12):
        other = provider_voice(f"Stranger {i}")
        if abs(median_pitch_st(other) - mine) >= 4:
            return other
    raise AssertionError("no distinct provider voice found")


def test_drift_monitor_is_scheduled_daily_by_default():
    call_command("schedules_sync")
    schedule = Schedule.objects.get(func="fidelity.tasks.drift_monitor_run")
    assert schedule.minutes == 24 * 60 and schedule.repeats == -1


def test_an_unchanged_voice_is_not_flagged_over_three_runs(alice, emulator_ctl, staff_client):
    voice = voice_at_provider(alice, name="Ada")
    own = voice.current_version.provider_voice_id
    store_replies(voice, spoken_by=own, count=4, days_ago=10)  # its baseline: the version's first replies
    for run in range(3):
        store_replies(voice, spoken_by=own, count=3, start=3 * run + 1)
        result = drift_monitor_run()
        assert str(voice.pk) in result["checked"] and result["flagged"] == []
    points = list(DriftPoint.objects.filter(voice=voice).order_by("measured_at"))
    assert len(points) == 3 and not any(p.is_out_of_band for p in points)
    assert all(p.baseline_source == "replies" and p.baseline_similarity >= 0.5 for p in points)
    assert not Event.objects.filter(type="voice.drift_detected").exists()
    page = staff_client.get("/admin/clones/voice/?drift=drifting").content.decode()
    assert "Ada" not in page
    assert "Ada" in staff_client.get("/admin/clones/voice/?drift=in_band").content.decode()


def test_a_voice_whose_replies_change_speaker_is_flagged_once_with_event_badge_chart_and_rollback(
    alice, alice_api, emulator_ctl, staff_client
):
    voice = voice_at_provider(alice, name="Ada")
    hook = alice_api.post("/api/v1/webhooks/", {"url": "https://hooks.example.com/vc",
                                                "event_types": ["voice.drift_detected"]}, format="json")
    assert hook.status_code == 201, hook.content
    v1 = voice.current_version
    add_versions(voice, ["active"])  # v2 live, v1 archived (kept for rollback)
    voice.refresh_from_db()
    own = voice.current_version.provider_voice_id
    store_replies(voice, spoken_by=own, count=4, days_ago=10)
    store_replies(voice, spoken_by=own, count=3, days_ago=1)
    assert drift_monitor_run()["flagged"] == []
    # The provider voice changes underneath (another timbre speaks the replies from now on).
    stranger = distinct_provider_voice(own)
    store_replies(voice, spoken_by=stranger, count=8, start=2)

    result = drift_monitor_run()
    point = DriftPoint.objects.filter(voice=voice).latest("measured_at")
    assert result["flagged"] == [str(voice.pk)], (point.similarity, point.baseline_similarity, point.components)
    point = DriftPoint.objects.filter(voice=voice).latest("measured_at")
    assert point.is_out_of_band and point.baseline_similarity < 0.5
    assert "left_baseline" in [r["code"] for r in point.reasons]
    event = Event.objects.get(type="voice.drift_detected")
    assert event.user == alice and event.voice_id == voice.pk
    assert event.payload["version"] == 2 and event.payload["rollback_versions"] == [1]
    assert WebhookDelivery.objects.filter(event=event).count() == 1
    assert [e["type"] for e in alice_api.get("/api/v1/events/?type=voice.drift_detected").json()["results"]] == [
        "voice.drift_detected"]
    # Still out of band the next day: no second event.
    drift_monitor_run()
    assert Event.objects.filter(type="voice.drift_detected").count() == 1

    listing = staff_client.get("/admin/clones/voice/?drift=drifting").content.decode()
    assert "Ada" in listing and "drift-badge" in listing
    page = staff_client.get(f"/admin/clones/voice/{voice.pk}/change/").content.decode()
    assert 'id="drift-flag"' in page and '<svg id="fidelity-drift-chart"' in page
    rollback = f"/admin/fidelity/driftpoint/rollback/{voice.pk}/1/"
    assert f'formaction="{rollback}"' in page
    staff_client.post(rollback)
    voice.refresh_from_db()
    assert voice.current_version_id == v1.pk
    assert VoiceVersion.objects.get(voice=voice, number=2).state == VoiceVersion.State.ARCHIVED
    assert Event.objects.filter(type="voice.version_rolled_back", voice=voice).exists()


def test_voices_without_enough_recent_replies_are_skipped(alice, emulator_ctl):
    voice = voice_at_provider(alice, name="Quiet")
    store_replies(voice, spoken_by=voice.current_version.provider_voice_id, count=2)
    result = drift_monitor_run()
    assert "measurable recent replies" in result["skipped"][str(voice.pk)]
    assert not DriftPoint.objects.filter(voice=voice).exists()
    Voice.objects.filter(pk=voice.pk).update(status=Voice.Status.DISABLED)
    assert str(voice.pk) not in drift_monitor_run()["skipped"]
