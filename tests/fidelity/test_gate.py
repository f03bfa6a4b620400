"""The promotion gate: a candidate's probe set is rendered by both versions, measured against the originals,
and `promote` refuses a failing or unmeasured candidate unless staff override with a written reason."""

import pytest
from auditlog.models import LogEntry
from django.utils import timezone

from clones.models import ClipSample
from fidelity.models import GateProbe, GateReport
from fidelity.probes import PROBE_SENTENCES, probe_characters
from fidelity.tasks import fidelity_gate_evaluate
from retraining.models import RetrainRun
from retraining.services import retrain_run_approve, retrain_run_promote, retrain_run_propose
from retraining.tasks import retrain_run_execute
from tests.retraining.helpers import retrainable_voice
from voiceclone.events.models import Event, WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def candidate_without_gate(voice, staff) -> RetrainRun:
    """A candidate whose gate has not run yet: the run task is called directly, so the evaluation it enqueues
    on commit never fires inside the test's transaction."""
    run = retrain_run_approve(run=retrain_run_propose(voice=voice), by=staff)
    retrain_run_execute(run.pk)
    run.refresh_from_db()
    assert run.state == RetrainRun.State.CANDIDATE, run.failure_message
    return run


def tts_requests(emulator_ctl) -> list:
    return emulator_ctl.requests(path=r"^/v1/text-to-speech/", method="POST")


def test_candidate_gets_a_report_from_both_versions_probe_sets(alice, staff, staff_api, emulator_ctl, run_tasks):
    voice = retrainable_voice(alice)
    with run_tasks():
        run = retrain_run_approve(run=retrain_run_propose(voice=voice), by=staff)
    run.refresh_from_db()
    report = GateReport.objects.get(run=run)
    assert report.verdict in ("pass", "fail") and report.computed_at is not None
    # Every probe sentence, by the candidate and by the active version, stored as a playable preview clip.
    probes = list(report.probes.select_related("clip", "version"))
    assert len(probes) == 2 * len(PROBE_SENTENCES)
    assert {p.version for p in probes if p.side == "candidate"} == {run.new_version}
    assert {p.version for p in probes if p.side == "active"} == {run.old_version}
    for probe in probes:
        assert probe.clip.source == ClipSample.Source.PREVIEW and probe.clip.file and probe.is_transcribed
        assert probe.features.get("voiced_s", 0) > 0
    # The emulator transcribes its own speech exactly: no word is lost in the round trip.
    assert report.wer == 0.0 and report.active_wer == 0.0
    assert report.character_cost == 2 * probe_characters()
    assert 0 <= report.similarity <= 1 and 0 <= report.active_similarity <= 1
    assert report.metrics["candidate"]["pitch_range_st"] > 0 and report.metrics["active"]["speaking_rate_cps"] > 0

    fidelity = staff_api.get(f"/api/v1/retrain-runs/{run.pk}/").json()["fidelity"]
    assert fidelity["verdict"] == report.verdict
    assert (fidelity["similarity"], fidelity["active_similarity"], fidelity["wer"]) == (
        report.similarity, report.active_similarity, 0.0)
    assert fidelity["reasons"] == report.reasons and fidelity["probe_characters"] == report.character_cost
    listed = staff_api.get("/api/v1/retrain-runs/").json()["results"][0]
    assert listed["fidelity"]["verdict"] == report.verdict
    event = Event.objects.get(type="retrain.gate_evaluated")
    assert event.payload["run_id"] == run.pk and event.payload["verdict"] == report.verdict


def test_admin_run_page_shows_the_numbers_and_the_chart_beside_the_players(alice, staff, staff_client, emulator_ctl,
                                                                           run_tasks):
    voice = retrainable_voice(alice)
    with run_tasks():
        run = retrain_run_approve(run=retrain_run_propose(voice=voice), by=staff)
    report = GateReport.objects.get(run=run)
    page = staff_client.get(f"/admin/retraining/retrainrun/{run.pk}/change/").content.decode()
    assert page.index('id="retrain-previews"') < page.index('id="fidelity-gate"')
    assert f'data-verdict="{report.verdict}"' in page and '<svg id="fidelity-gate-chart"' in page
    assert str(report.similarity) in page and str(report.active_similarity) in page
    assert f"{report.character_cost} characters" in page


def test_gate_task_is_idempotent_and_never_renders_twice(alice, staff, emulator_ctl):
    voice = retrainable_voice(alice)
    run = candidate_without_gate(voice, staff)
    before = len(tts_requests(emulator_ctl))
    assert fidelity_gate_evaluate(run.pk) in ("pass", "fail")
    rendered = len(tts_requests(emulator_ctl)) - before
    assert rendered == 2 * len(PROBE_SENTENCES)
    assert fidelity_gate_evaluate(run.pk) in ("pass", "fail")
    assert len(tts_requests(emulator_ctl)) - before == rendered
    assert GateProbe.objects.filter(report__run=run).count() == 2 * len(PROBE_SENTENCES)


def test_a_provider_outage_leaves_the_report_pending_and_a_retry_pays_only_for_what_is_missing(
    alice, staff, emulator_ctl
):
    voice = retrainable_voice(alice)
    run = candidate_without_gate(voice, staff)
    emulator_ctl.add_fault(path=r"^/v1/speech-to-text", status=503, count=100)
    assert fidelity_gate_evaluate(run.pk) == "pending"
    report = GateReport.objects.get(run=run)
    assert "provider failed" in report.error
    rendered = len(tts_requests(emulator_ctl))
    emulator_ctl.clear_faults()
    assert fidelity_gate_evaluate(run.pk) in ("pass", "fail")
    # The first probe was rendered before speech-to-text failed: the retry does not render it again.
    assert len(tts_requests(emulator_ctl)) - rendered == 2 * len(PROBE_SENTENCES) - 1


def test_promote_refuses_a_pending_candidate_and_a_failing_one_with_reasons(alice, staff, staff_api, emulator_ctl):
    voice = retrainable_voice(alice)
    run = candidate_without_gate(voice, staff)
    response = staff_api.post(f"/api/v1/retrain-runs/{run.pk}/promote/")
    assert response.status_code == 409 and response.json()["code"] == "fidelity_gate_pending"
    assert staff_api.get(f"/api/v1/retrain-runs/{run.pk}/").json()["fidelity"]["verdict"] == "pending"

    # No original left to compare with: the gate cannot vouch for the candidate.
    ClipSample.objects.filter(voice=voice, source="original").update(retired_at=timezone.now())
    assert fidelity_gate_evaluate(run.pk) == "fail"
    response = staff_api.post(f"/api/v1/retrain-runs/{run.pk}/promote/", {}, format="json")
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "fidelity_gate_failed"
    assert [r["code"] for r in body["extra"]["reasons"]] == ["no_originals"]
    run.refresh_from_db()
    assert run.state == RetrainRun.State.CANDIDATE and voice.current_version_id == run.old_version_id


def test_staff_override_is_recorded_emitted_and_audited(alice, alice_api, staff, staff_api, emulator_ctl, run_tasks):
    voice = retrainable_voice(alice)
    hook = alice_api.post("/api/v1/webhooks/", {"url": "https://hooks.example.com/vc",
                                                "event_types": ["retrain.gate_overridden"]}, format="json")
    assert hook.status_code == 201, hook.content
    run = candidate_without_gate(voice, staff)
    ClipSample.objects.filter(voice=voice, source="original").update(retired_at=timezone.now())
    assert fidelity_gate_evaluate(run.pk) == "fail"

    response = staff_api.post(f"/api/v1/retrain-runs/{run.pk}/promote/",
                              {"override_reason": "Listened to all probes: the owner prefers v2."}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "promoted"
    override = body["fidelity"]["override"]
    assert override["reason"] == "Listened to all probes: the owner prefers v2." and override["by"] == staff.username
    report = GateReport.objects.get(run=run)
    assert report.overridden_by == staff and report.overridden_at is not None and report.verdict == "fail"

    event = Event.objects.get(type="retrain.gate_overridden")
    assert event.user == alice and event.voice_id == voice.pk
    assert event.payload["override_reason"] == "Listened to all probes: the owner prefers v2."
    assert event.payload["overridden_by"] == staff.username and event.payload["verdict"] == "fail"
    assert WebhookDelivery.objects.filter(event=event).count() == 1
    feed = alice_api.get("/api/v1/events/?type=retrain.gate_overridden").json()["results"]
    assert [e["payload"]["run_id"] for e in feed] == [run.pk]
    entry = LogEntry.objects.get(additional_data__event="retrain.gate_overridden")
    assert entry.actor == staff and entry.object_pk == str(run.pk)
    assert entry.additional_data["override_reason"] == "Listened to all probes: the owner prefers v2."


def test_only_staff_may_override(alice, staff, emulator_ctl):
    voice = retrainable_voice(alice)
    run = candidate_without_gate(voice, staff)
    from fidelity.gate import OverrideNotAllowed

    with pytest.raises(OverrideNotAllowed):
        retrain_run_promote(run=run, by=alice, override_reason="I like it")
    run.refresh_from_db()
    assert run.state == RetrainRun.State.CANDIDATE
    assert not Event.objects.filter(type="retrain.gate_overridden").exists()


def test_admin_promote_refuses_then_accepts_an_override(alice, staff, staff_client, emulator_ctl):
    voice = retrainable_voice(alice)
    run = candidate_without_gate(voice, staff)
    ClipSample.objects.filter(voice=voice, source="original").update(retired_at=timezone.now())
    fidelity_gate_evaluate(run.pk)
    url = f"/admin/retraining/retrainrun/{run.pk}/"
    page = staff_client.get(f"{url}change/").content.decode()
    assert 'id="fidelity-gate"' in page and 'data-verdict="fail"' in page
    assert "no measurable original" in page and 'name="override_reason"' in page
    staff_client.post(f"{url}act/promote/")
    assert RetrainRun.objects.get(pk=run.pk).state == RetrainRun.State.CANDIDATE
    staff_client.post(f"{url}act/promote/", {"override_reason": "Owner approved after listening."})
    assert RetrainRun.objects.get(pk=run.pk).state == RetrainRun.State.PROMOTED
    page = staff_client.get(f"{url}change/").content.decode()
    assert 'id="fidelity-gate-override"' in page and "Owner approved after listening." in page
