"""Re-clone from the speaker's originals alone (issue 14, item 2), and the cost of every run (item 6)."""

import pytest
from django.conf import settings

from clones.models import ClipSample, Voice
from fidelity.probes import probe_characters
from retraining.models import RetrainRun

from .helpers import add_conversations, run_creates, voice_at_provider

pytestmark = pytest.mark.django_db


def characters_used(emulator_ctl) -> int:
    return emulator_ctl.state()["character_count"]


def test_a_fresh_voice_without_conversations_is_recloned_from_its_originals_under_the_same_id(
    alice_api, staff_api, make_voice, emulator_ctl, run_tasks
):
    voice_id = make_voice(alice_api)
    voice = Voice.objects.get(pk=voice_id)
    v1 = voice.current_version.provider_voice_id
    originals = list(voice.clips.filter(source="original").order_by("id"))
    assert len(originals) == 2 and not voice.clips.filter(source="generated").exists()

    # Not eligible for an ordinary retrain (nothing generated), but for a re-clone.
    recreate = staff_api.get(f"/api/v1/retrain-runs/eligibility/?voice={voice_id}").json()[0]
    assert recreate["is_eligible"] is False
    reclone = staff_api.get(f"/api/v1/retrain-runs/eligibility/?voice={voice_id}&strategy=originals_only").json()[0]
    assert reclone["is_eligible"] is True and reclone["strategy"] == "originals_only"

    response = staff_api.post("/api/v1/retrain-runs/", {"voice": voice_id, "strategy": "originals_only"},
                              format="json")
    assert response.status_code == 201, response.content
    run = response.json()
    assert run["strategy"] == "originals_only" and run["state"] == "proposed"
    assert [c["clip"] for c in run["clips"]] == [c.pk for c in originals]
    assert {c["role"] for c in run["clips"]} == {"original"}
    # The cost is known before approval: two preview renderings, the fidelity gate's probe set spoken by both
    # versions, no characters for the upload, one slot.
    estimate = run["cost"]["estimate"]
    assert estimate["tts_characters"] == 2 * len(settings.RETRAIN_PREVIEW_TEXT) + 2 * probe_characters()
    assert estimate["voice_slots"] == 1
    assert {i["kind"]: i["characters"] for i in estimate["items"]} == {
        "previews": 2 * len(settings.RETRAIN_PREVIEW_TEXT), "fidelity_probes": 2 * probe_characters(), "upload": 0}
    assert run["cost"]["actual"]["tts_characters"] == 0

    before = characters_used(emulator_ctl)
    with run_tasks():
        response = staff_api.post(f"/api/v1/retrain-runs/{run['id']}/approve/")
    assert response.status_code == 202, response.content
    candidate = staff_api.get(f"/api/v1/retrain-runs/{run['id']}/").json()
    assert candidate["state"] == "candidate", candidate
    assert candidate["preview_old_audio_url"] and candidate["preview_new_audio_url"]
    # The actual characters are what the provider reported, and match what the account was charged.
    actual = candidate["cost"]["actual"]
    assert actual["is_complete"] is True
    assert actual["tts_characters"] == characters_used(emulator_ctl) - before == estimate["tts_characters"]

    # Only the speaker's recordings were uploaded (their training copies).
    (create,) = run_creates(emulator_ctl)
    assert len(create["files"]) == 2
    uploaded = {r.clip_id: r.upload_sha256 for r in RetrainRun.objects.get(pk=run["id"]).run_clips.all()}
    assert set(uploaded) == {c.pk for c in originals} and all(uploaded.values())

    response = staff_api.post(f"/api/v1/retrain-runs/{run['id']}/promote/")
    assert response.status_code == 200, response.content
    voice.refresh_from_db()
    assert str(voice.pk) == voice_id
    assert voice.current_version.number == 2 and voice.current_version.provider_voice_id != v1
    assert voice.current_version.training_lineage_depth == 0
    assert alice_api.get(f"/api/v1/voices/{voice_id}/").json()["current_version"]["number"] == 2


def test_originals_only_never_uploads_generated_clips_even_when_the_voice_has_them(staff_api, emulator_ctl,
                                                                                   run_tasks):
    voice = voice_at_provider(originals_s=(20.0,))
    generated = add_conversations(voice, 25)
    response = staff_api.post("/api/v1/retrain-runs/", {"voice": str(voice.pk), "strategy": "originals_only"},
                              format="json")
    assert response.status_code == 201
    run = RetrainRun.objects.get(pk=response.json()["id"])
    with run_tasks():
        staff_api.post(f"/api/v1/retrain-runs/{run.pk}/approve/")
    run.refresh_from_db()
    assert run.state == RetrainRun.State.CANDIDATE
    assert not run.run_clips.filter(clip__in=generated).exists()
    (create,) = run_creates(emulator_ctl)
    assert len(create["files"]) == 1
    original = ClipSample.objects.get(voice=voice, source="original")
    row = run.run_clips.get()
    assert row.clip_id == original.pk and row.upload_sha256  # the original's training copy was uploaded


def test_a_voice_whose_originals_are_all_retired_cannot_be_recloned(staff_api, emulator_ctl):
    voice = voice_at_provider(originals_s=(20.0,))
    ClipSample.objects.filter(voice=voice, source="original").update(retired_at=voice.created_at)
    response = staff_api.post("/api/v1/retrain-runs/", {"voice": str(voice.pk), "strategy": "originals_only"},
                              format="json")
    assert response.status_code == 422
    (reason,) = response.json()["extra"]["reasons"]
    assert reason["code"] == "no_originals"
    assert "1 original retired" in reason["message"]


def test_the_admin_offers_a_reclone_and_shows_the_cost(client, staff, emulator_ctl, run_tasks):
    voice = voice_at_provider(name="Drifted", originals_s=(20.0,))
    client.force_login(staff)
    page = client.get("/admin/retraining/retrainrun/eligibility/").content.decode()
    assert 'value="Re-clone from originals"' in page
    response = client.post("/admin/retraining/retrainrun/eligibility/",
                           {"voice": str(voice.pk), "strategy": "originals_only"})
    run = RetrainRun.objects.get(voice=voice)
    assert response["Location"] == f"/admin/retraining/retrainrun/{run.pk}/change/"
    assert run.strategy == RetrainRun.Strategy.ORIGINALS_ONLY
    page = client.get(response["Location"]).content.decode()
    chars = 2 * len(settings.RETRAIN_PREVIEW_TEXT) + 2 * probe_characters()  # A/B previews, fidelity probes
    assert f"Estimated before approval: {chars} characters" in page
    assert "Re-clone from the speaker's original recordings only" in page
    listing = client.get("/admin/retraining/retrainrun/").content.decode()
    assert f"≈ {chars}" in listing

    with run_tasks():
        client.post(f"/admin/retraining/retrainrun/{run.pk}/act/approve/")
    page = client.get("/admin/retraining/retrainrun/eligibility/").content.decode()
    assert f"1 run so far: {chars} characters charged (estimated {chars})" in page


def test_an_original_retired_after_the_proposal_is_not_uploaded(staff_api, emulator_ctl, run_tasks):
    voice = voice_at_provider(originals_s=(20.0, 20.0))
    first, second = ClipSample.objects.filter(voice=voice, source="original").order_by("id")
    response = staff_api.post("/api/v1/retrain-runs/", {"voice": str(voice.pk), "strategy": "originals_only"},
                              format="json")
    run_id = response.json()["id"]
    ClipSample.objects.filter(pk=first.pk).update(retired_at=voice.created_at)
    with run_tasks():
        staff_api.post(f"/api/v1/retrain-runs/{run_id}/approve/")
    run = RetrainRun.objects.get(pk=run_id)
    assert run.state == RetrainRun.State.CANDIDATE
    (create,) = run_creates(emulator_ctl)
    assert len(create["files"]) == 1
    assert list(run.run_clips.exclude(upload_sha256="").values_list("clip_id", flat=True)) == [second.pk]

    # With every original retired, the run uploads nothing at all: it fails with a reason.
    ClipSample.objects.filter(voice=voice, source="original").update(retired_at=voice.created_at)
    staff_api.post(f"/api/v1/retrain-runs/{run_id}/reject/")
    retry = RetrainRun.objects.create(voice=voice, strategy="originals_only")
    retry.run_clips.create(clip=second, role="original", position=0, use_s=20.0)
    with run_tasks():
        assert staff_api.post(f"/api/v1/retrain-runs/{retry.pk}/approve/").status_code == 202
    retry.refresh_from_db()
    assert retry.state == RetrainRun.State.FAILED and retry.failure_code == "no_originals"
