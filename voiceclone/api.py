"""API plumbing shared by every app: the exception handler and common pagination."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from voiceclone import provider
from voiceclone.errors import ApplicationError


def exception_handler(exc, context):
    """Map every error to one JSON shape: `{"detail", "code", ...}`.

    Validation → 400 with per-field detail; ApplicationError → its status with its code;
    a retryable provider error → 503; a foreign or missing object → 404 (same answer).
    """
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()

    if isinstance(exc, ApplicationError):
        return Response(
            {"detail": exc.message, "code": exc.code, **({"extra": exc.extra} if exc.extra else {})},
            status=exc.status_code,
        )
    if isinstance(exc, provider.ProviderError):
        code = status.HTTP_503_SERVICE_UNAVAILABLE if exc.retryable else status.HTTP_502_BAD_GATEWAY
        return Response({"detail": f"Voice provider error: {exc}", "code": exc.code or "provider_error"}, status=code)

    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": "Invalid input.", "code": "invalid", "errors": response.data}
    elif response is not None and isinstance(response.data, dict) and "detail" in response.data:
        detail = response.data["detail"]
        response.data["code"] = getattr(detail, "code", None) or "error"
    return response


class CreatedCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-created_at"
