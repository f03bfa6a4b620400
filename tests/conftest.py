"""Project-wide fixtures: the emulator, the personas (alice, bob, staff) and API clients."""

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

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
