"""`manage.py demo --history` (issue 12): a newcomer proposes, approves, previews and promotes a retrain at once."""

from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from clones.models import ClipSample, Voice
from retraining.models import RetrainRun
from tests.served_audio import served

pytestmark = pytest.mark.django_db

RUNS = "/admin/retraining/retrainrun/"


def test_demo_history_then_the_readme_steps_promote_a_retrain(client, emulator_ctl, run_tasks, settings):
    settings.DEBUG = True  # the demo admin has the well-known password only in development (docs/production.md)
    # bin/run's turn rate (test settings switch it off): the command seeds two dozen turns in well under a
    # minute, which a newcomer's run of the README's command hit ("Too many messages: at most 20 every minute").
    settings.CHAT_TURN_RATE = (20, 60)
    out = StringIO()
    with run_tasks():
        call_command("demo", "--history", stdout=out)
    voice = Voice.objects.get(name="Ben (demo with history)")
    assert "History voice “Ben (demo with history)”" in out.getvalue()
    generated = ClipSample.objects.filter(voice=voice, source="generated")
    assert voice.conversations.count() >= django_settings.RETRAIN_MIN_CONVERSATIONS
    assert generated.filter(review_status="approved").count() >= django_settings.RETRAIN_MIN_APPROVED_CLIPS
    assert generated.filter(review_status="rejected").exists() and generated.filter(review_status="pending").exists()
    assert not generated.filter(analysed_at__isnull=True).exists()

    # The README's steps, as the demo admin.
    assert client.login(username="admin", password="voiceclone-demo")
    page = client.get(f"{RUNS}eligibility/").content.decode()
    assert f'data-voice="{voice.pk}"' in page
    row = page[page.index(f'data-voice="{voice.pk}"'):]
    assert row[:row.index("</tr>")].count('value="Propose"') == 1, "the history voice must be eligible"

    response = client.post(f"{RUNS}eligibility/", {"voice": str(voice.pk)})
    run = RetrainRun.objects.get(voice=voice)
    assert response["Location"] == f"{RUNS}{run.pk}/change/"
    assert run.run_clips.filter(role="generated").exists()
    with run_tasks():
        client.post(f"{RUNS}{run.pk}/act/approve/")
    run.refresh_from_db()
    assert run.state == RetrainRun.State.CANDIDATE, run.failure_message
    preview = served(client.get(f"/admin/clones/clipsample/{run.preview_new_clip_id}/audio/"))
    assert preview.status == 200
    client.post(f"{RUNS}{run.pk}/act/promote/")
    voice.refresh_from_db()
    assert voice.current_version.number == 2

    # Idempotent: a second call tops up nothing and creates no second voice.
    conversations = voice.conversations.count()
    with run_tasks():
        call_command("demo", "--history", stdout=StringIO())
    assert Voice.objects.filter(name="Ben (demo with history)").count() == 1
    assert voice.conversations.count() == conversations


def test_demo_history_waits_for_a_cluster_worker_that_claimed_the_voice(emulator_ctl, run_tasks, settings):
    """With bin/run's cluster running, the creation task the command's own voice_create enqueued may be
    claimed by a worker before the command creates the clone inline; the command used to fail at once
    ("The history voice could not be created: ", no reason). It now waits for the worker, or for the
    worker's lease to lapse and takes the creation over."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from voiceclone.management.commands.demo import demo_recording
    from voiceclone.management.demo_history import HISTORY_VOICE_NAME
    from tests.factories import ClipSampleFactory, ConsentRecordFactory, VoiceFactory

    settings.DEBUG = True
    settings.WORK_LEASE_S = 1
    call_command("demo", stdout=StringIO())
    admin = get_user_model().objects.get(username="admin")
    voice = VoiceFactory(owner=admin, name=HISTORY_VOICE_NAME, status=Voice.Status.CREATING, with_version=False)
    ConsentRecordFactory(voice=voice)
    for seed in (20, 21):
        ClipSampleFactory(voice=voice, source=ClipSample.Source.ORIGINAL, text="", content_type="audio/wav",
                          audio=demo_recording(seconds=10.0, seed=seed))
    Voice.objects.filter(pk=voice.pk).update(claimed_at=timezone.now())  # a live worker holds it

    with run_tasks():
        call_command("demo", "--history", stdout=StringIO())

    voice.refresh_from_db()
    assert voice.status == Voice.Status.READY and voice.current_version.number == 1
    assert voice.conversations.count() >= django_settings.RETRAIN_MIN_CONVERSATIONS
