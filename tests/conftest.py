"""Project-wide fixtures: the emulator, the personas (alice, bob, staff) and API clients."""

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.audio import wav_bytes
from tests.factories import UserFactory
from voiceclone.emulator import EmulatorServer
from voiceclone.emulator.control import EmulatorControl


@pytest.fixture(scope="session", autouse=True)
def emulator():
    """One emulator per test process, on a free port; the real SDK talks to it over HTTP."""
    server = EmulatorServer(host="127.0.0.1", port=0, voice_limit=30).start()
    previous = settings.ELEVENLABS_BASE_URL
    settings.ELEVENLABS_BASE_URL = server.url
    yield server
    settings.ELEVENLABS_BASE_URL = previous
    server.stop()


@pytest.fixture
def emulator_ctl(emulator):
    """Control of the emulator's state and faults, reset before each test that uses it."""
    ctl = EmulatorControl(emulator.url)
    ctl.reset(voice_limit=30)
    yield ctl
    ctl.clear_faults()


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob")


@pytest.fixture
def staff(db):
    return UserFactory(username="staff", is_staff=True, is_superuser=True)


def _token_client(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def alice_api(alice):
    return _token_client(alice)


@pytest.fixture
def bob_api(bob):
    return _token_client(bob)


@pytest.fixture
def staff_api(staff):
    return _token_client(staff)


@pytest.fixture
def run_tasks(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (and so the django-q2 sync tasks they enqueue) at the end of the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)

# --- voices and conversations made through the API, as their owner would ---------------------


@pytest.fixture
def make_voice(emulator_ctl, django_capture_on_commit_callbacks):
    """Create a ready voice through the API as its owner would (two WAV recordings)."""

    def make(api, name="Ada", persona="You are Ada, a cheerful baker from Leeds."):
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(
                "/api/v1/voices/",
                {
                    "name": name,
                    "persona": persona,
                    "consent": "true",
                    "samples": [_upload("one.wav", wav_bytes(3, seed=1)), _upload("two.wav", wav_bytes(3, seed=2))],
                },
                format="multipart",
            )
        assert response.status_code == 202, response.content
        return response.json()["id"]

    return make


def _upload(name, data):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="audio/wav")


@pytest.fixture
def alice_voice(make_voice, alice_api):
    return make_voice(alice_api)


@pytest.fixture
def alice_conversation(alice_api, alice_voice):
    response = alice_api.post("/api/v1/conversations/", {"voice": alice_voice}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]
