"""Staff approve, listen A/B, promote and roll back in the admin; eligibility and quota panels."""

import pytest
from django.contrib.messages import get_messages

from clones.models import Voice, VoiceVersion
from retraining.models import RetrainRun
from retraining.services import retrain_run_propose

from .helpers import add_conversations, retrainable_voice, voice_at_provider, voice_with_history

from tests.served_audio import served

pytestmark = pytest.mark.django_db

RUNS = "/admin/retraining/retrainrun/"


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_staff_approve_listen_promote_and_roll_back_in_the_admin(staff_client, emulator_ctl, run_tasks):
    voice = retrainable_voice(name="Ada")
    run = retrain_run_propose(voice=voice)

    listing = staff_client.get(RUNS)
    assert listing.status_code == 200
    text = listing.content.decode()
    assert "Ada" in text and "proposed" in text
    assert f"{run.run_clips.count()}</td>" in text  # clip count column
    assert "1/30 used" in text  # quota snapshot column
    assert "/admin/retraining/retrainrun/eligibility/" in text and "/admin/retraining/retrainrun/quota/" in text

    page = staff_client.get(f"{RUNS}{run.pk}/change/").content.decode()
    first_clip = run.run_clips.order_by("position").first().clip_id
    assert f'src="/admin/clones/clipsample/{first_clip}/audio/"' in page  # selected clips are playable
    assert 'name="approve"' in page and 'name="promote"' not in page
    assert "It will find a slot" in page

    # Promoting a proposed run is refused with a message, not an error page.
    response = staff_client.post(f"{RUNS}{run.pk}/act/promote/")
    assert response.status_code == 302
    assert any("Only a candidate" in m for m in messages_of(response))

    with run_tasks():
        response = staff_client.post(f"{RUNS}{run.pk}/act/approve/")
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.state == RetrainRun.State.CANDIDATE
    page = staff_client.get(f"{RUNS}{run.pk}/change/").content.decode()
    old_url = f"/admin/clones/clipsample/{run.preview_old_clip_id}/audio/"
    new_url = f"/admin/clones/clipsample/{run.preview_new_clip_id}/audio/"
    assert old_url in page and new_url in page and 'name="promote"' in page
    audio = served(staff_client.get(new_url))
    assert audio.status == 200 and audio.headers["content-type"] == "audio/mpeg"

    response = staff_client.post(f"{RUNS}{run.pk}/act/promote/")
    assert any("promoted" in m for m in messages_of(response))
    assert Voice.objects.get(pk=voice.pk).current_version.number == 2
    page = staff_client.get(f"{RUNS}{run.pk}/change/").content.decode()
    assert 'name="rollback"' in page
    staff_client.post(f"{RUNS}{run.pk}/act/rollback/")
    assert Voice.objects.get(pk=voice.pk).current_version.number == 1
    assert RetrainRun.objects.get(pk=run.pk).state == RetrainRun.State.ROLLED_BACK


def test_eligibility_panel_shows_why_and_proposes(staff_client, emulator_ctl):
    eligible = retrainable_voice(name="Ready Ada")
    small = voice_at_provider(name="Small Sam")
    add_conversations(small, 4)
    page = staff_client.get(f"{RUNS}eligibility/").content.decode()
    assert "1 of 2 voices eligible" in page
    # Human sentences that say what to do, never raw reason codes.
    assert "Needs 16 more conversations with spoken replies: 4 of 20 in the last 30 days." in page
    assert "Approve 16 more clips in the review queue: 4 of 20 approved and unused in the last 30 days." in page
    assert "<li>1 voice: too few conversations</li>" in page
    assert "too_few_conversations" not in page and "too_few_approved_clips" not in page
    # The eligible voice: what its run would upload and cost.
    assert "the next run would upload 3 originals and" in page
    assert "next run ≈ " in page

    response = staff_client.post(f"{RUNS}eligibility/", {"voice": str(small.pk)})
    assert any("not eligible" in m for m in messages_of(response))
    response = staff_client.post(f"{RUNS}eligibility/", {"voice": str(eligible.pk)})
    run = RetrainRun.objects.get(voice=eligible)
    assert response["Location"] == f"{RUNS}{run.pk}/change/"
    assert run.proposed_by.username == "staff"


def test_quota_panel_lists_archived_voices_oldest_first_and_cleans_up(staff_client, emulator_ctl, run_tasks):
    voice, (v1, v2, v3) = voice_with_history(name="Hist", archived=2)
    page = staff_client.get(f"{RUNS}quota/").content.decode()
    assert "<strong>3/30</strong> custom voice slots used" in page
    assert page.index(v1.provider_voice_id) < page.index(v2.provider_voice_id)
    assert "beyond keep count: cleanup deletes it" in page and "kept for rollback" in page
    with run_tasks():
        staff_client.post(f"{RUNS}quota/", {"cleanup": "1"})
    assert VoiceVersion.objects.get(pk=v1.pk).state == VoiceVersion.State.DELETED
    assert VoiceVersion.objects.get(pk=v2.pk).state == VoiceVersion.State.ARCHIVED


def test_cleanup_action_on_the_version_admin(staff_client, emulator_ctl, run_tasks):
    voice, (v1, v2, v3) = voice_with_history(name="Hist", archived=2)
    with run_tasks():
        response = staff_client.post("/admin/clones/voiceversion/", {
            "action": "cleanup_archived_voices", "_selected_action": [v1.pk],
        })
    assert response.status_code == 302
    assert any("Cleanup started" in m for m in messages_of(response))
    assert VoiceVersion.objects.get(pk=v1.pk).state == VoiceVersion.State.DELETED


def test_non_staff_cannot_reach_the_panels(client, alice):
    client.force_login(alice)
    for url in (RUNS, f"{RUNS}eligibility/", f"{RUNS}quota/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
