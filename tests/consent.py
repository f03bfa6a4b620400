"""The recorded consent phrase the pages require (docs/consent.md), for tests that create voices on pages."""

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.audio import wav_bytes
from voiceclone.emulator.control import EmulatorControl


def page_consent(client, *, name: str = "Ada", speaker_name: str = "Ada Lovelace", says_phrase: bool = True) -> dict:
    """Form fields of a consent recording for a voice called `name`: a fresh phrase's token and a recording.

    The recording is synthetic. With `says_phrase` (and the tests' emulator running) the emulator is told it says
    the phrase, as a recogniser would hear it, so its check passes and the voice is cloned; without, the check fails
    and the voice is held for consent review once its tasks run. Tests of the check and the hold themselves read the
    phrase with espeak-ng (tests/clones/test_consent_lifecycle.py, test_consent_hold.py).
    """
    phrase = client.get(reverse("voice-consent-phrase"), {"name": name, "speaker_name": speaker_name}).json()
    recording = wav_bytes(3, seed=9)
    if says_phrase:
        try:
            EmulatorControl(settings.ELEVENLABS_BASE_URL).declare_transcript(recording, phrase["phrase"])
        except OSError:  # no emulator in this test: nothing will check the recording
            pass
    return {
        "consent_token": phrase["token"],
        "consent_recording": SimpleUploadedFile("consent.wav", recording, content_type="audio/wav"),
    }
