"""The malformed-request corpus (tests/fuzz_corpus.py) against the API's write endpoints, as the
owner and as staff: never a 5xx, always the JSON error shape (or a success for input that is valid)."""

import json

import pytest

from tests.factories import ClipSampleFactory, ConversationFactory, VoiceFactory
from tests.fuzz_corpus import request_corpus

pytestmark = pytest.mark.django_db

CORPUS = request_corpus()


@pytest.fixture
def targets(staff):
    voice = VoiceFactory(owner=staff)
    return {"voice": str(voice.pk), "conversation": str(ConversationFactory(voice=voice).pk),
            "clip": str(ClipSampleFactory(voice=voice).pk)}


def fill(value, targets):
    if isinstance(value, str):
        return value.format(**targets) if "{" in value and "}" in value and value.count("{") < 3 else value
    if isinstance(value, dict):
        return {k: fill(v, targets) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("case", "method", "path", "body", "content_type"), CORPUS, ids=[c[0] for c in CORPUS])
def test_a_malformed_request_is_answered_without_a_server_error(staff_api, targets, case, method, path, body,
                                                                 content_type):
    staff_api.raise_request_exception = False
    if not isinstance(body, (str, bytes)):
        body = json.dumps(fill(body, targets))
    response = getattr(staff_api, method)(path.format(**targets), data=body, content_type=content_type)
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json"), response.content[:300]
        error = response.json()
        assert isinstance(error["detail"], str) and isinstance(error["code"], str)


def test_the_corpora_hold_at_least_a_hundred_cases():
    from tests.fuzz_corpus import upload_corpus

    assert len(CORPUS) + 2 * len(upload_corpus()) >= 200
