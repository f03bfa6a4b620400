"""Every failure under /api/ answers the API's JSON error shape, never a Django HTML page or a 500.

First the reproductions from issue 9 (each answered HTML or 500 before), then a sweep that walks
every API route of the OpenAPI schema and sends it malformed ids, an oversize body, bad query
parameters and a wrong method, as anonymous, owner and staff callers.
"""

import itertools
import json
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import Resolver404, resolve
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from tests.factories import ClipSampleFactory, ConversationFactory, VoiceFactory
from voiceclone.events.services import event_emit

pytestmark = pytest.mark.django_db

SIX_MB_JSON = b'{"title": "' + b"x" * (6 * 1024 * 1024) + b'"}'


@pytest.fixture(autouse=True)
def debug_pages(settings):
    # With DEBUG Django's HTML pages list the URL patterns: the worst case, so test under it.
    settings.DEBUG = True


def quiet(client: APIClient) -> APIClient:
    """Answer exceptions as the server would instead of raising them into the test."""
    client.raise_request_exception = False
    return client


def assert_json_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    body = response.json()
    assert isinstance(body.get("detail"), str) and isinstance(body.get("code"), str), body
    if code is not None:
        assert body["code"] == code, body
    return body


# --- the reproductions -----------------------------------------------------------------------------------


def test_a_six_megabyte_json_body_is_a_json_413(alice_api):
    response = alice_api.post("/api/v1/conversations/", data=SIX_MB_JSON, content_type="application/json")
    assert_json_error(response, 413, "request_too_large")


def test_json_nested_five_thousand_deep_is_a_json_400(alice_api):
    response = quiet(alice_api).post("/api/v1/conversations/", data="[" * 5000 + "]" * 5000,
                                     content_type="application/json")
    body = assert_json_error(response, 400, "parse_error")
    assert "nested too deeply" in body["detail"]


def test_unparseable_json_is_a_json_400(alice_api):
    response = alice_api.post("/api/v1/conversations/", data="{nope", content_type="application/json")
    assert_json_error(response, 400, "parse_error")


def test_more_than_the_field_limit_is_a_json_400(alice_api, settings):
    fields = {f"f{i}": "1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    response = alice_api.post("/api/v1/conversations/", fields, format="multipart")
    assert_json_error(response, 400, "too_many_fields")
    response = alice_api.post("/api/v1/conversations/", fields)  # urlencoded
    assert_json_error(response, 400, "too_many_fields")


def test_more_than_a_hundred_files_is_a_json_400(alice_api):
    files = [SimpleUploadedFile(f"s{i}.wav", b"RIFF", content_type="audio/wav") for i in range(101)]
    response = alice_api.post("/api/v1/voices/", {"name": "x", "samples": files}, format="multipart")
    assert_json_error(response, 400, "too_many_files")


def test_bulk_review_of_the_largest_allowed_batch_works_over_multipart(staff_api, settings):
    clips = [ClipSampleFactory() for _ in range(3)]
    ids = [c.pk for c in clips] + list(range(10**9, 10**9 + settings.CLIP_BULK_REVIEW_MAX_IDS - 3))
    response = staff_api.post("/api/v1/clips/bulk-review/", {"ids": ids, "status": "approved"}, format="multipart")
    assert response.status_code == 200, response.content[:300]
    assert response.json()["updated"] == 3
    too_many = staff_api.post("/api/v1/clips/bulk-review/", {"ids": ids + [10**10], "status": "approved"},
                              format="json")
    assert "ids" in assert_json_error(too_many, 400, "invalid")["errors"]


def test_bulk_review_ids_beyond_64_bits_are_a_json_400(staff_api):
    response = staff_api.post("/api/v1/clips/bulk-review/", {"ids": [2**70], "status": "approved"}, format="json")
    assert "ids" in assert_json_error(response, 400, "invalid")["errors"]


@pytest.mark.parametrize("path", ["/api/v1/clips/-1/", "/api/v1/voices/%C2%84/", "/api/v1/nope/",
                                  "/api/v1/messages/not-a-uuid/audio", "/api/v2/"])
def test_malformed_ids_and_unknown_routes_are_a_json_404_without_url_patterns(staff_api, path):
    response = staff_api.get(path)
    body = assert_json_error(response, 404, "not_found")
    assert "pattern" not in json.dumps(body).lower()


def test_a_wrong_method_is_a_json_405_with_allow(alice_api):
    response = alice_api.delete("/api/v1/events/")
    assert_json_error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_an_unsafe_request_without_trailing_slash_is_a_json_404_not_a_500(alice_api):
    response = quiet(alice_api).post("/api/v1/conversations", {"title": "x"}, format="json")
    assert_json_error(response, 404, "not_found")


def test_an_unauthenticated_call_is_a_json_401_or_403(client):
    response = client.get("/api/v1/voices/")
    assert response.status_code in (401, 403)
    assert_json_error(response, response.status_code)


@pytest.mark.urls("tests.foundation.urls_failing_view")
def test_an_unexpected_exception_under_api_is_a_json_500(alice_api, caplog):
    response = quiet(alice_api).get("/api/v1/fails/")
    body = assert_json_error(response, 500, "server_error")
    assert "RuntimeError" not in json.dumps(body)  # no traceback or exception text leaks
    assert any("fails on purpose" in str(r.exc_info) for r in caplog.records if r.exc_info)  # still logged


@pytest.mark.urls("tests.foundation.urls_failing_view")
def test_pages_outside_the_api_keep_django_error_pages(client):
    response = quiet(client).get("/not-api/fails/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


# --- query parameters ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("query, parameter", [
    ("limit=-2", "limit"), ("limit=0", "limit"), ("limit=201", "limit"), ("limit=ten", "limit"),
    ("after=-1", "after"), ("after=abc", "after"), (f"after={2**70}", "after"), ("type=nope", "type"),
])
def test_events_feed_parameters_are_validated(alice_api, query, parameter):
    response = alice_api.get(f"/api/v1/events/?{query}")
    assert parameter in assert_json_error(response, 400, "invalid")["errors"]


def test_events_feed_with_a_small_limit_ends(alice, alice_api):
    for i in range(3):
        event_emit(type="voice.ready", user=alice, payload={"i": i})
    cursor, seen, pages = 0, [], 0
    while True:
        body = alice_api.get(f"/api/v1/events/?after={cursor}&limit=1").json()
        seen += [e["payload"]["i"] for e in body["results"]]
        cursor, pages = body["cursor"], pages + 1
        if not body["has_more"]:
            break
        assert pages < 10
    assert seen == [0, 1, 2]


@pytest.mark.parametrize("path", ["/api/v1/conversations/", "/api/v1/clips/", "/api/v1/retrain-runs/"])
@pytest.mark.parametrize("query, parameter", [
    ("cursor=zz", "cursor"), ("cursor=%00", "cursor"), ("page_size=0", "page_size"),
    ("page_size=-5", "page_size"), ("page_size=many", "page_size"), ("page_size=100000", "page_size"),
])
def test_pagination_parameters_are_validated(staff_api, path, query, parameter):
    response = staff_api.get(f"{path}?{query}")
    assert parameter in assert_json_error(response, 400, "invalid")["errors"]


@pytest.mark.parametrize("path, query, parameter", [
    ("/api/v1/clips/", "voice=", "voice"), ("/api/v1/clips/", "voice=not-a-uuid", "voice"),
    ("/api/v1/clips/", "min_score=lots", "min_score"), ("/api/v1/clips/", "used=perhaps", "used"),
    ("/api/v1/clips/", "created_after=yesterday", "created_after"),
    ("/api/v1/retrain-runs/", "voice=", "voice"), ("/api/v1/retrain-runs/", "state=sleeping", "state"),
    ("/api/v1/retrain-runs/eligibility/", "voice=zz", "voice"),
    ("/api/v1/retrain-runs/eligibility/", "eligible=maybe", "eligible"),
    ("/api/v1/conversations/", "archived=sometimes", "archived"),
])
def test_filters_are_validated(staff_api, path, query, parameter):
    response = staff_api.get(f"{path}?{query}")
    assert parameter in assert_json_error(response, 400, "invalid")["errors"]


# --- every route, malformed --------------------------------------------------------------------------------

MALFORMED_IDS = ["-1", "%C2%84", "0", "99999999999999999999999", "..%2F..%2Fetc", "nan", "%00", "1e5",
                 "00000000-0000-0000-0000-00000000000g", "%F0%9F%98%80", "a" * 300]
BAD_QUERY_VALUES = ["", "-2", "0", "abc", "9" * 30, "%00", "%C2%84", "true,false", "[]", "null"]
BAD_HEADERS = {"Idempotency-Key": ["x" * 129, "has space", "é", "<script>"]}
WRITE_METHODS = {"post", "put", "patch"}


def api_operations():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation.get("parameters", [])


def concrete(path: str, **values) -> str:
    """Fill a schema path: ids get a well-formed value of the kind their route accepts, unless given."""
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    for kinds in itertools.product((str(uuid.uuid4()), "987654321"), repeat=len(names)):
        url = path
        for name, value in zip(names, kinds, strict=True):
            url = url.replace("{" + name + "}", value)
        try:
            resolve(url)
        except Resolver404:
            continue
        break
    else:
        raise AssertionError(f"no well-formed id resolves {path}")
    for name, value in zip(names, kinds, strict=True):
        path = path.replace("{" + name + "}", values.get(name, value))
    return path


@pytest.fixture
def callers(alice, alice_api, staff_api):
    voice = VoiceFactory(owner=alice)
    ConversationFactory(voice=voice, user=alice)
    ClipSampleFactory(voice=voice)
    return {"anonymous": quiet(APIClient()), "alice": quiet(alice_api), "staff": quiet(staff_api)}


def test_every_api_route_answers_malformed_requests_with_json_4xx(callers):
    """About 2,400 malformed requests over every route of the schema: never a 5xx, never HTML."""
    failures, sent = [], 0

    def check(client_name, method, url, **kwargs):
        nonlocal sent
        sent += 1
        response = getattr(callers[client_name], method)(url, **kwargs)
        ok = response.status_code < 500 and (
            response.status_code < 400 or response["Content-Type"].startswith("application/json"))
        if response.status_code >= 400 and ok:
            body = response.json()
            ok = isinstance(body.get("detail"), str) and isinstance(body.get("code"), str)
        if not ok:
            failures.append((client_name, method.upper(), url, response.status_code, response.content[:120]))

    operations = list(api_operations())
    assert len(operations) > 40
    for path, method, parameters in operations:
        id_names = [p["name"] for p in parameters if p["in"] == "path"]
        for client_name in ("anonymous", "alice", "staff"):
            # Anonymous callers are refused before an id is looked at: a few ids suffice for them.
            for bad in MALFORMED_IDS if client_name != "anonymous" else MALFORMED_IDS[:3]:
                for name in id_names:
                    check(client_name, method, concrete(path, **{name: bad}))
            if method in WRITE_METHODS:
                check(client_name, method, concrete(path), data=SIX_MB_JSON, content_type="application/json")
                check(client_name, method, concrete(path), data="[" * 5000, content_type="application/json")
                check(client_name, method, concrete(path), data=b"\xff\xfe{", content_type="application/json")
                check(client_name, method, concrete(path), data="--x\r\n", content_type="multipart/form-data")
            for other in {"get", "post", "put", "patch", "delete"} - {method}:
                check(client_name, other, concrete(path))
        for parameter in parameters:
            if parameter["in"] == "query":
                for bad in BAD_QUERY_VALUES:
                    check("staff", method, f"{concrete(path)}?{parameter['name']}={bad}")
            if parameter["in"] == "header":
                for bad in BAD_HEADERS.get(parameter["name"], []):
                    check("alice", method, concrete(path), data={"text": "hi"}, format="json",
                          headers={parameter["name"]: bad})
    assert sent > 1500
    print(f"{sent} malformed requests over {len(operations)} operations: {len(failures)} failed")
    assert failures == [], f"{len(failures)} of {sent} malformed requests failed: {failures[:10]}"
