"""The malformed-upload corpus (tests/fuzz_corpus.py) as voice samples and as voice messages:
every file gets a 202 (it is real, speaking audio) or a JSON 4xx naming the file's problem, never a 5xx."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from clones.models import Voice
from tests.fuzz_corpus import upload_corpus

pytestmark = pytest.mark.django_db

CORPUS = upload_corpus()
IDS = [case for case, _, _ in CORPUS]


def assert_answered(response):
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json"), response.content[:300]
        body = response.json()
        assert isinstance(body["detail"], str) and isinstance(body["code"], str)
    return response


@pytest.mark.parametrize(("case", "filename", "data"), CORPUS, ids=IDS)
def test_a_malformed_voice_sample_is_answered_without_a_server_error(alice_api, emulator_ctl, run_tasks,
                                                                      case, filename, data):
    sample = SimpleUploadedFile(filename, data, content_type="audio/wav")
    with run_tasks():
        response = assert_answered(alice_api.post("/api/v1/voices/", {
            "name": "Fuzz", "persona": "A test.", "consent": "true", "samples": [sample]}, format="multipart"))
    if response.status_code == 202:
        assert Voice.objects.get().status == Voice.Status.READY
    else:
        assert response.status_code == 400 and response.json()["errors"]["samples"]
        assert not Voice.objects.exists()


@pytest.mark.parametrize(("case", "filename", "data"), CORPUS, ids=IDS)
def test_a_malformed_voice_message_is_answered_without_a_server_error(alice_api, alice_conversation, case,
                                                                       filename, data):
    recording = SimpleUploadedFile(filename, data, content_type="audio/mpeg")
    response = assert_answered(alice_api.post(f"/api/v1/conversations/{alice_conversation}/messages/",
                                              {"audio": recording}, format="multipart"))
    assert response.status_code in (202, 400)
