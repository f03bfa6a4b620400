"""Voice creation refuses what would make a bad or deceptive clone (issue 9): silent or near-silent
samples, unknown language codes, control and bidi-override characters in names and personas."""

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from clones.models import Voice
from tests.audio import encode, speech_like, wav_bytes

pytestmark = pytest.mark.django_db

SR = 16000


def upload(data: bytes, name: str = "sample.wav") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="audio/wav")


def create(api, *, samples=None, **fields):
    data = {"name": "Ada", "persona": "You are Ada, a baker.", "consent": "true",
            "samples": samples or [upload(wav_bytes(3, seed=1))], **fields}
    return api.post("/api/v1/voices/", data, format="multipart")


def quiet_speech(seconds: float, gain_db: float) -> np.ndarray:
    return (speech_like(seconds) * 10 ** (gain_db / 20)).astype(np.float32)


@pytest.mark.parametrize("audio, reason", [
    (np.zeros(10 * SR, dtype=np.float32), "no speech"),  # the reproduction: 10 s of digital silence
    ((0.003 * np.random.default_rng(1).standard_normal(10 * SR)).astype(np.float32), "no speech"),  # room hiss
    ((0.3 * np.sin(2 * np.pi * 50 * np.arange(10 * SR) / SR)).astype(np.float32), "no speech"),  # mains hum
    (quiet_speech(5, -45), "no speech"),  # speech at about −70 LUFS: near-silent
    (np.concatenate([np.zeros(20 * SR, np.float32), speech_like(1.0)]), "of this recording is speech"),
])
def test_silent_and_near_silent_samples_are_refused(alice_api, emulator_ctl, audio, reason):
    response = create(alice_api, samples=[upload(encode(audio))])
    assert response.status_code == 400, response.content
    assert any(reason in message for message in response.json()["errors"]["samples"])
    assert not Voice.objects.exists()
    assert emulator_ctl.voice_ids() == []


def test_ordinary_speech_with_pauses_is_accepted(alice_api, emulator_ctl, run_tasks):
    with_pauses = np.concatenate([np.zeros(SR, np.float32), speech_like(4.0), np.zeros(2 * SR, np.float32)])
    with run_tasks():
        response = create(alice_api, samples=[upload(encode(with_pauses))])
    assert response.status_code == 202, response.content
    assert Voice.objects.get().status == Voice.Status.READY


@pytest.mark.parametrize("language", ["zz", "english", "en-GB", "xx", "e", "ÉN", "en\u202e"])
def test_unknown_language_codes_are_refused(alice_api, language):
    response = create(alice_api, language=language)
    assert response.status_code == 400, response.content
    assert "ISO 639-1" in response.json()["errors"]["language"][0]


@pytest.mark.parametrize("language, stored", [("en", "en"), ("FR", "fr"), (" pt ", "pt"), ("yo", "yo")])
def test_iso_639_1_codes_are_accepted(alice_api, run_tasks, emulator_ctl, language, stored):
    with run_tasks():
        response = create(alice_api, language=language)
    assert response.status_code == 202, response.content
    assert Voice.objects.get().language == stored


@pytest.mark.parametrize("field, value", [
    ("name", "Ada\u202eevil"),  # right-to-left override: the reproduction
    ("name", "Ada\u2066x\u2069"),  # isolates
    ("name", "Ada\x07"), ("name", "Ada\nSmith"), ("name", "Ada\u2028Smith"),
    ("persona", "You are Ada.\u202e"), ("persona", "Bell\x1b[31m"),
    ("speaker_name", "Ada\u202b"),
])
def test_control_and_bidi_characters_are_refused_with_a_clear_400(alice_api, field, value):
    response = create(alice_api, **{field: value})
    assert response.status_code == 400, response.content
    message = response.json()["errors"][field][0]
    assert "U+" in message
    assert not Voice.objects.exists()


def test_right_to_left_text_and_multi_line_personas_are_fine(alice_api, run_tasks, emulator_ctl):
    with run_tasks():
        response = create(alice_api, name="\u05d0\u05d3\u05d4 \u200fAda",  # Hebrew with a right-to-left mark
                          persona="You are Ada.\nYou bake.\r\n\tYou love rye.")
    assert response.status_code == 202, response.content


def test_renaming_a_voice_or_titling_a_conversation_refuses_bidi_overrides(alice_api, alice_voice,
                                                                        alice_conversation):
    renamed = alice_api.patch(f"/api/v1/voices/{alice_voice}/", {"name": "Ada\u202e"}, format="json")
    assert renamed.status_code == 400 and "name" in renamed.json()["errors"]
    titled = alice_api.patch(f"/api/v1/conversations/{alice_conversation}/", {"title": "Hi\u202e"}, format="json")
    assert titled.status_code == 400 and "title" in titled.json()["errors"]
    started = alice_api.post("/api/v1/conversations/", {"voice": alice_voice, "title": "x\u2067y"}, format="json")
    assert started.status_code == 400 and "title" in started.json()["errors"]


def test_the_voice_page_shows_the_same_refusals(client, alice):
    client.force_login(alice)

    def post(name, audio):
        return client.post("/voices/new/", {"name": name, "persona": "A baker.", "language": "en", "consent": "on",
                                            "samples": [upload(audio)]})

    renamed = post("Ada\u202e", wav_bytes(3, seed=1))
    assert renamed.status_code == 400 and "override" in renamed.content.decode()
    silent = post("Ada", encode(np.zeros(5 * SR, dtype=np.float32)))
    assert silent.status_code == 400 and "no speech was found" in silent.content.decode()
    assert not Voice.objects.exists()


@pytest.mark.parametrize("body", ['{"title": "\\ud800"}', '{"\\udfff": 1}', '{"title": ["ok", "\\udc00x"]}'])
def test_json_with_an_unpaired_surrogate_is_a_400(alice_api, alice_voice, body):
    response = alice_api.post("/api/v1/conversations/", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
