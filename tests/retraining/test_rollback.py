"""Reject, cancel and roll back: the candidate is deleted at the provider; an archived version that still
exists comes back; the Voice id never changes."""

import pytest
from django.test import override_settings

from clones.models import Voice, VoiceVersion
from conversations.models import Message
from retraining.models import ProviderVoiceDeletion, RetrainRun
from retraining.services import retrain_run_approve, retrain_run_promote, retrain_run_propose
from tests.factories import MessageFactory
from voiceclone import provider
from voiceclone.events.models import Event

from .helpers import retrainable_voice, run_creates

pytestmark = pytest.mark.django_db


def candidate(voice, staff, run_tasks) -> RetrainRun:
    with run_tasks():
        run = retrain_run_approve(run=retrain_run_propose(voice=voice), by=staff)
    run.refresh_from_db()
    assert run.state == RetrainRun.State.CANDIDATE, run.failure_message
    return run


def test_rollback_reactivates_the_archived_version_through_the_api(alice, staff, staff_api, emulator_ctl, run_tasks):
    voice = retrainable_voice(alice)
    v1 = voice.current_version
    run = candidate(voice, staff, run_tasks)
    retrain_run_promote(run=run, by=staff)
    v2 = run.new_version

    response = staff_api.post(f"/api/v1/voices/{voice.pk}/rollback/", {"version": 1}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["id"] == str(voice.pk)
    assert response.json()["current_version"]["number"] == 1
    v1.refresh_from_db(), v2.refresh_from_db(), run.refresh_from_db()
    assert (v1.state, v2.state) == (VoiceVersion.State.ACTIVE, VoiceVersion.State.ARCHIVED)
    assert Voice.objects.get(pk=voice.pk).current_version_id == v1.pk
    assert run.state == RetrainRun.State.ROLLED_BACK
    event = Event.objects.get(type="voice.version_rolled_back")
    assert event.user == alice and event.payload["version"] == 1 and event.payload["previous_version"] == 2
    # Only a GET to check v1 still exists, no provider write.
    assert emulator_ctl.requests(path=rf"^/v1/voices/{v1.provider_voice_id}$", method="GET")
    # Rolling forward again is a rollback to v2.
    assert staff_api.post(f"/api/v1/voices/{voice.pk}/rollback/", {"version": 2}, format="json").status_code == 200
    assert Voice.objects.get(pk=voice.pk).current_version_id == v2.pk


def test_rollback_is_staff_only_and_foreign_voices_are_404(alice, alice_api, bob_api, staff, emulator_ctl,
                                                           run_tasks):
    voice = retrainable_voice(alice)
    run = candidate(voice, staff, run_tasks)
    retrain_run_promote(run=run, by=staff)
    assert alice_api.post(f"/api/v1/voices/{voice.pk}/rollback/", {"version": 1}, format="json").status_code == 403
    assert bob_api.post(f"/api/v1/voices/{voice.pk}/rollback/", {"version": 1}, format="json").status_code == 404
    assert Voice.objects.get(pk=voice.pk).current_version.number == 2


def test_rollback_refuses_a_version_gone_at_the_provider_and_records_it(alice, staff, staff_api, emulator_ctl,
                                                                       run_tasks):
    voice = retrainable_voice(alice)
    v1 = voice.current_version
    run = candidate(voice, staff, run_tasks)
    retrain_run_promote(run=run, by=staff)
    provider.delete_voice(voice_id=v1.provider_voice_id)  # deleted outside voiceclone

    response = staff_api.post(f"/api/v1/voices/{voice.pk}/rollback/", {"version": 1}, format="json")
    assert response.status_code == 409
    assert "no longer exists" in response.json()["detail"]
    v1.refresh_from_db()
    assert v1.state == VoiceVersion.State.DELETED
    assert Voice.objects.get(pk=voice.pk).current_version.number == 2
    for bad in ({"version": 2}, {"version": 9}):  # the active one; one that does not exist
        assert staff_api.post(f"/api/v1/voices/{voice.pk}/rollback/", bad, format="json").status_code == 409


def test_run_rollback_action_and_a_version_being_deleted_is_refused(alice, staff, staff_api, emulator_ctl,
                                                                   run_tasks):
    voice = retrainable_voice(alice)
    v1 = voice.current_version
    run = candidate(voice, staff, run_tasks)
    retrain_run_promote(run=run, by=staff)
    intent = ProviderVoiceDeletion.objects.create(version=v1, provider_voice_id=v1.provider_voice_id, reason="staff")
    response = staff_api.post(f"/api/v1/retrain-runs/{run.pk}/rollback/")
    assert response.status_code == 409 and "being deleted" in response.json()["detail"]
    intent.delete()
    response = staff_api.post(f"/api/v1/retrain-runs/{run.pk}/rollback/")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "rolled_back"
    assert Voice.objects.get(pk=voice.pk).current_version_id == v1.pk


def test_reject_deletes_the_candidate_at_the_provider(alice, staff, staff_api, emulator_ctl, run_tasks):
    voice = retrainable_voice(alice)
    run = candidate(voice, staff, run_tasks)
    candidate_id = run.new_version.provider_voice_id
    # A reply in flight speaks with the active version, never with a candidate: it does not hold the deletion.
    MessageFactory(conversation=voice.conversations.first(), status=Message.Status.PENDING)
    with run_tasks():
        response = staff_api.post(f"/api/v1/retrain-runs/{run.pk}/reject/", {"reason": "sounds flat"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "rejected"
    assert candidate_id not in emulator_ctl.voice_ids()
    run.refresh_from_db()
    assert run.new_version.state == VoiceVersion.State.DELETED
    assert run.failure_message == "sounds flat" and run.finished_by == staff
    assert Voice.objects.get(pk=voice.pk).current_version.number == 1
    assert Event.objects.filter(type="retrain.rejected", voice=voice).exists()
    # A rejected run can be neither promoted nor rejected again.
    assert staff_api.post(f"/api/v1/retrain-runs/{run.pk}/promote/").status_code == 409
    assert staff_api.post(f"/api/v1/retrain-runs/{run.pk}/reject/").status_code == 409


def test_promote_refuses_a_candidate_gone_at_the_provider(alice, staff, staff_api, emulator_ctl, run_tasks):
    voice = retrainable_voice(alice)
    run = candidate(voice, staff, run_tasks)
    provider.delete_voice(voice_id=run.new_version.provider_voice_id)
    response = staff_api.post(f"/api/v1/retrain-runs/{run.pk}/promote/")
    assert response.status_code == 409
    assert Voice.objects.get(pk=voice.pk).current_version.number == 1
    assert RetrainRun.objects.get(pk=run.pk).state == RetrainRun.State.CANDIDATE


def test_a_failed_run_can_be_retried_and_resumes_without_a_second_voice(alice, staff, staff_api, emulator_ctl,
                                                                        run_tasks):
    voice = retrainable_voice(alice)
    # The candidate is created, then both preview renders fail (5xx, after the adapter's retries).
    emulator_ctl.add_fault(path=r"^/v1/text-to-speech/", method="POST", status=500, count=50)
    with run_tasks():
        run = retrain_run_approve(run=retrain_run_propose(voice=voice), by=staff)
    run.refresh_from_db()
    assert run.state == RetrainRun.State.FAILED and run.failure_code == "preview_failed"
    assert run.new_version is not None
    emulator_ctl.clear_faults()
    with run_tasks():
        response = staff_api.post(f"/api/v1/retrain-runs/{run.pk}/retry/")
    assert response.status_code == 202
    run.refresh_from_db()
    assert run.state == RetrainRun.State.CANDIDATE
    assert len(run_creates(emulator_ctl)) == 1
    assert run.preview_new_clip.file


@override_settings(RETRAIN_ALLOW_EDIT_IN_PLACE=True)
def test_edit_in_place_adds_samples_to_the_same_provider_voice_and_cannot_be_rolled_back(
    alice, staff, staff_api, emulator_ctl, run_tasks
):
    voice = retrainable_voice(alice)
    version = voice.current_version
    samples_before = len(provider.get_voice(voice_id=version.provider_voice_id).samples)
    response = staff_api.post("/api/v1/retrain-runs/", {"voice": str(voice.pk), "strategy": "edit_in_place"},
                              format="json")
    assert response.status_code == 201, response.content
    assert response.json()["is_irreversible"] is True
    assert response.json()["slot_plan"]["needs_slot"] is False
    run_id = response.json()["id"]
    with run_tasks():
        assert staff_api.post(f"/api/v1/retrain-runs/{run_id}/approve/").status_code == 202
    run = RetrainRun.objects.get(pk=run_id)
    assert run.state == RetrainRun.State.PROMOTED, run.failure_message
    assert run_creates(emulator_ctl) == []
    assert Voice.objects.get(pk=voice.pk).current_version_id == version.pk  # same version, same provider id
    after = provider.get_voice(voice_id=version.provider_voice_id)
    assert len(after.samples) == samples_before + run.run_clips.count()
    assert run.preview_old_clip.file and run.preview_new_clip.file
    assert Event.objects.get(type="voice.version_promoted", voice=voice).payload["in_place"] is True
    assert staff_api.post(f"/api/v1/retrain-runs/{run_id}/rollback/").status_code == 409


def test_edit_in_place_is_refused_unless_the_setting_allows_it(alice, staff_api, emulator_ctl):
    voice = retrainable_voice(alice)
    response = staff_api.post("/api/v1/retrain-runs/", {"voice": str(voice.pk), "strategy": "edit_in_place"},
                              format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "edit_in_place_disabled"
