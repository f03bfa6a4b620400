"""The run task at the account's custom-voice limit: free exactly one slot by policy, or wait (no create call)
and resume by itself once a slot frees, first in line first."""

import pytest
from django.test import override_settings

from clones.models import VoiceVersion
from conversations.models import Message
from retraining.models import RetrainRun
from retraining.services import (
    retrain_run_approve,
    retrain_run_propose,
    retrain_runs_resume,
    version_delete_enqueue,
)
from tests.factories import UserFactory
from voiceclone.events.models import Event

from .helpers import fill_account, retrainable_voice, run_creates, voice_with_history

pytestmark = pytest.mark.django_db

CREATE = r"^/v1/voices/add$"


def approve_through_api(api, run_tasks, voice) -> int:
    response = api.post("/api/v1/retrain-runs/", {"voice": str(voice.pk)}, format="json")
    assert response.status_code == 201, response.content
    run_id = response.json()["id"]
    with run_tasks():
        response = api.post(f"/api/v1/retrain-runs/{run_id}/approve/")
    assert response.status_code == 202, response.content
    return run_id


def test_at_30_of_30_a_run_frees_exactly_one_archived_slot_and_ends_candidate(
    staff_api, emulator_ctl, run_tasks, alice
):
    voice = retrainable_voice(alice)
    other, (b1, b2, b3, b4) = voice_with_history(name="Bea", archived=3)  # b1, b2 beyond the keep count (1)
    fill_account(emulator_ctl)
    assert len(emulator_ctl.voice_ids()) == 30

    # Proposed: the plan says it will find a slot, by freeing one of the two voices beyond the keep count.
    response = staff_api.post("/api/v1/retrain-runs/", {"voice": str(voice.pk)}, format="json")
    plan = response.json()["slot_plan"]
    assert (plan["slots_used"], plan["voice_limit"], plan["slots_free"]) == (30, 30, 0)
    assert [v["version_id"] for v in plan["freeable"]] == [b1.pk, b2.pk]
    assert plan["will_find_slot"] is True
    run_id = response.json()["id"]
    with run_tasks():
        assert staff_api.post(f"/api/v1/retrain-runs/{run_id}/approve/").status_code == 202

    run = RetrainRun.objects.get(pk=run_id)
    assert run.state == RetrainRun.State.CANDIDATE, (run.failure_message, run.waiting_reason)
    deletes = emulator_ctl.requests(path=r"^/v1/voices/[^/]+$", method="DELETE")
    assert [d["path"] for d in deletes] == [f"/v1/voices/{b1.provider_voice_id}"]  # exactly one: the oldest
    b1.refresh_from_db(), b2.refresh_from_db(), b3.refresh_from_db()
    assert b1.state == VoiceVersion.State.DELETED and b1.deleted_at is not None
    assert (b2.state, b3.state) == (VoiceVersion.State.ARCHIVED, VoiceVersion.State.ARCHIVED)
    assert len(run_creates(emulator_ctl)) == 1
    assert len(emulator_ctl.voice_ids()) == 30
    assert run.new_version.state == VoiceVersion.State.CANDIDATE
    assert run.new_version.number == 2 and run.new_version.created_by_run_id == run.pk
    assert run.new_version.provider_voice_id in emulator_ctl.voice_ids()
    assert run.old_version_id == voice.current_version_id
    assert run.quota_snapshot["at"] == "run" and run.quota_snapshot["slots_used"] == 30
    # The A/B previews: one sentence, spoken by the active and by the candidate version.
    assert run.preview_old_clip.version_id == run.old_version_id
    assert run.preview_new_clip.version_id == run.new_version_id
    assert run.preview_old_clip.text == run.preview_new_clip.text
    assert run.preview_old_clip.source == run.preview_new_clip.source == "preview"
    assert run.preview_old_clip.file.name.startswith(f"clone_previews/{voice.pk}/")
    assert run.preview_new_clip.sha256 != run.preview_old_clip.sha256  # different timbre per provider voice
    assert Event.objects.filter(type="retrain.candidate", voice=voice, user=alice).exists()


def test_with_nothing_deletable_the_run_waits_without_a_create_call_and_resumes_after_staff_delete(
    staff, staff_api, client, emulator_ctl, run_tasks, alice
):
    voice = retrainable_voice(alice)
    other, (b1, b2) = voice_with_history(name="Bea", archived=1)  # b1 is within the keep count
    fill_account(emulator_ctl)

    run_id = approve_through_api(staff_api, run_tasks, voice)
    run = RetrainRun.objects.get(pk=run_id)
    assert run.state == RetrainRun.State.WAITING_FOR_SLOT
    assert run_creates(emulator_ctl) == []
    assert emulator_ctl.requests(method="DELETE") == []
    assert "30/30" in run.waiting_reason
    assert "Bea v1" in run.waiting_reason  # exactly what staff could delete
    detail = staff_api.get(f"/api/v1/retrain-runs/{run_id}/").json()
    assert detail["queue_position"] == 1
    assert [o["version_id"] for o in detail["slot_plan"]["staff_could_delete"]] == [b1.pk]
    assert detail["slot_plan"]["will_find_slot"] is False
    assert Event.objects.filter(type="retrain.waiting_for_slot", voice=voice).count() == 1

    # The minute re-check changes nothing while no slot frees (and says nothing new).
    with run_tasks():
        assert retrain_runs_resume() == []
    assert RetrainRun.objects.get(pk=run_id).state == RetrainRun.State.WAITING_FOR_SLOT
    assert run_creates(emulator_ctl) == []
    assert Event.objects.filter(type="retrain.waiting_for_slot", voice=voice).count() == 1

    # Staff delete the unrelated voice's archived version in the admin quota panel: the run completes.
    client.force_login(staff)
    with run_tasks():
        response = client.post("/admin/retraining/retrainrun/quota/", {"version": b1.pk})
    assert response.status_code == 302
    b1.refresh_from_db()
    assert b1.state == VoiceVersion.State.DELETED
    run.refresh_from_db()
    assert run.state == RetrainRun.State.CANDIDATE, (run.failure_message, run.waiting_reason)
    assert run.waiting_reason == ""
    assert len(run_creates(emulator_ctl)) == 1
    assert len(emulator_ctl.voice_ids()) == 30


def test_waiting_runs_resume_first_in_line_first(staff, emulator_ctl, run_tasks):
    emulator_ctl.configure(voice_limit=4)
    first = retrainable_voice(UserFactory(), name="First")
    second = retrainable_voice(UserFactory(), name="Second")
    other, (b1, b2) = voice_with_history(name="Bea", archived=1)  # 4/4 used
    runs = []
    for voice in (first, second):
        with run_tasks():
            runs.append(retrain_run_approve(run=retrain_run_propose(voice=voice), by=staff))
    for run in runs:
        run.refresh_from_db()
        assert run.state == RetrainRun.State.WAITING_FOR_SLOT
    assert RetrainRun.objects.get(pk=runs[1].pk).quota_snapshot["position"] == 2

    # One slot frees: the first in line takes it; the second keeps waiting, now first in line.
    with run_tasks():
        version_delete_enqueue(version=b1, by=staff)
    states = [RetrainRun.objects.get(pk=r.pk).state for r in runs]
    assert states == [RetrainRun.State.CANDIDATE, RetrainRun.State.WAITING_FOR_SLOT]
    assert len(run_creates(emulator_ctl)) == 1


def test_a_later_run_does_not_jump_the_queue_when_a_slot_frees(staff, emulator_ctl, run_tasks):
    emulator_ctl.configure(voice_limit=3)
    first = retrainable_voice(UserFactory(), name="First")
    other, (b1, b2) = voice_with_history(name="Bea", archived=1)  # 3/3
    with run_tasks():
        waiting = retrain_run_approve(run=retrain_run_propose(voice=first), by=staff)
    emulator_ctl.configure(voice_limit=4)  # a slot appears (plan upgraded), no deletion to trigger a re-check
    late = retrainable_voice(UserFactory(), name="Late")  # takes the new slot with its own v1
    emulator_ctl.configure(voice_limit=5)
    with run_tasks():
        late_run = retrain_run_approve(run=retrain_run_propose(voice=late), by=staff)
    # The late run queued behind and woke the queue: the first run got the slot.
    assert RetrainRun.objects.get(pk=waiting.pk).state == RetrainRun.State.CANDIDATE
    assert RetrainRun.objects.get(pk=late_run.pk).state == RetrainRun.State.WAITING_FOR_SLOT


def test_voice_limit_reached_at_create_sends_the_run_back_to_waiting(staff, emulator_ctl, run_tasks):
    voice = retrainable_voice(UserFactory())
    # The quota read says a slot is free, but another writer takes it before our create call.
    emulator_ctl.add_fault(path=CREATE, method="POST", status=400, error_status="voice_limit_reached",
                           message="You have reached your maximum amount of custom voices (30 / 30).")
    with run_tasks():
        run = retrain_run_approve(run=retrain_run_propose(voice=voice), by=staff)
    run.refresh_from_db()
    assert run.state == RetrainRun.State.WAITING_FOR_SLOT
    assert "maximum amount of custom voices" in run.waiting_reason
    with run_tasks():
        retrain_runs_resume()
    run.refresh_from_db()
    assert run.state == RetrainRun.State.CANDIDATE


def test_staff_can_cancel_a_waiting_run(staff_api, emulator_ctl, run_tasks):
    voice = retrainable_voice(UserFactory())
    fill_account(emulator_ctl)
    run_id = approve_through_api(staff_api, run_tasks, voice)
    assert RetrainRun.objects.get(pk=run_id).state == RetrainRun.State.WAITING_FOR_SLOT
    with run_tasks():
        response = staff_api.post(f"/api/v1/retrain-runs/{run_id}/cancel/", {"reason": "not now"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "cancelled"
    assert run_creates(emulator_ctl) == []


@override_settings(ARCHIVED_VOICES_KEEP=0)
def test_an_archived_version_used_by_a_pending_reply_is_never_freed(staff, emulator_ctl, run_tasks):
    from tests.factories import ConversationFactory, MessageFactory

    voice = retrainable_voice(UserFactory())
    other, (b1, b2) = voice_with_history(name="Bea", archived=1)
    fill_account(emulator_ctl)
    # A reply of Bea's voice started before v1 was archived may still be speaking with it.
    conversation = ConversationFactory(voice=other)
    pending = MessageFactory(conversation=conversation, status=Message.Status.PENDING)
    Message.objects.filter(pk=pending.pk).update(created_at=b1.archived_at.replace(year=b1.archived_at.year - 1))
    with run_tasks():
        run = retrain_run_approve(run=retrain_run_propose(voice=voice), by=staff)
    run.refresh_from_db()
    assert run.state == RetrainRun.State.WAITING_FOR_SLOT
    assert emulator_ctl.requests(method="DELETE") == []
    b1.refresh_from_db()
    assert b1.state == VoiceVersion.State.ARCHIVED
