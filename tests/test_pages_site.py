"""Site-wide page details: logout feedback, the favicon, local-time markup, and the create-voice form's
JSON answer (used by static/js/voice_create.js so a refused form keeps its files)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clones.models import Voice
from tests.audio import wav_bytes
from tests.consent import page_consent
from tests.factories import VoiceFactory

pytestmark = pytest.mark.django_db


def test_logging_out_says_so_on_the_login_page(client, alice):
    client.force_login(alice)

    response = client.post(reverse("logout"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("login")
    assert "You are logged out" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_every_page_has_a_favicon(client, alice):
    client.force_login(alice)
    page = client.get(reverse("voice-list")).content.decode()

    assert 'rel="icon" href="/static/favicon.svg"' in page
    assert client.get("/favicon.ico").url == "/static/favicon.svg"
    from django.contrib.staticfiles import finders

    assert finders.find("favicon.svg")


def test_times_are_marked_for_the_readers_time_zone(client, alice):
    voice = VoiceFactory(owner=alice)
    client.force_login(alice)

    page = client.get(reverse("voice-detail", kwargs={"voice_id": voice.pk})).content.decode()

    assert f'<time datetime="{voice.created_at.isoformat()}" data-local="datetime">' in page
    assert "js/local_time.js" in page


def test_create_voice_answers_json_when_asked(client, alice, emulator_ctl):
    client.force_login(alice)
    body = {
        "name": "Ada", "persona": "You are Ada.", "language": "en", "consent": "on",
        "samples": [SimpleUploadedFile("one.wav", wav_bytes(3, seed=1), content_type="audio/wav")],
        **page_consent(client, speaker_name="Ada Lovelace"), "speaker_name": "Ada Lovelace",
    }

    response = client.post(reverse("voice-create"), body, HTTP_ACCEPT="application/json")

    voice = Voice.objects.get(owner=alice)
    assert response.status_code == 200
    assert response.json() == {"redirect": reverse("voice-detail", kwargs={"voice_id": voice.pk})}
    # The success message waits for that page.
    assert "Your voice is being created" in client.get(response.json()["redirect"]).content.decode()


def test_refused_create_voice_form_answers_html_with_errors(client, alice):
    client.force_login(alice)

    response = client.post(reverse("voice-create"), {"name": "Ada", "persona": "You are Ada."},
                           HTTP_ACCEPT="application/json")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert 'id="voice-create-form"' in response.content.decode()
