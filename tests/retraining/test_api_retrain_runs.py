"""The staff retrain-runs API: list and filter, detail, and the state machine's refusals."""

import pytest

from retraining.models import RetrainRun
from retraining.services import retrain_run_propose
from tests.factories import UserFactory
from tests.served_audio import served

from .helpers import retrainable_voice

pytestmark = pytest.mark.django_db


def test_list_filters_and_detail(staff_api, emulator_ctl):
    ada = retrainable_voice(UserFactory(), name="Ada")
    bea = retrainable_voice(UserFactory(), name="Bea")
    first = retrain_run_propose(voice=ada)
    second = retrain_run_propose(voice=bea)
    RetrainRun.objects.filter(pk=first.pk).update(state=RetrainRun.State.REJECTED)

    body = staff_api.get("/api/v1/retrain-runs/").json()
    assert [r["id"] for r in body["results"]] == [second.pk, first.pk]
    assert body["results"][0]["clip_count"] == second.run_clips.count()
    only = staff_api.get("/api/v1/retrain-runs/?state=proposed").json()["results"]
    assert [r["id"] for r in only] == [second.pk]
    by_voice = staff_api.get(f"/api/v1/retrain-runs/?voice={ada.pk}").json()["results"]
    assert [r["id"] for r in by_voice] == [first.pk]

    detail = staff_api.get(f"/api/v1/retrain-runs/{second.pk}/").json()
    assert detail["voice_name"] == "Bea" and detail["strategy"] == "recreate" and detail["is_irreversible"] is False
    clip = detail["clips"][0]
    assert clip["role"] == "original" and clip["position"] == 0
    audio = served(staff_api.get(clip["audio_url"]))
    assert audio.status == 200
    assert detail["selection_report"]["totals"]["files"] == len(detail["clips"])
    assert staff_api.get("/api/v1/retrain-runs/999999/").status_code == 404


def test_state_machine_refusals_are_409(staff_api, emulator_ctl, run_tasks):
    voice = retrainable_voice(UserFactory())
    run = retrain_run_propose(voice=voice)
    assert staff_api.post(f"/api/v1/retrain-runs/{run.pk}/promote/").status_code == 409
    assert staff_api.post(f"/api/v1/retrain-runs/{run.pk}/retry/").status_code == 409
    assert staff_api.post(f"/api/v1/retrain-runs/{run.pk}/rollback/").status_code == 409
    response = staff_api.post(f"/api/v1/retrain-runs/{run.pk}/cancel/")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    assert staff_api.post(f"/api/v1/retrain-runs/{run.pk}/approve/").status_code == 409

    # One open run per voice: a second proposal can be made once the first is closed, but two approved
    # runs of one voice never exist (the database refuses; the API answers 409).
    second = retrain_run_propose(voice=voice)
    RetrainRun.objects.create(voice=voice, state=RetrainRun.State.WAITING_FOR_SLOT)
    response = staff_api.post(f"/api/v1/retrain-runs/{second.pk}/approve/")
    assert response.status_code == 409
    assert "already approved or in progress" in response.json()["detail"]
    assert RetrainRun.objects.get(pk=second.pk).state == RetrainRun.State.PROPOSED


def test_scan_endpoint_proposes_in_the_background(staff_api, emulator_ctl, run_tasks):
    voice = retrainable_voice(UserFactory())
    with run_tasks():
        assert staff_api.post("/api/v1/retrain-runs/scan/").status_code == 202
    assert RetrainRun.objects.get(voice=voice).state == RetrainRun.State.PROPOSED
