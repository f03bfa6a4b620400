"""Error bodies in the shapes the real API sends (elevenlabs-api.md §8).

App-level errors are `{"detail": {...}}` with both the legacy `status` and the newer `code` (the app
reads `code or status`), plus `message`, `type` and `request_id`. Request validation errors are
FastAPI's `{"detail": [{"loc", "msg", "type"}]}` list, which the SDK turns into
`UnprocessableEntityError`. The `type` values are the emulator's best guess (the docs list them
without a mapping to codes).
"""

from __future__ import annotations

from .ids import new_trace_id

# Legacy `status` values whose newer `code` differs (errors page: "concurrent_limit_exceeded").
_CODE_FOR_STATUS = {"too_many_concurrent_requests": "concurrent_limit_exceeded"}

_TYPE_FOR_HTTP = {
    400: "validation_error",
    401: "authentication_error",
    403: "authorization_error",
    404: "not_found",
    422: "validation_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """Raised anywhere in request handling; the server turns it into an HTTP reply."""

    def __init__(self, http_status: int, body: object, headers: dict[str, str] | None = None):
        super().__init__(f"{http_status}: {body}")
        self.http_status = http_status
        self.body = body
        self.headers = headers or {}


def detail_body(http_status: int, status: str, message: str, *, param: str | None = None) -> dict:
    detail = {
        "type": _TYPE_FOR_HTTP.get(http_status, "internal_error" if http_status >= 500 else "error"),
        "code": _CODE_FOR_STATUS.get(status, status),
        "status": status,
        "message": message,
        "request_id": new_trace_id(),
    }
    if param is not None:
        detail["param"] = param
    return {"detail": detail}


def api_error(http_status: int, status: str, message: str, *, param: str | None = None, headers=None) -> ApiError:
    return ApiError(http_status, detail_body(http_status, status, message, param=param), headers)


def voice_not_found(voice_id: str) -> ApiError:
    # Wording of a real 2025 response (elevenlabs-docs PR #1317).
    return api_error(404, "voice_not_found", f"A voice with the voice_id {voice_id} was not found.")


def invalid_api_key() -> ApiError:
    return api_error(401, "invalid_api_key", "Invalid API key")


def validation_error(*problems: tuple[list, str, str]) -> ApiError:
    """422 with one FastAPI entry per (loc, msg, type)."""
    return ApiError(422, {"detail": [{"loc": loc, "msg": msg, "type": kind} for loc, msg, kind in problems]})


def missing_field(location: str, name: str) -> ApiError:
    return validation_error(([location, name], "Field required", "missing"))


def not_found_route() -> ApiError:
    # What FastAPI answers for a path it does not serve.
    return ApiError(404, {"detail": "Not Found"})


def method_not_allowed() -> ApiError:
    return ApiError(405, {"detail": "Method Not Allowed"})
