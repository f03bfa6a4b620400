"""Acceptance (issue 10): the promotion gate blocks a candidate trained mostly on deep-lineage synthetic
clips, every time, and passes one trained on the originals plus clean clips. Real runs: the selection, the
training copies, the instant clone at the emulator (whose voices come from their samples and degrade per
synthetic generation), the probe set over HTTP, and `promote` through the API."""

import json

import pytest

from fidelity.models import GateReport
from retraining.models import RetrainRun

from .lineage import SPEAKERS, deep_lineage_history, replies, store_generated, voice_of_speaker

pytestmark = pytest.mark.django_db



def candidate_report(staff_api, run_tasks, voice) -> tuple[int, GateReport]:
    response = staff_api.post("/api/v1/retrain-runs/", {"voice": str(voice.pk)}, format="json")
    assert response.status_code == 201, response.content
    run_id = response.json()["id"]
    with run_tasks():
        assert staff_api.post(f"/api/v1/retrain-runs/{run_id}/approve/").status_code == 202
    run = RetrainRun.objects.get(pk=run_id)
    assert run.state == RetrainRun.State.CANDIDATE, run.failure_message
    report = GateReport.objects.get(run=run)
    print("GATE", voice.name, json.dumps({
        "verdict": report.verdict, "similarity": report.similarity, "active_similarity": report.active_similarity,
        "reasons": [r["code"] for r in report.reasons],
        "candidate": {k: report.metrics["candidate"][k] for k in ("pitch_range_st", "energy_range_db",
                                                                  "speaking_rate_cps")},
        "active": {k: report.metrics["active"][k] for k in ("pitch_range_st", "energy_range_db",
                                                            "speaking_rate_cps")},
        "generated_share": run.selection_report.get("totals", {}),
    }))
    return run_id, report


@pytest.mark.parametrize("speaker", sorted(SPEAKERS))
def test_a_candidate_trained_mostly_on_deep_lineage_clips_is_blocked(speaker, staff_api, emulator_ctl, run_tasks,
                                                                      small_retrain):
    # What the curation would never allow (generated share and lineage caps opened): the gate is the last guard.
    small_retrain.RETRAIN_MAX_LINEAGE_DEPTH = 9
    small_retrain.RETRAIN_GENERATED_SHARE_MAX = 0.9
    voice = voice_of_speaker(SPEAKERS[speaker], name=f"Speaker {speaker}")
    deepest = deep_lineage_history(voice, generations=3)
    store_generated(voice, deepest, replies(deepest.provider_voice_id, 8), lineage_depth=4)

    run_id, report = candidate_report(staff_api, run_tasks, voice)
    run = RetrainRun.objects.get(pk=run_id)
    generated = run.run_clips.filter(role="generated")
    assert generated.count() >= 4 and all(c.clip.lineage_depth >= 3 for c in generated)
    assert report.verdict == "fail", report.metrics
    assert report.similarity < report.active_similarity
    response = staff_api.post(f"/api/v1/retrain-runs/{run_id}/promote/", {}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "fidelity_gate_failed"
    assert response.json()["extra"]["reasons"] == report.reasons
    assert RetrainRun.objects.get(pk=run_id).state == RetrainRun.State.CANDIDATE


@pytest.mark.parametrize("speaker", sorted(SPEAKERS))
def test_a_candidate_from_originals_plus_clean_clips_passes(speaker, staff_api, emulator_ctl, run_tasks,
                                                            small_retrain):
    voice = voice_of_speaker(SPEAKERS[speaker], name=f"Speaker {speaker}")
    active = voice.current_version
    store_generated(voice, active, replies(active.provider_voice_id, 8), lineage_depth=1)

    run_id, report = candidate_report(staff_api, run_tasks, voice)
    assert report.verdict == "pass", report.reasons
    assert report.similarity >= 0.5
    response = staff_api.post(f"/api/v1/retrain-runs/{run_id}/promote/", {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["fidelity"]["verdict"] == "pass"
