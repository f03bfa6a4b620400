"""The cost ledger and identical-render reuse (issue 15 item 5), through the API, tasks and the admin."""

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from clones.models import ClipSample, Voice
from conversations.models import Message
from tests.audio import wav_bytes
from usage.models import UsageEntry
from voiceclone import provider
from tests.replies.conftest import fake_llm  # noqa: F401 (fixture)
from tests.served_audio import served

pytestmark = pytest.mark.django_db(transaction=False)


def _turn(api, conversation_id, text, run_tasks):
    with run_tasks():
        response = api.post(f"/api/v1/conversations/{conversation_id}/messages/", {"text": text}, format="json")
    assert response.status_code == 202, response.content
    message = Message.objects.select_related("clip").get(pk=response.json()["assistant_message"]["id"])
    assert message.status == "ready", message.failure_reason
    return message


def _tts_calls(emulator_ctl, provider_voice_id):
    return emulator_ctl.requests(path=rf"^/v1/text-to-speech/{provider_voice_id}", method="POST")


def test_same_text_twice_to_the_same_version_calls_the_provider_once(
        alice_api, alice_voice, alice_conversation, run_tasks, emulator_ctl, fake_llm, settings):
    # A reply engine that answers the same sentence every time: two identical renders.
    settings.LLM_BASE_URL = fake_llm.base_url
    fake_llm.answer_completion("Fresh bread every morning.")
    version = Voice.objects.get(pk=alice_voice).current_version
    before = len(_tts_calls(emulator_ctl, version.provider_voice_id))

    first = _turn(alice_api, alice_conversation, "What do you bake?", run_tasks)
    second = _turn(alice_api, alice_conversation, "And what else?", run_tasks)

    assert first.text == second.text == "Fresh bread every morning."
    assert len(_tts_calls(emulator_ctl, version.provider_voice_id)) - before == 1
    # Two clip rows, each with its own stored file of the same audio.
    assert first.clip_id != second.clip_id
    assert second.clip.reused_from_id == first.clip_id
    assert second.clip.character_cost == 0 and first.clip.character_cost == len(first.text)
    assert second.clip.file.name != first.clip.file.name
    assert default_storage.open(second.clip.file.name).read() == default_storage.open(first.clip.file.name).read()
    assert ClipSample.objects.filter(voice_id=alice_voice, source="generated").count() == 2
    for message in (first, second):
        assert served(alice_api.get(f"/api/v1/messages/{message.pk}/audio", follow=False)).status == 200
    # The ledger counts one render.
    renders = UsageEntry.objects.filter(kind="tts", voice_id=alice_voice)
    assert renders.count() == 1
    assert renders.get().characters == len(first.text)
    assert renders.get().user.username == "alice"


def test_a_different_text_or_version_is_rendered_again(alice_api, alice_voice, alice_conversation, run_tasks,
                                                       emulator_ctl):
    version = Voice.objects.get(pk=alice_voice).current_version
    _turn(alice_api, alice_conversation, "Hello there!", run_tasks)
    _turn(alice_api, alice_conversation, "Tell me about rye.", run_tasks)
    texts = set(Message.objects.filter(role="assistant").values_list("text", flat=True))
    assert len(_tts_calls(emulator_ctl, version.provider_voice_id)) == len(texts)
    assert UsageEntry.objects.filter(kind="tts").count() == len(texts)


def test_ledger_counts_tts_and_stt_per_voice_user_and_day_and_the_api_shows_own_usage(
        alice_api, bob_api, staff_api, alice_voice, alice_conversation, run_tasks, emulator_ctl):
    first = _turn(alice_api, alice_conversation, "Hello there!", run_tasks)
    version = Voice.objects.get(pk=alice_voice).current_version
    spoken = provider.tts(voice_id=version.provider_voice_id, text="What flour do you use?").audio  # owner: alice
    from django.core.files.uploadedfile import SimpleUploadedFile

    with run_tasks():
        response = alice_api.post(f"/api/v1/conversations/{alice_conversation}/messages/",
                                  {"audio": SimpleUploadedFile("rec.mp3", spoken, content_type="audio/mpeg")},
                                  format="multipart")
    assert response.status_code == 202
    stt = UsageEntry.objects.get(kind="stt")
    assert stt.user.username == "alice" and str(stt.voice_id) == alice_voice and stt.audio_s > 0

    body = alice_api.get("/api/v1/usage/").json()
    assert body["totals"]["requests"] == UsageEntry.objects.filter(user__username="alice").count() == 4
    assert body["totals"]["characters"] == sum(UsageEntry.objects.values_list("characters", flat=True))
    tts_row = next(r for r in body["rows"] if r["kind"] == "tts")
    assert tts_row["voice"] == alice_voice and tts_row["voice_name"] == "Ada" and tts_row["user"] == "alice"
    assert tts_row["characters"] >= len(first.text)

    assert bob_api.get("/api/v1/usage/").json()["totals"]["requests"] == 0
    assert bob_api.get("/api/v1/usage/", {"user": "alice"}).status_code == 403
    assert staff_api.get("/api/v1/usage/", {"user": "alice"}).json()["totals"]["requests"] == 4
    assert staff_api.get("/api/v1/usage/", {"user": "bob"}).json()["totals"]["requests"] == 0
    assert alice_api.get("/api/v1/usage/", {"kind": "stt"}).json()["totals"]["requests"] == 1
    assert alice_api.get("/api/v1/usage/", {"since": "2020-01-01"}).json()["totals"]["requests"] == 4
    assert alice_api.get("/api/v1/usage/", {"until": "2020-01-01"}).json()["totals"]["requests"] == 0
    assert alice_api.get("/api/v1/usage/", {"kind": "nope"}).status_code == 400


def test_admin_lists_the_ledger_with_filters_and_a_date_hierarchy(client, staff, alice_voice, alice_conversation,
                                                                   alice_api, run_tasks, emulator_ctl):
    _turn(alice_api, alice_conversation, "Hello there!", run_tasks)
    client.force_login(staff)
    url = reverse("admin:usage_usageentry_changelist")
    page = client.get(url, {"kind": "tts"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Text to speech (reply)" in html and "alice" in html
    assert "date_hierarchy" in html or "day__year" in html or "xfull" in html or page.context["cl"].date_hierarchy
    assert client.get(reverse("admin:usage_usageentry_add")).status_code == 403


def test_consent_check_is_counted_as_its_own_kind(alice_api, run_tasks, emulator_ctl):
    phrase = alice_api.get("/api/v1/voices/consent-phrase/", {"speaker_name": "Ada L", "name": "Ada"}).json()
    from django.core.files.uploadedfile import SimpleUploadedFile

    with run_tasks():
        response = alice_api.post("/api/v1/voices/", {
            "name": "Ada", "persona": "You are Ada.", "consent": "true",
            "samples": [SimpleUploadedFile("one.wav", wav_bytes(3, seed=1), content_type="audio/wav")],
            "consent_recording": SimpleUploadedFile("c.wav", wav_bytes(3, seed=5), content_type="audio/wav"),
            "consent_token": phrase["token"],
        }, format="multipart")
    assert response.status_code == 202, response.content
    entry = UsageEntry.objects.get(kind="consent_check")
    assert str(entry.voice_id) == response.json()["id"] and entry.user.username == "alice"
