"""Request and response values passed between the HTTP handler and the endpoint functions.

Endpoint functions never touch sockets: they take a `Request` and return a `Response`, or raise
`errors.ApiError`. That keeps them testable and lets the handler own framing (Content-Length,
chunked encoding, dropped connections).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Iterable
from urllib.parse import parse_qs

from . import errors
from .forms import Form, parse_form


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    _form: Form | None = field(default=None, repr=False)

    @classmethod
    def build(cls, method: str, target: str, headers: dict[str, str], body: bytes) -> "Request":
        path, _, query_string = target.partition("?")
        return cls(method.upper(), path, parse_qs(query_string, keep_blank_values=True), headers, body)

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def form(self) -> Form:
        """The body as a form. A body that is not a form reads as an empty one, which is how FastAPI
        treats the SDK's retried multipart requests that arrive with no Content-Type at all."""
        if self._form is None:
            self._form = parse_form(self.body, self.headers.get("content-type", ""))
        return self._form

    def json(self) -> object:
        if not self.body:
            # FastAPI's answer when a required JSON body is absent.
            raise errors.validation_error((["body"], "Field required", "missing"))
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            position = getattr(exc, "pos", 0)
            raise errors.validation_error((["body", position], "JSON decode error", "json_invalid")) from exc


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # When set, the body is sent with Transfer-Encoding: chunked, one HTTP chunk per item.
    chunks: Iterable[bytes] | None = None
    # Called once the response has been written (or the client went away): work the client need not wait for.
    after: Callable[[], None] | None = None

    @classmethod
    def json(cls, payload: object, status: int = 200, headers: dict[str, str] | None = None) -> "Response":
        return cls(status, json.dumps(payload).encode("utf-8"), "application/json", dict(headers or {}))

    @classmethod
    def text(cls, text: str, status: int, headers: dict[str, str] | None = None) -> "Response":
        return cls(status, text.encode("utf-8"), "text/plain; charset=utf-8", dict(headers or {}))

    @classmethod
    def from_error(cls, error: errors.ApiError) -> "Response":
        if isinstance(error.body, str):
            return cls.text(error.body, error.http_status, error.headers)
        return cls.json(error.body, error.http_status, error.headers)
