"""The OpenAPI schema is true: schemathesis sends every operation of the live schema (`/api/schema/`)
schema-valid and schema-invalid requests and checks each answer with all of its checks — no 5xx, only
documented status codes, content types, headers and bodies, valid data accepted, invalid data
rejected, authentication enforced, unsupported methods answered 405.

How it runs (docs/api-docs.md):
- In process, through Django's WSGI handler, inside the test's database transaction: the data below
  exists for every request, and the background tasks requests enqueue on commit never run (no
  provider call is queued; the provider calls made while a request waits go to the emulator).
- One pytest item per operation. Path parameters are pinned to the objects made by `api_data`, so
  detail routes are exercised beyond 404 (malformed and foreign ids are swept by test_api_errors.py).
- A normal user (alice) calls every operation; staff call the operations marked `x-staff-only`.
- EXCEPTIONS lists, per operation, every check that is relaxed and why. Add an endpoint and it is
  tested as it is documented; add an exception only for what a JSON Schema cannot say.
"""

import re
import uuid

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.openapi.checks import AuthScenario, IgnoredAuth, RejectedPositiveData

from clones.models import ClipSample, Voice, VoiceVersion
from conversations.models import Message
from personas.models import PersonaDraft
from retraining.models import RetrainRun
from tests.factories import (
    ClipSampleFactory,
    ConsentRecordFactory,
    ConversationFactory,
    MessageFactory,
    UserFactory,
    VoiceFactory,
)
from tests.retraining.helpers import provider_voice
from voiceclone.events.models import Event, Webhook, WebhookDelivery

pytestmark = pytest.mark.django_db

# --- the objects every request finds (fixed ids, so the configuration can pin them) -------------------

ALICE_TOKEN = "a1" * 20
STAFF_TOKEN = "5f" * 20
VOICE = uuid.UUID("00000000-0000-4000-8000-00000000a001")
CONVERSATION = uuid.UUID("00000000-0000-4000-8000-00000000c001")
REPLY = uuid.UUID("00000000-0000-4000-8000-00000000e001")  # the assistant message, ready with audio
ORIGINAL, CLIP = 900_101, 900_102
RUN = 900_201
ARCHIVED_VERSION = 900_301
DRAFT = 900_401
WEBHOOK, DELIVERY = 900_501, 900_502
PERSONA_VERSION_NUMBER = 1

# (path prefix, parameters), first match wins. Values have the parameter's type in the schema: a
# string id for `pattern: ^\d+$`, an int for `type: integer`.
PINNED = [
    ("/api/v1/voices/{voice_id}/originals/", {"path.voice_id": str(VOICE), "path.id": str(ORIGINAL)}),
    ("/api/v1/voices/{id}/persona/drafts/{draft_id}/", {"path.id": str(VOICE), "path.draft_id": DRAFT}),
    ("/api/v1/voices/{id}/persona/versions/{number}/", {"path.id": str(VOICE), "path.number": PERSONA_VERSION_NUMBER}),
    ("/api/v1/voices/{id}/rollback/", {"path.id": str(VOICE), "body.version": 1}),
    ("/api/v1/voices/{id}/", {"path.id": str(VOICE)}),
    ("/api/v1/conversations/{id}/", {"path.id": str(CONVERSATION)}),
    ("/api/v1/conversations/", {"body.voice": str(VOICE)}),
    ("/api/v1/messages/{id}", {"path.id": str(REPLY)}),
    ("/api/v1/clips/{id}/", {"path.id": str(CLIP)}),
    ("/api/v1/retrain-runs/{id}/", {"path.id": str(RUN)}),
    ("/api/v1/retrain-runs/", {"body.voice": str(VOICE)}),
    ("/api/v1/webhooks/{id}/", {"path.id": str(WEBHOOK), "path.delivery_id": DELIVERY}),
    ("/api/v1/quota/versions/{version_id}/", {"path.version_id": ARCHIVED_VERSION}),
]
# A cursor is an opaque token taken from a `next`/`previous` link; any other string is rightly a 400, so
# the generator gets a valid one (the first page, offset 0) instead of inventing them.
FIRST_PAGE_CURSOR = "bz0w"  # base64("o=0")

# --- deliberate exceptions -----------------------------------------------------------------------------
# Two kinds: a check switched off for one operation (EXCEPTIONS), and a failure dropped wherever it
# matches a narrow description (FILTERED_FAILURES). Each says why the schema cannot be more exact.

REJECT_NEEDS_REASON = ("Rejecting needs a `reason`, approving does not; OpenAPI 3.0 cannot make one field required by "
                       "another's value, so `status: rejected` without a reason is schema-valid and rightly a 400.")
UPLOADS = ("A voice needs decodable speech of the allowed length in every sample and an ISO 639-1 `language` "
           "(any case, e.g. `FR`); a JSON Schema cannot say either, so every schema-valid case is rightly a 400. "
           "`consent: false` is schema-valid too (a boolean field) and rightly a 400 `consent_missing` (seen when "
           "schemathesis ran against the served schema as staff with 20 examples per operation).")
WEBHOOK_URL = ("`format: uri` is looser than the URLs a webhook accepts (Django's URLValidator: http(s), host labels "
               "of at most 63 characters; no private addresses in production).")
EXCEPTIONS: dict[str, dict[str, str]] = {
    "POST /api/v1/auth/token/": {
        "positive_data_acceptance": "Any username and password are schema-valid; wrong ones are a 400 "
                                    "(`Unable to log in with provided credentials`).",
    },
    "POST /api/v1/voices/": {"positive_data_acceptance": UPLOADS},
    "POST /api/v1/voices/{voice_id}/originals/": {"positive_data_acceptance": UPLOADS},
    "POST /api/v1/webhooks/": {"positive_data_acceptance": WEBHOOK_URL},
    "PUT /api/v1/webhooks/{id}/": {"positive_data_acceptance": WEBHOOK_URL},
    "PATCH /api/v1/webhooks/{id}/": {"positive_data_acceptance": WEBHOOK_URL},
    "POST /api/v1/clips/{id}/review/": {"positive_data_acceptance": REJECT_NEEDS_REASON},
    "POST /api/v1/clips/bulk-review/": {"positive_data_acceptance": REJECT_NEEDS_REASON},
}


def _error_fields(response) -> set[str]:
    try:
        body = response.json()
    except ValueError:
        return set()
    return set(body.get("errors") or {}) if isinstance(body, dict) else set()


FILE_FIELDS = {"samples", "audio", "kit"}  # the binary fields of the multipart request bodies


def _uploaded_file_refused(failure, case, response) -> bool:
    if not (isinstance(failure, RejectedPositiveData) and response.status_code == 400
            and (case.media_type or "").startswith("multipart/")):
        return False
    return bool(_error_fields(response) & FILE_FIELDS) or response.json().get("code") != "invalid"


def _json_value_coerced(failure, case, response) -> bool:
    return isinstance(failure, AcceptedNegativeData) and bool(COERCED.search(failure.message))


def _unpinned_voice_refused(failure, case, response) -> bool:
    voice = case.body.get("voice") if isinstance(case.body, dict) else None
    return (isinstance(failure, RejectedPositiveData) and voice != str(VOICE)
            and _error_fields(response) == {"voice"})


def _generated_cookie_beside_our_token(failure, case, response) -> bool:
    if not (isinstance(failure, IgnoredAuth) and failure.scenario == AuthScenario.GENERATED_AUTH):
        return False
    return response.request.headers.get("Authorization") in {f"Token {ALICE_TOKEN}", f"Token {STAFF_TOKEN}"}


COERCED = re.compile(r"Invalid component: in body - [\w.\[\]]+: Incorrect type$", re.MULTILINE)
FILTERED_FAILURES = [
    ("uploaded files must be real audio / a real kit", _uploaded_file_refused,
     "Samples, recordings and kits must be decodable speech of the allowed length, or a zip with a valid manifest "
     "and checksums (docs/api-errors.md, docs/voice-kits.md); a JSON Schema cannot say that, so schema-valid "
     "random bytes are rightly refused with a 400 naming the file (or the kit check that failed)."),
    ("JSON scalars coerced by DRF", _json_value_coerced,
     "DRF's fields read JSON leniently: `0`/`1` as booleans, numbers as strings. The schema states the types "
     "clients should send; only a body field of the wrong scalar type that DRF converts is let through."),
    ("a generated session cookie beside a valid token", _generated_cookie_beside_our_token,
     "Every operation accepts `tokenAuth` OR `cookieAuth`. When schemathesis adds a generated `sessionid` cookie to a "
     "request that also carries the test's valid token, the request rightly succeeds on the token, and schemathesis "
     "takes the cookie for the credentials that let it in. Only that case is let through: the same check still "
     "removes and spoils the token on every operation and expects a 401 (no-auth and invalid-auth probes)."),
    ("a voice id the generator drew itself", _unpinned_voice_refused,
     "The pin of `voice` in request bodies applies to fuzzed cases; the coverage phase draws its own ids, and "
     "a voice that does not exist (or is not yours) is rightly a 400 naming `voice`."),
]


# --- the schema, as served --------------------------------------------------------------------------------


# Statuses that are a right answer to a schema-valid request, beyond schemathesis' defaults (2xx, 3xx,
# 401, 403, 404, 409, 429, 5xx), per operation.
ALSO_ACCEPTED: dict[str, tuple[list[str], str]] = {
    "POST /api/v1/retrain-runs/": (["400", "422"], "Whether a voice may be retrained depends on its history "
                                                   "(conversations, approved clips, no run in progress) and on "
                                                   "settings, not on the request: 422 `not_eligible` with "
                                                   "`extra.reasons`, or 400 `edit_in_place_disabled` for that "
                                                   "strategy unless RETRAIN_ALLOW_EDIT_IN_PLACE."),
}


def _operation_configs(raw_schema: dict) -> list[dict]:
    configs = []
    for path, methods in raw_schema["paths"].items():
        for method, operation in methods.items():
            label = f"{method.upper()} {path}"
            token = STAFF_TOKEN if operation.get("x-staff-only") else ALICE_TOKEN
            config = {
                "include-operation-id": operation["operationId"],
                "headers": {"Authorization": f"Token {token}"},
            }
            parameters = next((p for prefix, p in PINNED if path.startswith(prefix)), {})
            if any(p["name"] == "cursor" for p in operation.get("parameters", [])):
                parameters = {**parameters, "query.cursor": FIRST_PAGE_CURSOR}
            if parameters:
                config["parameters"] = parameters
            checks = {check: {"enabled": False} for check in EXCEPTIONS.get(label, {})}
            if label in ALSO_ACCEPTED:
                checks["positive_data_acceptance"] = {"expected-statuses": [
                    "2xx", "3xx", "401", "403", "404", "409", "429", "5xx", *ALSO_ACCEPTED[label][0]]}
            if checks:
                config["checks"] = checks
            configs.append(config)
    return configs


def load_schema():
    app = get_wsgi_application()
    raw = Client().get("/api/schema/", {"format": "json"}).json()
    config = schemathesis.Config.from_dict({
        "checks": {"enabled": True},  # --checks all
        "generation": {"max-examples": 8, "database": "none", "deterministic": True},
        "operations": _operation_configs(raw),
    })
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", app, config=config)


SCHEMA = load_schema()


@SCHEMA.hook
def filter_failure(context, failure, case, response) -> bool:
    return not any(matches(failure, case, response) for _, matches, _ in FILTERED_FAILURES)


def test_every_exception_names_a_documented_operation():
    labels = {operation.ok().label for operation in SCHEMA.get_all_operations()}
    assert set(EXCEPTIONS) | set(ALSO_ACCEPTED) <= labels, (set(EXCEPTIONS) | set(ALSO_ACCEPTED)) - labels


# --- the data ---------------------------------------------------------------------------------------------


@pytest.fixture
def api_data(emulator_ctl):
    """alice's ready voice (two real provider versions at the emulator), its originals, a conversation
    with a spoken reply, a candidate retrain run, a persona draft and a webhook with a delivery."""
    alice = UserFactory(username="alice")
    staff = UserFactory(username="staff", is_staff=True, is_superuser=True)
    Token.objects.create(user=alice, key=ALICE_TOKEN)
    Token.objects.create(user=staff, key=STAFF_TOKEN)

    voice = VoiceFactory(id=VOICE, owner=alice, name="Ada", with_version=False)
    archived = VoiceVersion.objects.create(id=ARCHIVED_VERSION, voice=voice, number=1,
                                           provider_voice_id=provider_voice("Ada v1"),
                                           state=VoiceVersion.State.ARCHIVED)
    active = VoiceVersion.objects.create(voice=voice, number=2, provider_voice_id=provider_voice("Ada v2"),
                                         state=VoiceVersion.State.ACTIVE)
    candidate = VoiceVersion.objects.create(voice=voice, number=3, provider_voice_id=provider_voice("Ada v3"),
                                            state=VoiceVersion.State.CANDIDATE)
    Voice.objects.filter(pk=voice.pk).update(current_version=active)
    voice.refresh_from_db()
    ConsentRecordFactory(voice=voice)
    ClipSampleFactory(id=ORIGINAL, voice=voice, source=ClipSample.Source.ORIGINAL, text="")

    conversation = ConversationFactory(id=CONVERSATION, voice=voice, user=alice)
    MessageFactory(conversation=conversation, role=Message.Role.USER, text="Hello there.")
    clip = ClipSampleFactory(id=CLIP, voice=voice, text="Hello! How are you?")
    MessageFactory(id=REPLY, conversation=conversation, text=clip.text, clip=clip, voice_version=active)

    RetrainRun.objects.create(id=RUN, voice=voice, state=RetrainRun.State.CANDIDATE, new_version=candidate,
                              proposed_by=staff)
    PersonaDraft.objects.create(id=DRAFT, voice=voice, status=PersonaDraft.Status.PENDING,
                                base_text=voice.persona, text="You are Ada, a patient baker.")

    event = Event.objects.create(type=Event.Type.VOICE_READY, user=alice, voice=voice, payload={})
    webhook = Webhook.objects.create(id=WEBHOOK, user=alice, url="https://example.com/hook", secret="s" * 32)
    WebhookDelivery.objects.create(id=DELIVERY, webhook=webhook, event=event)
    yield
    emulator_ctl.reset(voice_limit=30)  # the provider voices made here


@pytest.fixture
def keep_test_connection():
    """The raw WSGI handler sends `request_started`/`request_finished`, whose `close_old_connections`
    receiver closes the database connection after every request. The test's transaction lives on that
    connection: on PostgreSQL the next request found it closed (SQLite's in-memory test database is
    exempt, which is why only CI's PostgreSQL pass saw it). Django's test Client disconnects the same
    receivers for the same reason."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@SCHEMA.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_as_its_schema_says(case, api_data, keep_test_connection):
    case.call_and_validate()
