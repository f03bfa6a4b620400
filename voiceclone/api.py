"""API plumbing shared by every app: one JSON error shape, strict parsers and pagination.

Every failure under `/api/` answers `{"detail": <for humans>, "code": <stable>, ...}`:
validation errors add `errors` (per field or query parameter), application errors may add
`extra`, throttles add `retry_after_s` and a `Retry-After` header. The DRF exception handler
below shapes what views raise; `ApiJsonErrorMiddleware` catches what happens outside a view
(an unknown route, a malformed id, a body Django refuses, an unexpected exception) so that no
Django HTML page is ever returned under `/api/`. docs/api-errors.md lists the codes.
"""

import logging
import math
import re

from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.middleware.common import CommonMiddleware
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from voiceclone import provider
from voiceclone.errors import ApplicationError

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
MAX_ID = 2**63 - 1  # the largest BigAutoField id, in every database we run on

# Requests Django refuses before a view can look at them (settings.DATA_UPLOAD_MAX_*).
_REFUSED_REQUESTS = (
    (RequestDataTooBig, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "request_too_large",
     "The request body is too large."),
    (TooManyFieldsSent, status.HTTP_400_BAD_REQUEST, "too_many_fields", "The request has too many fields."),
    (TooManyFilesSent, status.HTTP_400_BAD_REQUEST, "too_many_files", "The request has too many files."),
    (SuspiciousOperation, status.HTTP_400_BAD_REQUEST, "bad_request", "The request could not be understood."),
)

# What an error status means when nothing more specific is known (errors raised outside a view).
_STATUS_ERRORS = {
    400: ("bad_request", "The request could not be understood."),
    401: ("not_authenticated", "Authentication credentials were not provided."),
    403: ("permission_denied", "You do not have permission to perform this action."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "Method not allowed."),
    413: ("request_too_large", "The request body is too large."),
    416: ("range_not_satisfiable", "The requested range is outside the file."),
    429: ("throttled", "Too many requests."),
    500: ("server_error", "Internal server error. The failure was logged."),
}
# Headers of a refused response that still mean something on its JSON replacement.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "Content-Range", "Vary")


def error_body(detail: str, code: str, **extra) -> dict:
    return {"detail": detail, "code": code, **extra}


def exception_handler(exc, context):
    """Map every error a view raises to one JSON shape: `{"detail", "code", ...}`.

    Validation → 400 with per-field `errors`; ApplicationError → its status with its code (429 ones
    with `Retry-After`); a retryable provider error → 503; a foreign or missing object → 404 (same
    answer); a body Django refuses (too large, too many fields or files) → 413/400.
    """
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, SuspiciousOperation):
        return refused_request_response(exc)

    if isinstance(exc, ApplicationError):
        response = Response(
            error_body(exc.message, exc.code, **({"extra": exc.extra} if exc.extra else {})),
            status=exc.status_code,
        )
        retry_after = getattr(exc, "retry_after_s", None)
        if retry_after is not None:
            response.data["retry_after_s"] = retry_after
            response["Retry-After"] = str(retry_after)
        return response
    if isinstance(exc, provider.ProviderError):
        code = status.HTTP_503_SERVICE_UNAVAILABLE if exc.retryable else status.HTTP_502_BAD_GATEWAY
        return Response(error_body(f"Voice provider error: {exc}", exc.code or "provider_error"), status=code)

    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        response.data = error_body("Invalid input.", "invalid", errors=response.data)
    elif response is not None and isinstance(response.data, dict) and "detail" in response.data:
        detail = response.data["detail"]
        response.data["code"] = getattr(detail, "code", None) or "error"
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response.data["retry_after_s"] = math.ceil(exc.wait)
    return response


def refused_request_response(exc: SuspiciousOperation) -> Response:
    for kind, http_status, code, detail in _REFUSED_REQUESTS:
        if isinstance(exc, kind):
            if kind is SuspiciousOperation:
                logger.warning("suspicious API request refused: %s", exc)
            return Response(error_body(detail, code), status=http_status)
    raise AssertionError("unreachable: SuspiciousOperation is the last entry")


class ApiJsonErrorMiddleware:
    """Under `/api/`, answer every error in the API's JSON shape, never with a Django HTML page.

    Errors raised inside a DRF view are shaped by `exception_handler`. This catches the rest after
    Django has produced its own answer (so its logging and `got_request_exception` still happen):
    an unknown route or a malformed id (the resolver's 404, which lists URL patterns with DEBUG),
    a body refused while a non-DRF layer read it, and any unexpected exception (a JSON 500).
    Placed first in MIDDLEWARE so it also sees what other middleware answers.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code < 400 or not request.path_info.startswith(API_PREFIX):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        exc = getattr(request, "_api_exception", None)
        if isinstance(exc, SuspiciousOperation):
            status_code, code, detail = next(
                (s, c, d) for kind, s, c, d in _REFUSED_REQUESTS if isinstance(exc, kind)
            )
        else:
            status_code = response.status_code
            code, detail = _STATUS_ERRORS.get(status_code, _STATUS_ERRORS[500 if status_code >= 500 else 400])
        replacement = JsonResponse(error_body(detail, code), status=status_code)
        for header in _KEPT_HEADERS:
            if header in response:
                replacement[header] = response[header]
        return replacement

    def process_exception(self, request, exception):
        # Remember what a view raised; Django still answers (and logs) it, __call__ reshapes the answer.
        request._api_exception = exception
        return None


class ApiCommonMiddleware(CommonMiddleware):
    """Django's CommonMiddleware without the trailing-slash redirect of unsafe API requests.

    A POST to `/api/v1/voices` would be redirected (its body lost) or, with DEBUG, raise a 500;
    an API client gets a plain JSON 404 instead. GET and HEAD are still redirected.
    """

    def should_redirect_with_slash(self, request):
        if request.path_info.startswith(API_PREFIX) and request.method not in ("GET", "HEAD"):
            return False
        return super().should_redirect_with_slash(request)


def parameter_error(name: str, message: str) -> exceptions.ValidationError:
    """A 400 about one query parameter, in the same shape as a field error."""
    return exceptions.ValidationError({name: [message]})


class QueryParametersSerializer(serializers.Serializer):
    """Base of the serializers that validate query parameters (and document them in the schema).

    DRF reads an empty form value of an optional field as "not given"; for a query parameter
    `?voice=` is far more likely a client bug than a wish for no filter, so it is a 400.
    """

    def to_internal_value(self, data):
        errors = {}
        for name, field in self.fields.items():
            values = data.getlist(name) if hasattr(data, "getlist") else ([data[name]] if name in data else [])
            if "" in values and not getattr(field, "allow_blank", False):
                errors[name] = ["This parameter may not be empty; leave it out instead."]
        if errors:
            raise exceptions.ValidationError(errors)
        return super().to_internal_value(data)


class CreatedCursorPagination(CursorPagination):
    """Newest first, 50 a page; `page_size` (1–200) and `cursor` are validated: a bad one is a 400."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-created_at"

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            value = int(raw)
        except ValueError:
            raise parameter_error(self.page_size_query_param, "Must be an integer.") from None
        if not 1 <= value <= self.max_page_size:
            raise parameter_error(self.page_size_query_param, f"Must be between 1 and {self.max_page_size}.")
        return value

    def get_schema_operation_parameters(self, view):
        return [
            {"name": self.cursor_query_param, "required": False, "in": "query",
             "description": "Opaque: the `next` or `previous` link of an earlier page carries it; anything else "
                            "is a 400.",
             "schema": {"type": "string", "minLength": 1, "pattern": f"^{_BASE64.pattern}$"}},
            {"name": self.page_size_query_param, "required": False, "in": "query",
             "description": f"Results per page, 1–{self.max_page_size} (default {self.page_size}).",
             "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size, "default": self.page_size}},
        ]

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        # DRF's decoder skips characters that are not base64, so garbage may read as the first page.
        if encoded is not None and not _BASE64.fullmatch(encoded):
            raise parameter_error(self.cursor_query_param, _INVALID_CURSOR)
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise parameter_error(self.cursor_query_param, _INVALID_CURSOR) from None


_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_INVALID_CURSOR = "Invalid cursor: pass the `next` or `previous` link of an earlier page."
