"""The recorded consent phrase the pages require (docs/consent.md), for tests that create voices on pages."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.audio import wav_bytes


def page_consent(client, *, name: str = "Ada", speaker_name: str = "Ada Lovelace") -> dict:
    """Form fields of a consent recording for a voice called `name`: a fresh phrase's token and a recording.

    The recording is synthetic (its check fails, which does not stop the voice); tests of the check itself read
    the phrase with espeak-ng (tests/clones/test_consent_lifecycle.py).
    """
    phrase = client.get(reverse("voice-consent-phrase"), {"name": name, "speaker_name": speaker_name}).json()
    return {
        "consent_token": phrase["token"],
        "consent_recording": SimpleUploadedFile("consent.wav", wav_bytes(3, seed=9), content_type="audio/wav"),
    }
