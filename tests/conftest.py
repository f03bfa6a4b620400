"""Project-wide fixtures: the emulator, the personas (alice, bob, staff) and API clients."""

import os

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.audio import wav_bytes
from tests.factories import UserFactory
from voiceclone.emulator import EmulatorServer
from voiceclone.emulator.control import EmulatorControl


def profile() -> dict[str, str]:
    """The profile the suite runs on, as the settings say (not as the environment asks)."""
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    storage = settings.STORAGES["default"]["BACKEND"].rsplit(".", 1)[-1]
    return {
        "database": engine,
        "broker": "redis" if settings.Q_CLUSTER.get("redis") else "orm",
        "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
        "storage": f"{storage} ({settings.AWS_S3_ENDPOINT_URL})" if settings.USE_S3 else storage,
    }


def pytest_report_header(config):
    return "voiceclone profile: " + ", ".join(f"{key} {value}" for key, value in profile().items())


def pytest_sessionstart(session):
    """CI pass 2 (.ci/run) asks for the scale-out profile: the run stops at once if any part is missing,
    rather than passing on the embedded one."""
    if os.environ.get("SCALEOUT_PROFILE_REQUIRED") != "true":
        return
    current = profile()
    wanted = {"database": "postgresql", "broker": "redis", "cache": "RedisCache"}
    wrong = {key: current[key] for key, value in wanted.items() if current[key] != value}
    if not settings.USE_S3:
        wrong["storage"] = current["storage"]
    if wrong:
        pytest.exit(f"SCALEOUT_PROFILE_REQUIRED but the suite runs on: {wrong}", returncode=3)


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
