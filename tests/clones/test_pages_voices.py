"""Voice pages: create with consent and recordings, status, retry, edit, disable, ownership."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clones import services as clone_services
from clones.models import ClipSample, ConsentRecord, Voice
from tests.audio import PNG_BYTES, wav_bytes
from tests.consent import page_consent

pytestmark = pytest.mark.django_db


def recording(name, data=None, seed=1):
    return SimpleUploadedFile(name, data if data is not None else wav_bytes(3, seed=seed), content_type="audio/wav")


def post_voice(client, *, consent=True, samples=None, **fields):
    body = {
        "name": "Ada",
        "persona": "You are Ada, a cheerful baker from Leeds.",
        "language": "en",
        "speaker_name": "Ada Lovelace",
        "samples": samples if samples is not None else [recording("one.wav", seed=1), recording("two.wav", seed=2)],
        **fields,
    }
    if consent:
        body["consent"] = "on"
        body = {**page_consent(client, name=body["name"], speaker_name=body["speaker_name"]), **body}
    return client.post(reverse("voice-create"), body)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client


def service_voice(owner, run_tasks, name="Ada"):
    """A voice made through the real service (and, inside run_tasks, the provider task)."""
    with run_tasks():
        return clone_services.voice_create(
            owner=owner,
            name=name,
            persona="You are Ada.",
            samples=[clone_services.SampleUpload(filename="a.wav", data=wav_bytes(3, seed=3))],
            consent=True,
        )


def test_create_page_shows_consent_statement_and_audio_file_input(alice_client):
    page = alice_client.get(reverse("voice-create"))
    html = page.content.decode()
    assert page.status_code == 200
    assert clone_services.CONSENT_STATEMENT in html
    assert 'type="checkbox" name="consent"' in html
    assert 'accept="audio/*"' in html and " multiple" in html
    assert 'enctype="multipart/form-data"' in html


def test_create_voice_with_two_wavs_redirects_and_becomes_ready(alice_client, alice, emulator_ctl, run_tasks):
    with run_tasks():
        response = post_voice(alice_client)

    voice = Voice.objects.get(owner=alice)
    assert response.status_code == 302
    assert response.url == reverse("voice-detail", kwargs={"voice_id": voice.pk})
    assert voice.status == Voice.Status.READY
    assert voice.current_version.number == 1
    assert voice.clips.filter(source=ClipSample.Source.ORIGINAL).count() == 2
    consent = ConsentRecord.objects.get(voice=voice)
    assert consent.given_by == alice and consent.speaker_name == "Ada Lovelace"

    page = alice_client.get(response.url)
    html = page.content.decode()
    assert "Your voice is being created" in html  # the flash message from the redirect
    assert "Ready to talk" in html and "version 1" in html
    assert f"{reverse('conversation-create')}?voice={voice.pk}" in html  # "Start a conversation"


def test_creating_voice_page_refreshes_itself(alice_client, alice, emulator_ctl):
    response = post_voice(alice_client)  # on-commit task not run: the voice stays `creating`
    assert response.status_code == 302
    voice = Voice.objects.get(owner=alice)
    assert voice.status == Voice.Status.CREATING

    html = alice_client.get(response.url).content.decode()
    assert 'http-equiv="refresh" content="3"' in html
    assert f'data-poll-url="{reverse("api:voice-detail", kwargs={"pk": voice.pk})}"' in html
    assert "js/voice_status.js" in html


def test_missing_consent_is_a_form_error_and_creates_no_voice(alice_client, run_tasks):
    with run_tasks():
        response = post_voice(alice_client, consent=False)
    assert response.status_code == 400
    assert response.context["form"].errors["consent"]
    assert "requires the speaker’s consent" in response.content.decode()
    assert not Voice.objects.exists()


def test_png_named_wav_gets_a_per_file_error(alice_client, run_tasks):
    samples = [recording("good.wav", seed=1), recording("photo.wav", data=PNG_BYTES)]
    with run_tasks():
        response = post_voice(alice_client, samples=samples)
    assert response.status_code == 400
    errors = response.context["form"].errors["samples"]
    assert len(errors) == 1
    assert "photo.wav" in errors[0] and "not a supported audio file" in errors[0]
    assert "photo.wav" in response.content.decode()
    assert not Voice.objects.exists()


def test_no_recordings_is_a_form_error(alice_client):
    response = post_voice(alice_client, samples=[])
    assert response.status_code == 400
    assert response.context["form"].errors["samples"]
    assert not Voice.objects.exists()


def test_voice_list_shows_own_voices_with_status_and_empty_state(alice_client, alice, bob, run_tasks, emulator_ctl):
    empty = alice_client.get(reverse("voice-list")).content.decode()
    assert "You have no voices yet" in empty and reverse("voice-create") in empty

    service_voice(alice, run_tasks, name="Ada")
    service_voice(bob, run_tasks, name="Bobs Voice")
    html = alice_client.get(reverse("voice-list")).content.decode()
    assert "Ada" in html and 'badge badge--ready' in html
    assert "Bobs Voice" not in html


def test_foreign_voice_pages_are_404(bob_client, alice, run_tasks, emulator_ctl):
    voice = service_voice(alice, run_tasks)
    kwargs = {"voice_id": voice.pk}
    assert bob_client.get(reverse("voice-detail", kwargs=kwargs)).status_code == 404
    assert bob_client.get(reverse("voice-disable", kwargs=kwargs)).status_code == 404
    assert bob_client.post(reverse("voice-disable", kwargs=kwargs)).status_code == 404
    assert bob_client.post(reverse("voice-retry", kwargs=kwargs)).status_code == 404
    assert bob_client.post(reverse("voice-update", kwargs=kwargs), {"name": "x", "persona": "y"}).status_code == 404
    voice.refresh_from_db()
    assert voice.status == Voice.Status.READY and voice.name == "Ada"


def test_failed_voice_shows_reason_and_retry_makes_it_ready(alice_client, alice, emulator_ctl, run_tasks):
    emulator_ctl.reset(voice_limit=0)
    with run_tasks():
        response = post_voice(alice_client)
    voice = Voice.objects.get(owner=alice)
    assert voice.status == Voice.Status.FAILED

    html = alice_client.get(response.url).content.decode()
    assert "no free custom-voice slot" in html
    retry_url = reverse("voice-retry", kwargs={"voice_id": voice.pk})
    assert f'action="{retry_url}"' in html

    emulator_ctl.reset(voice_limit=30)
    with run_tasks():
        retried = alice_client.post(retry_url)
    assert retried.status_code == 302
    voice.refresh_from_db()
    assert voice.status == Voice.Status.READY
    assert voice.failure_reason == ""
    assert voice.current_version.number == 1


def test_retry_of_a_ready_voice_is_refused_with_a_message(alice_client, alice, run_tasks, emulator_ctl):
    voice = service_voice(alice, run_tasks)
    response = alice_client.post(reverse("voice-retry", kwargs={"voice_id": voice.pk}), follow=True)
    assert "Only a voice whose creation failed can be retried." in response.content.decode()
    voice.refresh_from_db()
    assert voice.status == Voice.Status.READY


def test_edit_persona(alice_client, alice, run_tasks, emulator_ctl):
    voice = service_voice(alice, run_tasks)
    response = alice_client.post(
        reverse("voice-update", kwargs={"voice_id": voice.pk}),
        {"name": "Ada B.", "persona": "You are Ada, now a retired baker."},
    )
    assert response.status_code == 302
    voice.refresh_from_db()
    assert voice.name == "Ada B." and voice.persona == "You are Ada, now a retired baker."

    invalid = alice_client.post(reverse("voice-update", kwargs={"voice_id": voice.pk}), {"name": "Ada", "persona": ""})
    assert invalid.status_code == 400
    assert invalid.context["update_form"].errors["persona"]
    voice.refresh_from_db()
    assert voice.persona == "You are Ada, now a retired baker."


def test_disable_asks_for_confirmation_then_disables(alice_client, alice, run_tasks, emulator_ctl):
    voice = service_voice(alice, run_tasks)
    url = reverse("voice-disable", kwargs={"voice_id": voice.pk})
    confirm = alice_client.get(url)
    assert confirm.status_code == 200
    assert "Yes, disable this voice" in confirm.content.decode()
    voice.refresh_from_db()
    assert voice.status == Voice.Status.READY  # GET changes nothing

    response = alice_client.post(url)
    assert response.status_code == 302
    voice.refresh_from_db()
    assert voice.status == Voice.Status.DISABLED
    html = alice_client.get(response.url).content.decode()
    assert "disabled and no longer speaks" in html
