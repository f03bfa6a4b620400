"""A voice whose only consent recording fails its check is not cloned: it is held for staff review, with the
reason on the voice page, in the API and the admin; staff listen and accept it (audited), which releases it.
Statement-only API clients (no recording, CONSENT_RECORDING_REQUIRED=false) are not held (docs/consent.md).
Real SDK against the emulator; speech by espeak-ng."""

import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from clones.models import ConsentRecord, Voice
from clones.tasks import consent_recording_check, voice_provider_create
from tests.audio import wav_bytes
from tests.espeak import require_espeak, speak_wav

from .test_consent_lifecycle import SAMPLE_SENTENCES, _phrase, _upload

pytestmark = pytest.mark.django_db(transaction=False)


def _creates_of(emulator_ctl, voice_id) -> list[dict]:
    return [r for r in emulator_ctl.requests(path=r"^/v1/voices/add$", method="POST")
            if (r.get("fields") or {}).get("description") == f"voiceclone:{voice_id}:v1"]


def _create(api, emulator_ctl, *, says=None):
    """POST a voice with espeak-ng samples and a consent recording (its transcript declared: `says`, default the
    phrase). The on-commit tasks are NOT run: the caller decides when the check and the clone run."""
    require_espeak()
    phrase = _phrase(api)
    recording = speak_wav(phrase["phrase"], "f2")
    emulator_ctl.declare_transcript(recording, says if says is not None else phrase["phrase"])
    response = api.post("/api/v1/voices/", {
        "name": "Ada", "persona": "You are Ada.", "consent": "true", "speaker_name": "Ada Lovelace",
        "samples": [_upload(f"s{i}.wav", speak_wav(text, "f2")) for i, text in enumerate(SAMPLE_SENTENCES)],
        "consent_recording": _upload("consent.wav", recording), "consent_token": phrase["token"],
    }, format="multipart")
    assert response.status_code == 202, response.content
    voice_id = response.json()["id"]
    return voice_id, ConsentRecord.objects.get(voice_id=voice_id)


def _add_original_with_failing_consent(api, voice_id, emulator_ctl, sentence):
    """POST one original (espeak-ng saying `sentence`) with a consent recording whose transcript is not the phrase."""
    require_espeak()
    phrase = _phrase(api)
    recording = speak_wav(phrase["phrase"], "f2")
    emulator_ctl.declare_transcript(recording, "Not the phrase at all.")
    return api.post(f"/api/v1/voices/{voice_id}/originals/", {
        "consent": "true", "samples": [_upload("more.wav", speak_wav(sentence, "f2"))],
        "consent_recording": _upload("consent.wav", recording), "consent_token": phrase["token"],
    }, format="multipart")


def test_the_clone_waits_for_the_consent_check_and_follows_a_passing_one(alice_api, emulator_ctl, run_tasks):
    voice_id, record = _create(alice_api, emulator_ctl)
    voice_provider_create(voice_id)  # the creation task, delivered before the check ends
    assert Voice.objects.get(pk=voice_id).status == Voice.Status.CREATING
    assert _creates_of(emulator_ctl, voice_id) == []

    with run_tasks():
        consent_recording_check(record.pk)  # passes, and enqueues the clone
    record.refresh_from_db()
    assert record.check_status == ConsentRecord.Check.PASSED, record.check_detail
    voice = alice_api.get(f"/api/v1/voices/{voice_id}/").json()
    assert voice["status"] == "ready" and voice["hold_reason"] == ""
    assert len(_creates_of(emulator_ctl, voice_id)) == 1


def test_a_failed_consent_check_holds_the_voice_uncloned_until_staff_accept_it(
        alice, alice_api, bob_api, staff_api, staff, client, emulator_ctl, run_tasks):
    with run_tasks():
        voice_id, record = _create(alice_api, emulator_ctl, says="Hello, nice weather today.")
    record.refresh_from_db()
    assert record.check_status == ConsentRecord.Check.FAILED

    # Held, not cloned, with the reason: API, voice page, admin.
    voice = alice_api.get(f"/api/v1/voices/{voice_id}/").json()
    assert voice["status"] == "held" and voice["current_version"] is None
    assert "does not say the phrase" in voice["hold_reason"]
    assert _creates_of(emulator_ctl, voice_id) == []
    client.force_login(alice)
    page = client.get(reverse("voice-detail", kwargs={"voice_id": voice_id})).content.decode()
    assert "Held for consent review" in page and "does not say the phrase" in page
    conversation = alice_api.post("/api/v1/conversations/", {"voice": voice_id}, format="json")
    assert conversation.status_code == 409
    client.force_login(staff)
    admin_page = client.get(reverse("admin:clones_voice_change", args=[voice_id])).content.decode()
    assert "does not say the phrase" in admin_page
    # Staff can listen to the recording before deciding.
    listened = client.get(reverse("admin:clones_consentrecord_recording", args=[record.pk]))
    assert listened.status_code in (200, 302)

    # Only staff accept, with a note of what they heard.
    url = f"/api/v1/voices/{voice_id}/consents/{record.pk}/accept/"
    assert alice_api.post(url, {"note": "fine"}, format="json").status_code == 403
    assert bob_api.post(url, {"note": "fine"}, format="json").status_code == 404
    missing_note = staff_api.post(url, {}, format="json")
    assert missing_note.status_code == 400 and missing_note.json()["errors"]["note"]
    with run_tasks():
        accepted = staff_api.post(url, {"note": "Listened: Ada reads the phrase; the recogniser misheard."},
                                  format="json")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["accepted_at"] and accepted.json()["check_status"] == "failed"

    voice = alice_api.get(f"/api/v1/voices/{voice_id}/").json()
    assert voice["status"] == "ready" and voice["hold_reason"] == ""
    assert len(_creates_of(emulator_ctl, voice_id)) == 1
    entry = LogEntry.objects.filter(additional_data__event="consent.accepted").get()
    assert entry.actor == staff and entry.object_pk == str(record.pk)
    assert "misheard" in entry.additional_data["note"]
    assert LogEntry.objects.filter(additional_data__event="voice.consent_held", object_pk=voice_id).exists()
    # A second acceptance changes nothing; a passed record is not for review.
    assert staff_api.post(url, {"note": "again"}, format="json").status_code == 200


def test_staff_accept_in_the_admin(alice_api, staff, client, emulator_ctl, run_tasks):
    with run_tasks():
        voice_id, record = _create(alice_api, emulator_ctl, says="Something else entirely.")
    assert Voice.objects.get(pk=voice_id).status == Voice.Status.HELD
    client.force_login(staff)
    with run_tasks():
        response = client.post(reverse("admin:clones_consentrecord_changelist"),
                               {"action": "accept_consent", "_selected_action": [record.pk]}, follow=True)
    assert "accepted" in response.content.decode()
    record.refresh_from_db()
    assert record.accepted_by == staff
    assert Voice.objects.get(pk=voice_id).status == Voice.Status.READY


def test_a_statement_only_api_client_is_not_held(alice_api, emulator_ctl, run_tasks, settings):
    settings.CONSENT_RECORDING_REQUIRED = False
    with run_tasks():
        response = alice_api.post("/api/v1/voices/", {
            "name": "Ada", "persona": "You are Ada.", "consent": "true",
            "samples": [_upload("one.wav", wav_bytes(3, seed=1))],
        }, format="multipart")
    assert response.status_code == 202, response.content
    voice = alice_api.get(f"/api/v1/voices/{response.json()['id']}/").json()
    assert voice["status"] == "ready"
    assert ConsentRecord.objects.get(voice_id=voice["id"]).check_status == ConsentRecord.Check.NOT_RECORDED


def test_a_failed_recording_added_later_does_not_hold_a_voice_whose_consent_stands(
        alice_api, alice_voice, emulator_ctl, run_tasks):
    with run_tasks():
        response = _add_original_with_failing_consent(alice_api, alice_voice, emulator_ctl, SAMPLE_SENTENCES[0])
    assert response.status_code == 202, response.content
    assert ConsentRecord.objects.filter(voice_id=alice_voice, check_status="failed").count() == 1
    assert alice_api.get(f"/api/v1/voices/{alice_voice}/").json()["status"] == "ready"


def test_originals_whose_batch_consent_failed_are_kept_but_not_cloned_from_until_accepted(
        alice_api, staff_api, alice_voice, emulator_ctl, run_tasks):
    with run_tasks():
        added = _add_original_with_failing_consent(alice_api, alice_voice, emulator_ctl, SAMPLE_SENTENCES[1])
    assert added.status_code == 202, added.content
    new_id = added.json()["originals"][0]["id"]
    record = ConsentRecord.objects.get(voice_id=alice_voice, check_status="failed")
    assert len(alice_api.get(f"/api/v1/voices/{alice_voice}/originals/").json()) == 3  # kept and listed

    def reclone_clips():
        eligibility = staff_api.get(f"/api/v1/retrain-runs/eligibility/?voice={alice_voice}&strategy=originals_only")
        return eligibility.json()[0]["counts"]["selection"]["originals"]

    assert reclone_clips() == 2  # the failed batch's recording is not sent to the provider
    with run_tasks():
        accepted = staff_api.post(f"/api/v1/voices/{alice_voice}/consents/{record.pk}/accept/",
                                  {"note": "Listened: it is the speaker."}, format="json")
    assert accepted.status_code == 200, accepted.content
    assert reclone_clips() == 3
    proposed = staff_api.post("/api/v1/retrain-runs/", {"voice": alice_voice, "strategy": "originals_only"},
                              format="json")
    assert new_id in [c["clip"] for c in proposed.json()["clips"]]


def test_a_lost_consent_check_is_handed_again_by_the_stuck_work_sweep(alice_api, emulator_ctl, run_tasks, settings):
    from datetime import timedelta

    from django.utils import timezone

    from voiceclone.background import stuck_work_sweep

    voice_id, record = _create(alice_api, emulator_ctl)  # its check's task never runs: lost
    voice_provider_create(voice_id)  # the clone waits for the check
    assert stuck_work_sweep()["consent_checks"] == 0  # within the task timeout it may still be queued
    lost_at = timezone.now() - timedelta(seconds=settings.Q_CLUSTER["timeout"] + 1)
    ConsentRecord.objects.filter(pk=record.pk).update(check_enqueued_at=lost_at)

    with run_tasks():
        assert stuck_work_sweep()["consent_checks"] == 1
    record.refresh_from_db()
    assert record.check_status == ConsentRecord.Check.PASSED, record.check_detail
    assert alice_api.get(f"/api/v1/voices/{voice_id}/").json()["status"] == "ready"
    assert len(_creates_of(emulator_ctl, voice_id)) == 1
    assert stuck_work_sweep()["consent_checks"] == 0  # checked: nothing left to hand
