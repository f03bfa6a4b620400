"""The drift monitor: each live voice's recent stored replies scored against its originals and its version's
baseline, a time series per voice, `voice.drift_detected` when a voice leaves its band, a badge, a filter and
a chart in the admin, and a rollback offered there."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from clones.models import ClipSample, Voice, VoiceVersion
from fidelity.models import DriftPoint
from fidelity.tasks import drift_monitor_run
from tests.factories import ClipSampleFactory
from tests.retraining.helpers import voice_at_provider

from .lineage import SPEAKERS, replies, store_generated, voice_of_speaker
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
        # In order, and never before a check already made (a later check looks only at replies since then).
        ClipSample.objects.filter(pk=clip.pk).update(
            created_at=timezone.now() - timedelta(days=days_ago) + timedelta(microseconds=len(clips)))
        clips.append(clip)
    return clips


def test_drift_monitor_is_scheduled_daily_by_default():
    call_command("schedules_sync")
    schedule = Schedule.objects.get(func="fidelity.tasks.drift_monitor_run")
    assert schedule.minutes == 24 * 60 and schedule.repeats == -1


def test_an_unchanged_voice_is_not_flagged_over_three_runs(emulator_ctl, staff_client):
    voice = voice_of_speaker(SPEAKERS["mid"], name="Ada")
    own = voice.current_version.provider_voice_id
    store_replies(voice, spoken_by=own, count=4, days_ago=10)  # its baseline: the version's first replies
    for run in range(3):
        store_replies(voice, spoken_by=own, count=3, start=3 * run + 1)
        result = drift_monitor_run()
        assert str(voice.pk) in result["checked"] and result["flagged"] == []
    points = list(DriftPoint.objects.filter(voice=voice).order_by("measured_at"))
    assert len(points) == 3 and not any(p.is_out_of_band for p in points)
    assert all(p.baseline_source == "replies" and p.baseline_similarity >= 0.5 for p in points)
    assert all(p.similarity >= 0.5 for p in points)  # the clone still sounds like its speaker
    assert not Event.objects.filter(type="voice.drift_detected").exists()
    page = staff_client.get("/admin/clones/voice/?drift=drifting").content.decode()
    assert "Ada" not in page
    assert "Ada" in staff_client.get("/admin/clones/voice/?drift=in_band").content.decode()


def test_a_planted_timbre_shift_is_flagged_in_one_run_with_event_badge_chart_and_rollback(
    alice, alice_api, staff_api, emulator_ctl, run_tasks, staff_client, settings
):
    settings.RETRAIN_MIN_CONVERSATIONS = settings.RETRAIN_MIN_APPROVED_CLIPS = 3
    voice = voice_of_speaker(SPEAKERS["mid"], name="Ada", owner=alice)
    hook = alice_api.post("/api/v1/webhooks/", {"url": "https://hooks.example.com/vc",
                                                "event_types": ["voice.drift_detected"]}, format="json")
    assert hook.status_code == 201, hook.content
    v1 = voice.current_version
    store_generated(voice, v1, replies(v1.provider_voice_id, 8), lineage_depth=1)
    # A retrain that passes the gate: v2 goes live, and its probe set is its drift baseline.
    run = staff_api.post("/api/v1/retrain-runs/", {"voice": str(voice.pk)}, format="json").json()
    with run_tasks():
        staff_api.post(f"/api/v1/retrain-runs/{run['id']}/approve/")
    assert staff_api.post(f"/api/v1/retrain-runs/{run['id']}/promote/", {}, format="json").status_code == 200
    voice.refresh_from_db()
    v2 = voice.current_version
    assert v2.number == 2
    store_replies(voice, spoken_by=v2.provider_voice_id, count=4, days_ago=1)
    assert drift_monitor_run()["flagged"] == []
    assert DriftPoint.objects.get(voice=voice).baseline_source == "probes"

    emulator_ctl.shift_timbre(v2.provider_voice_id, median_pitch_hz=-40, formant_scale=0.9)
    store_replies(voice, spoken_by=v2.provider_voice_id, count=8, start=4)
    result = drift_monitor_run()
    point = DriftPoint.objects.filter(voice=voice).latest("measured_at")
    assert result["flagged"] == [str(voice.pk)], (point.similarity, point.baseline_similarity, point.components)
    assert point.is_out_of_band and point.baseline_similarity < 0.5
    assert "left_baseline" in [r["code"] for r in point.reasons]
    event = Event.objects.get(type="voice.drift_detected")
    assert event.user == voice.owner and event.voice_id == voice.pk
    assert event.payload["version"] == 2 and event.payload["rollback_versions"] == [1]
    assert WebhookDelivery.objects.filter(event=event).count() == 1
    feed = alice_api.get("/api/v1/events/?type=voice.drift_detected").json()["results"]
    assert [e["payload"]["drift_point_id"] for e in feed] == [point.pk]
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


def test_staff_check_drift_now_from_the_voice_list(alice, emulator_ctl, staff_client):
    """From outside nothing but the daily schedule ran the monitor: staff could not check a voice they suspect.
    The voice list's action checks the selected voices at once and says what it found."""
    steady = voice_of_speaker(SPEAKERS["mid"], name="Steady")
    store_replies(steady, spoken_by=steady.current_version.provider_voice_id, count=4, days_ago=10)
    store_replies(steady, spoken_by=steady.current_version.provider_voice_id, count=3, start=4)
    shifted = voice_of_speaker(SPEAKERS["mid"], name="Shifted")
    own = shifted.current_version.provider_voice_id
    store_replies(shifted, spoken_by=own, count=4, days_ago=10)
    emulator_ctl.shift_timbre(own, median_pitch_hz=-40, formant_scale=0.9)
    store_replies(shifted, spoken_by=own, count=4, start=4)
    quiet = voice_at_provider(alice, name="Quiet")

    response = staff_client.post("/admin/clones/voice/", {
        "action": "check_drift_now", "_selected_action": [str(v.pk) for v in (steady, shifted, quiet)]}, follow=True)
    said = [str(m) for m in response.context["messages"]]
    assert any(m.startswith("Steady: in band") for m in said), said
    assert any(m.startswith("Shifted: drifting.") and "baseline" in m for m in said), said
    assert any(m.startswith("Quiet: not checked,") and "replies" in m for m in said), said
    assert DriftPoint.objects.get(voice=shifted).is_out_of_band
    assert not DriftPoint.objects.get(voice=steady).is_out_of_band
    assert Event.objects.filter(type="voice.drift_detected", voice=shifted).count() == 1


def test_voices_without_enough_recent_replies_are_skipped(alice, emulator_ctl):
    voice = voice_at_provider(alice, name="Quiet")
    store_replies(voice, spoken_by=voice.current_version.provider_voice_id, count=2)
    result = drift_monitor_run()
    assert "measurable recent replies" in result["skipped"][str(voice.pk)]
    assert not DriftPoint.objects.filter(voice=voice).exists()
    Voice.objects.filter(pk=voice.pk).update(status=Voice.Status.DISABLED)
    assert str(voice.pk) not in drift_monitor_run()["skipped"]


def _chat_reply(api, voice, text, run_tasks) -> ClipSample:
    """One chat turn in a new conversation, through the API and the reply pipeline; the reply's clip."""
    from conversations.models import Message

    conversation = api.post("/api/v1/conversations/", {"voice": str(voice.pk)}, format="json").json()["id"]
    with run_tasks():
        response = api.post(f"/api/v1/conversations/{conversation}/messages/", {"text": text}, format="json")
    assert response.status_code == 202, response.content
    message = Message.objects.select_related("clip").get(pk=response.json()["assistant_message"]["id"])
    assert message.status == "ready", message.failure_reason
    return message.clip


def test_replies_that_reuse_an_earlier_render_do_not_hide_a_planted_shift(alice, alice_api, emulator_ctl,
                                                                           run_tasks, settings):
    """Identical replies reuse a stored render (no provider call). Such copies are old audio: were they
    sampled, a voice whose provider voice changed would look unchanged (seen from outside: the offline
    responder answers "Hi." the same way in every new conversation, so every newest reply was a copy)."""
    settings.FIDELITY_DRIFT_SAMPLE_SIZE = 4
    voice = voice_of_speaker(SPEAKERS["mid"], name="Ada", owner=alice)
    first = ["Tell me a story about the sea.", "What is your favourite food?", "How are you today?",
             "Do you like music?"]
    before = [_chat_reply(alice_api, voice, text, run_tasks) for text in first]
    assert all(clip.reused_from_id is None for clip in before)
    emulator_ctl.shift_timbre(voice.current_version.provider_voice_id, median_pitch_hz=-40, formant_scale=0.9)
    after = [_chat_reply(alice_api, voice, text, run_tasks) for text in
             ["Tell me a joke.", "What do you think about trains?", "Any advice for a rainy day?",
              "What did you do last weekend?"]]
    assert all(clip.reused_from_id is None for clip in after)
    assert not {c.text for c in after} & {c.text for c in before}
    copies = [_chat_reply(alice_api, voice, text, run_tasks) for text in first]  # the newest replies
    assert [c.reused_from_id for c in copies] == [c.pk for c in before]

    result = drift_monitor_run()
    point = DriftPoint.objects.get(voice=voice)
    assert sorted(point.clip_ids) == sorted(c.pk for c in after)
    assert result["flagged"] == [str(voice.pk)], (point.baseline_similarity, point.components)
    assert "left_baseline" in [r["code"] for r in point.reasons]
    assert Event.objects.filter(type="voice.drift_detected", voice=voice).count() == 1


def test_a_reply_baseline_is_fixed_by_the_first_check_so_a_shift_cannot_grow_into_it(alice, emulator_ctl):
    """Seen from outside: a voice with 6 replies, a planted shift, 5 more. "The earliest 8 replies" taken afresh
    held 2 shifted ones, the newest 8 held 3 unshifted ones, and the shift was never flagged."""
    voice = voice_of_speaker(SPEAKERS["mid"], name="Ada", owner=alice)
    own = voice.current_version.provider_voice_id
    before = store_replies(voice, spoken_by=own, count=6, days_ago=1)
    assert drift_monitor_run()["flagged"] == []
    first = DriftPoint.objects.get(voice=voice)
    assert first.baseline_source == "replies" and sorted(first.baseline_clip_ids) == sorted(c.pk for c in before)

    emulator_ctl.shift_timbre(own, median_pitch_hz=-40, formant_scale=0.9)
    after = store_replies(voice, spoken_by=own, count=5, start=6)
    result = drift_monitor_run()
    point = DriftPoint.objects.filter(voice=voice).latest("measured_at")
    assert sorted(point.baseline_clip_ids) == sorted(first.baseline_clip_ids)  # the baseline did not move
    assert sorted(point.clip_ids) == sorted(c.pk for c in after)  # only replies since the baseline
    assert result["flagged"] == [str(voice.pk)], (point.baseline_similarity, point.components)
    assert point.is_out_of_band and "left_baseline" in [r["code"] for r in point.reasons]


def test_a_check_scores_only_replies_since_the_previous_check(alice, emulator_ctl):
    """Seen from outside: 3 shifted replies among the newest 8 (5 from before the shift, already judged in band
    by the previous check) scored 0.80 against the baseline: in band. A check looks at what is new."""
    voice = voice_of_speaker(SPEAKERS["mid"], name="Ada", owner=alice)
    own = voice.current_version.provider_voice_id
    store_replies(voice, spoken_by=own, count=4, days_ago=2)
    assert drift_monitor_run()["flagged"] == []
    store_replies(voice, spoken_by=own, count=5, start=4, days_ago=1)
    assert drift_monitor_run()["flagged"] == []
    emulator_ctl.shift_timbre(own, median_pitch_hz=-40, formant_scale=0.9)
    shifted = store_replies(voice, spoken_by=own, count=3, start=1)
    result = drift_monitor_run()
    point = DriftPoint.objects.filter(voice=voice).latest("measured_at")
    assert sorted(point.clip_ids) == sorted(c.pk for c in shifted)
    assert result["flagged"] == [str(voice.pk)], (point.baseline_similarity, point.components)
    # Nothing new since: the voice is skipped, no point, no second event.
    assert "since the last check" in drift_monitor_run()["skipped"][str(voice.pk)]
    assert Event.objects.filter(type="voice.drift_detected", voice=voice).count() == 1
