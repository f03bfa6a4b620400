"""Eligibility means a run can start (issue 14, item 1): the check is the proposal's own dry run."""

import pytest
from django.core.management import call_command
from django.test import override_settings

from clones.models import ClipSample
from retraining.models import RetrainRun
from retraining.services import retrain_scan

from .helpers import add_conversations, voice_at_provider

pytestmark = pytest.mark.django_db


def eligibility_of(api, voice, strategy=None):
    url = f"/api/v1/retrain-runs/eligibility/?voice={voice.pk}"
    if strategy:
        url += f"&strategy={strategy}"
    response = api.get(url)
    assert response.status_code == 200, response.content
    (row,) = response.json()
    return row


def propose(api, voice, strategy=None):
    body = {"voice": str(voice.pk)}
    if strategy:
        body["strategy"] = strategy
    return api.post("/api/v1/retrain-runs/", body, format="json")


def short_replies(voice, count=20, seconds=4.2):
    clips = add_conversations(voice, count)
    ClipSample.objects.filter(pk__in=[c.pk for c in clips]).update(duration_s=seconds)
    return clips


def test_one_8s_original_and_20_conversations_of_one_short_reply_are_eligible_and_the_proposal_succeeds(
    staff_api, emulator_ctl
):
    voice = voice_at_provider(originals_s=(8.0,))
    short_replies(voice)

    row = eligibility_of(staff_api, voice)
    assert row["is_eligible"] is True, row["reasons"]
    assert row["counts"]["selection"] == {"originals": 1, "generated": 1, "duration_s": 11.43,
                                          "generated_share": 0.3}

    response = propose(staff_api, voice)
    assert response.status_code == 201, response.content
    run = response.json()
    generated = [c for c in run["clips"] if c["role"] == "generated"]
    # The default cap (0.3) leaves 3/7 × 8 s = 3.43 s for generated speech: one reply, cut to fill it.
    assert [c["use_s"] for c in generated] == [3.429]
    assert run["total_duration_s"] == 11.43


SCENARIOS = {
    "ready": {},
    "no_originals": {"originals_s": ()},
    "retired_originals": {"retire": True},
    "not_analysed": {"update": {"analysed_at": None}},
    "flagged": {"update": {"quality_flags": ["clipped"]}},
    "too_deep": {"update": {"lineage_depth": 5}},
    "too_few_conversations": {"conversations": 5},
    "pending_review": {"update": {"review_status": "pending"}},
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_eligible_exactly_when_the_proposal_succeeds_with_the_same_reasons(scenario, staff_api, emulator_ctl):
    spec = SCENARIOS[scenario]
    voice = voice_at_provider(originals_s=spec.get("originals_s", (8.0,)))
    clips = short_replies(voice, spec.get("conversations", 20))
    if spec.get("update"):
        ClipSample.objects.filter(pk__in=[c.pk for c in clips]).update(**spec["update"])
    if spec.get("retire"):
        ClipSample.objects.filter(voice=voice, source="original").update(retired_at=clips[0].created_at)

    row = eligibility_of(staff_api, voice)
    response = propose(staff_api, voice)

    assert row["is_eligible"] == (response.status_code == 201), (row, response.content)
    if not row["is_eligible"]:
        assert response.status_code == 422
        assert response.json()["extra"]["reasons"] == row["reasons"]
        for reason in row["reasons"]:
            assert reason["code"] not in reason["message"]  # a sentence, not a code


def test_reasons_say_what_to_do(staff_api, emulator_ctl):
    no_originals = voice_at_provider(name="No originals", originals_s=())
    short_replies(no_originals)
    messages = {r["code"]: r["message"] for r in eligibility_of(staff_api, no_originals)["reasons"]}
    assert list(messages) == ["no_originals"]
    assert "add consented recordings of the speaker" in messages["no_originals"]

    waiting = voice_at_provider(name="Waiting")
    clips = short_replies(waiting)
    ClipSample.objects.filter(pk__in=[c.pk for c in clips]).update(analysed_at=None)
    (reason,) = eligibility_of(staff_api, waiting)["reasons"]
    assert reason["code"] == "awaiting_analysis"
    assert reason["message"].startswith("Wait for analysis: 20 approved clips have not been analysed yet")

    tiny = voice_at_provider(name="Tiny", originals_s=(1.0,))
    short_replies(tiny)
    (reason,) = eligibility_of(staff_api, tiny)["reasons"]
    # 1 s of originals leaves 3/7 s for generated speech (cap 0.3), less than the 2 s shortest usable clip:
    # 2 s needs 2 × 7/3 = 4.7 s of originals.
    assert reason["code"] == "originals_too_short"
    assert "Add at least 3.7 s of consented recordings" in reason["message"]

    few = voice_at_provider(name="Few")
    short_replies(few, 3)
    reasons = {r["code"]: r["message"] for r in eligibility_of(staff_api, few)["reasons"]}
    assert reasons["too_few_approved_clips"] == (
        "Approve 17 more clips in the review queue: 3 of 20 approved and unused in the last 30 days. No clip waits "
        "for review: 17 more spoken replies must come from conversations with the voice first."
    )


def test_when_approving_cannot_close_the_gap_the_reason_says_what_can(staff_api, emulator_ctl):
    """Seen from outside: with every reply rejected the reason said "Approve 20 more clips in the review queue"
    while the queue was empty."""
    voice = voice_at_provider(name="Rejected")
    ids = [c.pk for c in short_replies(voice)]
    for status, chosen in (("rejected", ids[:16]), ("pending", ids[16:18])):
        response = staff_api.post("/api/v1/clips/bulk-review/", {"ids": chosen, "status": status, "reason": "noisy"},
                                  format="json")
        assert response.status_code == 200, response.content
    row = eligibility_of(staff_api, voice)
    assert row["counts"]["pending_review_clips"] == 2 and row["counts"]["rejected_clips"] == 16
    message = "Approve 18 more clips in the review queue: 2 of 20 approved and unused in the last 30 days. Only 2 " \
              "clips wait for review (16 rejected): 16 more spoken replies must come from conversations with the " \
              "voice first, or staff may review rejected clips again."
    assert row["reasons"] == [{"code": "too_few_approved_clips", "message": message}]
    response = propose(staff_api, voice)
    assert response.status_code == 422 and response.json()["extra"]["reasons"] == row["reasons"]

    # Enough waiting for review: approving is the way, and the sentence says only that.
    staff_api.post("/api/v1/clips/bulk-review/", {"ids": ids[:16], "status": "pending"}, format="json")
    (reason,) = eligibility_of(staff_api, voice)["reasons"]
    assert reason["message"] == ("Approve 18 more clips in the review queue: 2 of 20 approved and unused in the last "
                                 "30 days.")


@override_settings(RETRAIN_ENABLED=False)
def test_with_retraining_switched_off_nothing_is_proposed_or_started(staff_api, staff, emulator_ctl, client):
    voice = voice_at_provider()
    short_replies(voice)

    assert retrain_scan().proposed_run_ids == []
    call_command("retrain_scan")
    assert not RetrainRun.objects.exists()

    response = propose(staff_api, voice)
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "retraining_disabled"
    assert "RETRAIN_ENABLED" in body["detail"]
    assert propose(staff_api, voice, "originals_only").status_code == 409
    assert staff_api.post("/api/v1/retrain-runs/scan/").status_code == 409

    row = eligibility_of(staff_api, voice)
    assert row["is_eligible"] is False and row["reasons"][0]["code"] == "retraining_disabled"

    # A proposal made before the switch cannot be approved while it is off.
    run = RetrainRun.objects.create(voice=voice)
    assert staff_api.post(f"/api/v1/retrain-runs/{run.pk}/approve/").status_code == 409
    assert RetrainRun.objects.get(pk=run.pk).state == RetrainRun.State.PROPOSED

    client.force_login(staff)
    for url in ("/admin/retraining/retrainrun/eligibility/", "/admin/retraining/retrainrun/",
                f"/admin/retraining/retrainrun/{run.pk}/change/"):
        page = client.get(url).content.decode()
        assert 'id="retraining-disabled"' in page and "Retraining is switched off" in page, url


@override_settings(RETRAIN_ENABLED=False)
def test_schedules_sync_leaves_out_the_scan_when_retraining_is_off():
    from django_q.models import Schedule

    Schedule.objects.create(name="retrain eligibility scan", func="retraining.tasks.retrain_scan",
                            schedule_type=Schedule.MINUTES, minutes=5)
    call_command("schedules_sync")
    assert not Schedule.objects.filter(func="retraining.tasks.retrain_scan").exists()
    assert Schedule.objects.filter(func="retraining.tasks.retrain_runs_sweep").exists()
