"""Eligibility over a configurable window, through the API, the scan and its command."""

import pytest
from django.core.management import call_command
from django.test import override_settings

from clones.models import ClipSample, Voice
from retraining.models import RetrainRun
from retraining.services import retrain_scan
from tests.factories import ClipSampleFactory, VoiceFactory

from .helpers import add_conversations, voice_at_provider

pytestmark = pytest.mark.django_db


def propose(api, voice):
    return api.post("/api/v1/retrain-runs/", {"voice": str(voice.pk)}, format="json")


def eligibility_of(api, voice):
    response = api.get(f"/api/v1/retrain-runs/eligibility/?voice={voice.pk}")
    assert response.status_code == 200, response.content
    (row,) = response.json()
    return row


def test_nineteen_conversations_are_not_eligible_and_the_reason_is_given(staff_api, emulator_ctl):
    voice = voice_at_provider()
    add_conversations(voice, 19, days_spread=10)

    row = eligibility_of(staff_api, voice)
    assert row["is_eligible"] is False
    assert row["counts"]["conversations_with_clips"] == 19
    assert row["counts"]["min_conversations"] == 20
    assert "too_few_conversations" in [r["code"] for r in row["reasons"]]

    response = propose(staff_api, voice)
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "not_eligible"
    assert "too_few_conversations" in [r["code"] for r in body["extra"]["reasons"]]
    assert body["extra"]["counts"]["conversations_with_clips"] == 19
    assert not RetrainRun.objects.exists()


def test_twenty_conversations_over_25_days_are_eligible_with_window_30_not_with_7(staff_api, emulator_ctl):
    voice = voice_at_provider()
    add_conversations(voice, 20, days_spread=25)

    with override_settings(RETRAIN_WINDOW_DAYS=7):
        row = eligibility_of(staff_api, voice)
        assert row["is_eligible"] is False
        assert row["counts"]["window_days"] == 7
        # 25 days spread evenly over 20 conversations: those of the last 7 days are 6.
        assert row["counts"]["conversations_with_clips"] == 6
        assert "too_few_conversations" in [r["code"] for r in row["reasons"]]
        assert propose(staff_api, voice).status_code == 422

    with override_settings(RETRAIN_WINDOW_DAYS=30):
        row = eligibility_of(staff_api, voice)
        assert row["is_eligible"] is True, row
        assert row["counts"]["conversations_with_clips"] == 20
        response = propose(staff_api, voice)
    assert response.status_code == 201, response.content
    run = response.json()
    assert run["state"] == "proposed"
    assert run["voice"] == str(voice.pk)
    assert run["eligibility_snapshot"]["counts"]["conversations_with_clips"] == 20
    # The frozen selection: the originals plus approved generated clips of this voice.
    sources = {c["source"] for c in run["clips"]}
    assert sources == {"original", "generated"}
    assert run["clip_count"] == len(run["clips"])
    assert run["total_duration_s"] > 60
    # Slot planning is shown on the proposal.
    plan = run["slot_plan"]
    assert plan["voice_limit"] == 30 and plan["slots_used"] == 1 and plan["will_find_slot"] is True
    assert plan["runs_ahead"] == []


def test_no_window_counts_every_conversation(staff_api, emulator_ctl):
    voice = voice_at_provider()
    add_conversations(voice, 20, days_spread=400)
    with override_settings(RETRAIN_WINDOW_DAYS=None):
        assert eligibility_of(staff_api, voice)["is_eligible"] is True
    assert eligibility_of(staff_api, voice)["counts"]["conversations_with_clips"] < 20


def test_unapproved_used_and_unstored_clips_do_not_count(staff_api, emulator_ctl):
    voice = voice_at_provider()
    clips = add_conversations(voice, 20, review_status=ClipSample.ReviewStatus.PENDING)
    ClipSample.objects.filter(pk=clips[0].pk).update(file="")  # a reply whose audio is not stored yet

    row = eligibility_of(staff_api, voice)
    assert row["counts"]["conversations_with_clips"] == 19
    assert row["counts"]["approved_unused_clips"] == 0
    assert {"too_few_conversations", "too_few_approved_clips"} <= {r["code"] for r in row["reasons"]}


def test_a_voice_with_a_proposed_run_is_not_eligible_again(staff_api, emulator_ctl):
    voice = voice_at_provider()
    add_conversations(voice, 20)
    assert propose(staff_api, voice).status_code == 201
    second = propose(staff_api, voice)
    assert second.status_code == 422
    assert [r["code"] for r in second.json()["extra"]["reasons"]] == ["run_in_progress"]
    assert RetrainRun.objects.filter(voice=voice).count() == 1


def test_scan_proposes_once_per_eligible_voice_and_reports_the_others(staff, emulator_ctl, capsys):
    eligible = voice_at_provider(name="Eligible")
    add_conversations(eligible, 20)
    small = voice_at_provider(name="Small")
    add_conversations(small, 3)
    VoiceFactory(status=Voice.Status.DISABLED)

    result = retrain_scan()
    assert [RetrainRun.objects.get(pk=pk).voice_id for pk in result.proposed_run_ids] == [eligible.pk]
    assert result.ineligible["too_few_conversations"] == 1
    run = RetrainRun.objects.get(voice=eligible)
    assert run.state == RetrainRun.State.PROPOSED
    assert run.proposed_by is None
    assert run.run_clips.count() > 3
    assert run.quota_snapshot["voice_limit"] == 30

    call_command("retrain_scan")  # idempotent: a proposal is pending
    assert RetrainRun.objects.filter(voice=eligible).count() == 1
    out = capsys.readouterr().out
    assert "0 run(s) proposed" in out
    call_command("retrain_scan", "--dry-run")
    assert "Small" in capsys.readouterr().out


@override_settings(RETRAIN_AUTO_APPROVE=True)
def test_auto_approve_starts_the_run(staff, emulator_ctl, run_tasks):
    voice = voice_at_provider()
    add_conversations(voice, 20)
    with run_tasks():
        result = retrain_scan()
    run = RetrainRun.objects.get(pk=result.proposed_run_ids[0])
    assert run.approved_by is None and run.approved_at is not None
    assert run.state == RetrainRun.State.CANDIDATE


def test_non_staff_cannot_see_or_propose_runs(alice_api, emulator_ctl):
    voice = voice_at_provider()
    add_conversations(voice, 20)
    assert alice_api.get("/api/v1/retrain-runs/").status_code == 403
    assert alice_api.get("/api/v1/retrain-runs/eligibility/").status_code == 403
    assert propose(alice_api, voice).status_code == 403
    run = RetrainRun.objects.create(voice=voice)
    assert alice_api.get(f"/api/v1/retrain-runs/{run.pk}/").status_code == 404
    assert alice_api.post(f"/api/v1/retrain-runs/{run.pk}/approve/").status_code == 404


def test_a_selection_with_nothing_usable_is_refused_with_the_exclusions(staff_api, emulator_ctl):
    voice = voice_at_provider()
    clips = add_conversations(voice, 20)
    ClipSample.objects.filter(pk__in=[c.pk for c in clips]).update(quality_flags=["clipped"])
    ClipSampleFactory(voice=voice, source="original", review_status="approved", duration_s=5)
    response = propose(staff_api, voice)
    assert response.status_code == 422
    body = response.json()
    assert [r["code"] for r in body["extra"]["reasons"]] == ["nothing_selected"]
    assert body["extra"]["counts"]["excluded"]["quality_flagged"] == 20
