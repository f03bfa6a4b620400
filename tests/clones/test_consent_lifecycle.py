"""Consent as a lifecycle (issue 15 item 1): the recorded phrase and its check, remote consent, revocation
with its cascade, and the hard delete of a data-subject request. Real SDK against the emulator."""

import pytest
from auditlog.models import LogEntry
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from clones.models import ClipSample, ConsentRecord, Voice, VoiceVersion
from conversations.models import Conversation, Message
from retraining.models import ProviderVoiceDeletion
from retraining.services import archived_voices_cleanup, provider_reconcile
from tests.espeak import require_espeak, speak_wav
from voiceclone.events.models import Event

pytestmark = pytest.mark.django_db(transaction=False)

SAMPLE_SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "We baked forty loaves of bread before the sun came up this morning.",
)


def _upload(name, data, content_type="audio/wav"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def _phrase(api, *, speaker="Ada Lovelace", name="Ada"):
    response = api.get("/api/v1/voices/consent-phrase/", {"speaker_name": speaker, "name": name})
    assert response.status_code == 200, response.content
    return response.json()


def _create_with_consent(api, run_tasks, emulator_ctl, *, reader="f2", says=None, name="Ada",
                         speaker="Ada Lovelace"):
    """Create a voice from espeak-ng recordings of speaker f2 and a consent recording read by `reader`."""
    require_espeak()
    phrase = _phrase(api, speaker=speaker, name=name)
    recording = speak_wav(phrase["phrase"], reader)
    # The emulator cannot recognise human speech: tell it what this recording says, as a recogniser would.
    emulator_ctl.declare_transcript(recording, says if says is not None else phrase["phrase"])
    with run_tasks():
        response = api.post("/api/v1/voices/", {
            "name": name, "persona": "You are Ada.", "consent": "true", "speaker_name": speaker,
            "samples": [_upload(f"s{i}.wav", speak_wav(text, "f2")) for i, text in enumerate(SAMPLE_SENTENCES)],
            "consent_recording": _upload("consent.wav", recording), "consent_token": phrase["token"],
        }, format="multipart")
    assert response.status_code == 202, response.content
    return response.json()["id"], phrase, recording


def test_consent_phrase_names_the_speaker_and_the_voice_and_carries_a_one_time_code(alice_api):
    first, second = _phrase(alice_api), _phrase(alice_api)
    assert "Ada Lovelace" in first["phrase"] and "called Ada" in first["phrase"]
    assert "consent code is" in first["phrase"]
    assert first["phrase"] != second["phrase"] or first["token"] != second["token"]
    assert first["token"] != second["token"]
    missing = alice_api.get("/api/v1/voices/consent-phrase/", {"speaker_name": "Ada Lovelace"})
    assert missing.status_code == 400
    assert missing.json()["errors"]["name"]


def test_recorded_consent_is_stored_transcribed_and_checked_against_phrase_and_speaker(
        alice_api, run_tasks, emulator_ctl):
    voice_id, phrase, recording = _create_with_consent(alice_api, run_tasks, emulator_ctl)
    record = ConsentRecord.objects.get(voice_id=voice_id)
    assert record.method == ConsentRecord.Method.RECORDING
    assert record.phrase == phrase["phrase"]
    assert record.statement_file.name.startswith(f"consents/{voice_id}/")
    assert default_storage.open(record.statement_file.name).read() == recording
    assert record.check_status == ConsentRecord.Check.PASSED, record.check_detail
    assert record.transcript == phrase["phrase"]
    assert record.phrase_wer == 0
    assert record.speaker_similarity >= 0.5
    assert emulator_ctl.requests(path=r"^/v1/speech-to-text$", method="POST")
    listed = alice_api.get(f"/api/v1/voices/{voice_id}/consents/").json()
    assert listed[0]["check_status"] == "passed" and listed[0]["phrase_wer"] == 0


def test_a_recording_that_does_not_say_the_phrase_or_is_another_speaker_fails_the_check(
        alice_api, run_tasks, emulator_ctl):
    voice_id, _, _ = _create_with_consent(alice_api, run_tasks, emulator_ctl, says="Hello, nice weather today.")
    record = ConsentRecord.objects.get(voice_id=voice_id)
    assert record.check_status == ConsentRecord.Check.FAILED
    assert record.phrase_wer > 0.35
    assert "does not say the phrase" in record.check_detail

    other_id, _, _ = _create_with_consent(alice_api, run_tasks, emulator_ctl, reader="m3", name="Ben")
    other = ConsentRecord.objects.get(voice_id=other_id)
    assert other.phrase_wer == 0
    assert other.speaker_similarity < 0.5, other.speaker_similarity
    assert other.check_status == ConsentRecord.Check.FAILED
    assert "does not sound like" in other.check_detail


def test_a_consent_phrase_is_accepted_once_and_only_for_its_voice(alice_api, run_tasks, emulator_ctl):
    voice_id, phrase, recording = _create_with_consent(alice_api, run_tasks, emulator_ctl)
    again = alice_api.post(f"/api/v1/voices/{voice_id}/originals/", {
        "consent": "true", "samples": [_upload("more.wav", speak_wav(SAMPLE_SENTENCES[0], "f2", words_per_minute=140))],
        "consent_recording": _upload("consent.wav", recording), "consent_token": phrase["token"],
    }, format="multipart")
    assert again.status_code == 400
    assert "already used" in again.json()["errors"]["consent_token"][0]

    other = _phrase(alice_api, name="Someone else")
    wrong_voice = alice_api.post(f"/api/v1/voices/{voice_id}/originals/", {
        "consent": "true", "samples": [_upload("more.wav", speak_wav(SAMPLE_SENTENCES[0], "f2", words_per_minute=140))],
        "consent_recording": _upload("consent.wav", speak_wav(other["phrase"], "f2")), "consent_token": other["token"],
    }, format="multipart")
    assert wrong_voice.status_code == 400
    assert "Someone else" in wrong_voice.json()["errors"]["consent_token"][0]


@pytest.mark.parametrize("target", ["create", "originals"])
def test_two_consent_recordings_are_refused_not_one_silently_dropped(alice_api, alice_voice, emulator_ctl, target):
    from tests.audio import wav_bytes

    phrase = _phrase(alice_api)
    before = ConsentRecord.objects.count()
    form = {"consent": "true", "speaker_name": "Ada Lovelace", "consent_token": phrase["token"],
            "samples": [_upload("one.wav", wav_bytes(3, seed=1))],
            "consent_recording": [_upload("a.wav", wav_bytes(3, seed=2)), _upload("b.wav", wav_bytes(3, seed=3))]}
    if target == "create":
        response = alice_api.post("/api/v1/voices/", {**form, "name": "Ada", "persona": "You are Ada."},
                                  format="multipart")
    else:
        response = alice_api.post(f"/api/v1/voices/{alice_voice}/originals/", form, format="multipart")
    assert response.status_code == 400, response.content
    assert "not 2" in response.json()["errors"]["consent_recording"][0]
    assert ConsentRecord.objects.count() == before
    assert Voice.objects.count() == 1


def test_api_needs_the_recording_only_when_the_installation_requires_it(alice_api, settings, emulator_ctl):
    from tests.audio import wav_bytes

    settings.CONSENT_RECORDING_REQUIRED = True
    response = alice_api.post("/api/v1/voices/", {
        "name": "Ada", "persona": "You are Ada.", "consent": "true",
        "samples": [_upload("one.wav", wav_bytes(3, seed=1))],
    }, format="multipart")
    assert response.status_code == 400
    assert response.json()["code"] == "consent_missing"
    assert not Voice.objects.exists()


def test_create_page_requires_the_recorded_phrase(client, alice, emulator_ctl, run_tasks):
    require_espeak()
    client.force_login(alice)
    samples = [_upload(f"s{i}.wav", speak_wav(text, "f2")) for i, text in enumerate(SAMPLE_SENTENCES)]
    form = {"name": "Ada", "persona": "You are Ada.", "language": "en", "speaker_name": "Ada Lovelace",
            "consent": "on", "samples": samples}
    refused = client.post(reverse("voice-create"), form)
    assert refused.status_code == 400
    assert "consent phrase" in refused.content.decode()
    assert not Voice.objects.exists()

    phrase = client.get(reverse("voice-consent-phrase"), {"speaker_name": "Ada Lovelace", "name": "Ada"}).json()
    for upload in samples:
        upload.seek(0)
    with run_tasks():
        created = client.post(reverse("voice-create"), {
            **form, "consent_recording": _upload("consent.wav", speak_wav(phrase["phrase"], "f2")),
            "consent_token": phrase["token"],
        })
    assert created.status_code == 302, created.content.decode()[:2000]
    record = ConsentRecord.objects.get()
    assert record.statement_file and record.phrase == phrase["phrase"]


def test_remote_speaker_records_consent_through_a_signed_link_without_an_account(
        alice_api, alice_voice, client, run_tasks, emulator_ctl, settings):
    require_espeak()
    link = alice_api.post(f"/api/v1/voices/{alice_voice}/consent/link/", {"speaker_name": "Grace Hopper"},
                          format="json")
    assert link.status_code == 201, link.content
    path = link.json()["url"].split("testserver", 1)[1]
    page = client.get(path)  # anonymous
    assert page.status_code == 200
    html = page.content.decode()
    assert "Grace Hopper" in html and "called Ada" in html
    token = page.context["phrase"].token
    phrase_text = page.context["phrase"].phrase
    with run_tasks():
        sent = client.post(path, {"consent_token": token,
                                  "consent_recording": _upload("consent.wav", speak_wav(phrase_text, "f3"))})
    assert sent.status_code == 200 and "is recorded" in sent.content.decode()
    record = ConsentRecord.objects.get(voice_id=alice_voice, method=ConsentRecord.Method.REMOTE)
    assert record.speaker_name == "Grace Hopper"
    assert record.given_by.username == "alice"
    assert record.check_status != ConsentRecord.Check.PENDING

    tampered = client.get(path[:-3] + "abc/")
    assert tampered.status_code == 410
    settings.CONSENT_LINK_MAX_AGE_S = -1
    assert client.get(path).status_code == 410


def _turn(api, conversation_id, text, run_tasks):
    with run_tasks():
        response = api.post(f"/api/v1/conversations/{conversation_id}/messages/", {"text": text}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["assistant_message"]["id"]


def test_revoking_consent_deletes_every_provider_voice_locks_audio_and_keeps_the_record(
        alice_api, bob_api, staff_api, alice_voice, alice_conversation, run_tasks, emulator_ctl):
    reply_id = _turn(alice_api, alice_conversation, "Hello there!", run_tasks)
    voice = Voice.objects.get(pk=alice_voice)
    provider_ids = set(voice.versions.values_list("provider_voice_id", flat=True))
    original = ClipSample.objects.filter(voice=voice, source="original").first()
    clip = Message.objects.get(pk=reply_id).clip
    assert provider_ids <= set(emulator_ctl.voice_ids())

    assert bob_api.post(f"/api/v1/voices/{alice_voice}/consent/revoke/", {}, format="json").status_code == 404
    with run_tasks():
        response = alice_api.post(f"/api/v1/voices/{alice_voice}/consent/revoke/",
                                  {"reason": "The speaker asked us to stop."}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "revoked"

    # Zero provider voices for this voice at the emulator, and reconciliation does not bring one back.
    assert not provider_ids & set(emulator_ctl.voice_ids())
    assert set(VoiceVersion.objects.filter(voice=voice).values_list("state", flat=True)) == {"deleted"}
    provider_reconcile(fix=True)
    assert not provider_ids & set(emulator_ctl.voice_ids())
    assert Voice.objects.get(pk=alice_voice).status == "revoked"

    # No playable clip: every audio endpoint answers 410.
    assert alice_api.get(f"/api/v1/messages/{reply_id}/audio").status_code == 410
    assert alice_api.get(f"/api/v1/voices/{alice_voice}/originals/{original.pk}/audio/").status_code == 410
    assert staff_api.get(f"/api/v1/clips/{clip.pk}/audio/").status_code == 410
    # Read-only conversations.
    refused = alice_api.post(f"/api/v1/conversations/{alice_conversation}/messages/", {"text": "Still there?"},
                             format="json")
    assert refused.status_code == 409
    assert alice_api.patch(f"/api/v1/voices/{alice_voice}/", {"name": "New"}, format="json").status_code == 409

    # The consent record and the audit entries outlive the voice's use.
    record = ConsentRecord.objects.get(voice_id=alice_voice)
    assert record.revoked_at is not None and record.revoke_reason == "The speaker asked us to stop."
    entry = LogEntry.objects.get(additional_data__event="consent.revoked")
    assert entry.additional_data["voice"] == alice_voice
    assert entry.actor.username == "alice"
    assert Event.objects.filter(type="voice.consent_revoked", voice_id=alice_voice).count() == 1

    # Repeating is harmless: no second event.
    assert alice_api.post(f"/api/v1/voices/{alice_voice}/consent/revoke/", {}, format="json").status_code == 200
    assert Event.objects.filter(type="voice.consent_revoked").count() == 1


def test_revocation_deletion_is_retried_until_the_provider_confirms(
        alice_api, alice_voice, run_tasks, emulator_ctl):
    provider_id = Voice.objects.get(pk=alice_voice).current_version.provider_voice_id
    emulator_ctl.add_fault(path=rf"^/v1/voices/{provider_id}$", method="DELETE", status=503, count=20)
    with run_tasks():
        alice_api.post(f"/api/v1/voices/{alice_voice}/consent/revoke/", {}, format="json")
    deletion = ProviderVoiceDeletion.objects.get(provider_voice_id=provider_id)
    assert deletion.completed_at is None and deletion.reason == "consent_revoked"
    assert provider_id in emulator_ctl.voice_ids()

    # A definite refusal does not withdraw it either.
    emulator_ctl.clear_faults()
    emulator_ctl.add_fault(path=rf"^/v1/voices/{provider_id}$", method="DELETE", status=400, count=1)
    archived_voices_cleanup()
    assert ProviderVoiceDeletion.objects.filter(pk=deletion.pk, completed_at__isnull=True).exists()

    archived_voices_cleanup()
    deletion.refresh_from_db()
    assert deletion.completed_at is not None
    assert provider_id not in emulator_ctl.voice_ids()


def test_a_failed_revocation_deletion_is_retried_by_the_queue_with_backoff_not_left_to_the_hourly_cleanup(
        alice_api, alice_voice, run_tasks, emulator_ctl, settings):
    # From outside (bin/run): the provider failed the deletes for a few seconds and the voice stayed at the provider
    # until the next cleanup, an hour later by default. Now the failure sets a retry time and the cluster's
    # stuck-work sweep hands the deletion to the queue when it is due.
    from voiceclone.background import stuck_work_sweep

    provider_id = Voice.objects.get(pk=alice_voice).current_version.provider_voice_id
    emulator_ctl.add_fault(path=rf"^/v1/voices/{provider_id}$", method="DELETE", status=503, count=20)
    with run_tasks():
        alice_api.post(f"/api/v1/voices/{alice_voice}/consent/revoke/", {}, format="json")
    deletion = ProviderVoiceDeletion.objects.get(provider_voice_id=provider_id)
    assert deletion.completed_at is None and deletion.attempt_count == 1
    first_wait = deletion.next_attempt_at - deletion.requested_at
    assert first_wait.total_seconds() > 0
    # Not due yet: the sweep leaves it alone.
    with run_tasks():
        assert stuck_work_sweep()["provider_deletions"] == 0
    assert ProviderVoiceDeletion.objects.get(pk=deletion.pk).attempt_count == 1

    # Due (the test moves the retry time instead of waiting): handed to the queue, fails again, waits longer.
    ProviderVoiceDeletion.objects.filter(pk=deletion.pk).update(next_attempt_at=deletion.requested_at)
    with run_tasks():
        assert stuck_work_sweep()["provider_deletions"] == 1
    deletion.refresh_from_db()
    assert deletion.attempt_count == 2 and deletion.completed_at is None
    assert provider_id in emulator_ctl.voice_ids()
    from retraining.services import deletion_retry_delay_s
    assert deletion_retry_delay_s(2) == 2 * deletion_retry_delay_s(1)
    assert deletion_retry_delay_s(50) == settings.ARCHIVED_VOICES_CLEANUP_INTERVAL_MIN * 60

    # The provider recovers: the next due retry deletes the voice; nothing is handed again afterwards.
    emulator_ctl.clear_faults()
    ProviderVoiceDeletion.objects.filter(pk=deletion.pk).update(next_attempt_at=deletion.requested_at)
    with run_tasks():
        assert stuck_work_sweep()["provider_deletions"] == 1
    deletion.refresh_from_db()
    assert deletion.completed_at is not None and deletion.attempt_count == 3
    assert provider_id not in emulator_ctl.voice_ids()
    with run_tasks():
        assert stuck_work_sweep()["provider_deletions"] == 0


def test_revoke_purges_audio_files_when_configured(alice_api, alice_voice, run_tasks, emulator_ctl, settings):
    settings.CONSENT_REVOKE_PURGE = True
    names = [c.file.name for c in ClipSample.objects.filter(voice_id=alice_voice)]
    assert names
    with run_tasks():
        alice_api.post(f"/api/v1/voices/{alice_voice}/consent/revoke/", {}, format="json")
    assert not any(default_storage.exists(name) for name in names)
    assert not ClipSample.objects.filter(voice_id=alice_voice).exclude(file="").exists()
    assert ClipSample.objects.filter(voice_id=alice_voice).count() == len(names)


def test_revoke_from_the_admin_asks_first(client, staff, alice_voice, run_tasks, emulator_ctl):
    client.force_login(staff)
    changelist = reverse("admin:clones_voice_changelist")
    # Choosing the action shows what it does (it used to act at once, irreversibly, like a misclick would).
    with run_tasks():
        asked = client.post(changelist, {"action": "revoke_consent", "_selected_action": [alice_voice]})
    assert asked.status_code == 200 and b"cannot be undone" in asked.content and b"Ada" in asked.content
    assert Voice.objects.get(pk=alice_voice).status == "ready" and emulator_ctl.voice_ids()
    with run_tasks():
        response = client.post(changelist, {"action": "revoke_consent", "_selected_action": [alice_voice],
                                            "confirm": "yes", "reason": "speaker wrote to support"})
    assert response.status_code == 302
    assert Voice.objects.get(pk=alice_voice).status == "revoked"
    assert ConsentRecord.objects.get(voice_id=alice_voice).revoke_reason == "speaker wrote to support"
    assert not emulator_ctl.voice_ids()


def test_hard_delete_from_the_admin_asks_first(client, staff, alice_voice, run_tasks, emulator_ctl):
    client.force_login(staff)
    changelist = reverse("admin:clones_voice_changelist")
    asked = client.post(changelist, {"action": "hard_delete_voices", "_selected_action": [alice_voice]})
    assert asked.status_code == 200 and b"cannot be undone" in asked.content
    assert Voice.objects.filter(pk=alice_voice).exists() and emulator_ctl.voice_ids()
    with run_tasks():
        response = client.post(changelist, {"action": "hard_delete_voices", "_selected_action": [alice_voice],
                                            "confirm": "yes"}, follow=True)
    assert b"erased" in response.content
    assert not Voice.objects.filter(pk=alice_voice).exists() and not emulator_ctl.voice_ids()
    assert ConsentRecord.objects.filter(voice_ref=alice_voice).exists()


def test_hard_delete_removes_files_rows_and_provider_voices_and_reports_them(
        alice_api, staff_api, alice_voice, alice_conversation, run_tasks, emulator_ctl, capsys):
    _turn(alice_api, alice_conversation, "Hello there!", run_tasks)
    files = [c.file.name for c in ClipSample.objects.filter(voice_id=alice_voice)]
    provider_ids = list(VoiceVersion.objects.filter(voice_id=alice_voice).values_list("provider_voice_id", flat=True))
    consent_pk = ConsentRecord.objects.get(voice_id=alice_voice).pk

    assert alice_api.post(f"/api/v1/voices/{alice_voice}/erase/").status_code == 403
    call_command("voice_hard_delete", alice_voice)  # without --yes: says what it would do
    assert Voice.objects.filter(pk=alice_voice).exists()

    response = staff_api.post(f"/api/v1/voices/{alice_voice}/erase/")
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["provider_voices_deleted"] == provider_ids
    assert report["files_deleted"] >= len(files)
    assert report["rows_deleted"]["clones.Voice"] == 1
    assert report["rows_deleted"]["conversations.Message"] == 2
    assert report["consent_records_kept"] == [consent_pk]
    assert not Voice.objects.filter(pk=alice_voice).exists()
    assert not Conversation.objects.filter(pk=alice_conversation).exists()
    assert not any(default_storage.exists(name) for name in files)
    assert not set(provider_ids) & set(emulator_ctl.voice_ids())
    record = ConsentRecord.objects.get(pk=consent_pk)
    assert record.voice_id is None and str(record.voice_ref) == alice_voice and record.voice_name == "Ada"
    erased = LogEntry.objects.get(additional_data__event="voice.hard_deleted")
    assert erased.object_pk == alice_voice and erased.additional_data["files_deleted"] == report["files_deleted"]


def test_hard_delete_command(alice_voice, emulator_ctl, capsys):
    call_command("voice_hard_delete", alice_voice, "--yes")
    out = capsys.readouterr().out
    assert '"clones.Voice": 1' in out
    assert not Voice.objects.filter(pk=alice_voice).exists()
    assert not emulator_ctl.voice_ids()


def test_a_revoked_voice_exports_no_audio(alice_api, alice_voice, alice_conversation, run_tasks, emulator_ctl):
    _turn(alice_api, alice_conversation, "Hello there!", run_tasks)
    with run_tasks():
        alice_api.post(f"/api/v1/voices/{alice_voice}/consent/revoke/", {}, format="json")
    kit = alice_api.get(f"/api/v1/voices/{alice_voice}/export/")
    assert kit.status_code == 410 and kit.json()["code"] == "consent_revoked"
    exported = alice_api.get(f"/api/v1/conversations/{alice_conversation}/export/")
    assert exported.status_code == 200
