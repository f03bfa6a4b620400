"""Fault injection: make matching API requests fail, slow down or lose their connection.

A fault matches by a regular expression searched in the request path (no query string) and an
optional HTTP method. Each matching request consumes one unit of `count` (None = forever); the first
matching fault in insertion order wins. Modes:

- "status":  answer with `status` and an error body shaped like the real one (429 with
             too_many_concurrent_requests / system_busy, 5xx as JSON or plain text, 404 voice_not_found,
             ...), optionally with a Retry-After header.
- "latency": sleep `delay_s`, then handle the request normally.
- "timeout": sleep `delay_s`, then close the connection without a response (a client with a shorter
             read timeout sees a timeout; a patient one sees a dropped connection).
- "drop":    close the connection at once without a response.
- "latency_after": handle the request normally (the provider has applied it), then sleep `delay_s`
             before answering: lets a test kill a client between the provider's change and the
             client recording it.
- "drop_after": handle the request normally, then close the connection without a response (the
             change happened but the client never hears of it).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import asdict, dataclass, field
from http import HTTPStatus

from . import errors
from .ids import new_id

MODES = ("status", "latency", "timeout", "drop", "latency_after", "drop_after")
_DEFAULT_DELAY_S = {"latency": 0.2, "timeout": 10.0, "latency_after": 10.0}
AFTER_MODES = ("latency_after", "drop_after")

# Messages for statuses the docs name without quoting a real message (see spec §8, UNSURE).
_MESSAGES = {
    "too_many_concurrent_requests": (
        "You are sending too many concurrent requests. Please wait for your other requests to finish."
    ),
    "system_busy": (
        "Our services are experiencing a high volume of traffic and your request could not be processed. "
        "Please try again."
    ),
    "rate_limit_exceeded": "You are sending requests too quickly. Please slow down.",
}
_VOICE_IN_PATH = re.compile(r"/(?:voices|text-to-speech)/([^/]+)")


class FaultSpecError(ValueError):
    """A fault description that cannot be used; the control endpoint answers 400 with its text."""


@dataclass
class Fault:
    path: str
    method: str | None = None
    mode: str = "status"
    status: int | None = None
    error_status: str | None = None
    message: str | None = None
    retry_after: float | int | str | None = None
    plain_text: bool = False
    delay_s: float | None = None
    count: int | None = 1
    id: str = field(default_factory=new_id)
    hits: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise FaultSpecError(f"mode must be one of {', '.join(MODES)}")
        try:
            self._pattern = re.compile(self.path)
        except re.error as exc:
            raise FaultSpecError(f"path is not a valid regular expression: {exc}") from exc
        if self.mode == "status" and not (isinstance(self.status, int) and 400 <= self.status <= 599):
            raise FaultSpecError("a status fault needs an HTTP error status between 400 and 599")
        if self.status is not None and self.status not in {member.value for member in HTTPStatus}:
            raise FaultSpecError(f"{self.status} is not a standard HTTP status")
        if self.count is not None and (not isinstance(self.count, int) or self.count < 1):
            raise FaultSpecError("count must be a positive integer or null (forever)")
        if self.delay_s is None:
            self.delay_s = _DEFAULT_DELAY_S.get(self.mode, 0.0)
        self.method = self.method.upper() if self.method else None

    @classmethod
    def from_dict(cls, spec: dict) -> "Fault":
        if not isinstance(spec, dict) or "path" not in spec:
            raise FaultSpecError("a fault needs at least a 'path' regular expression")
        spec = dict(spec)
        spec.pop("id", None)
        spec.pop("hits", None)
        if "mode" not in spec or spec["mode"] is None:
            spec["mode"] = "status"
        try:
            return cls(**spec)
        except TypeError as exc:
            raise FaultSpecError(str(exc)) from exc

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if not key.startswith("_")}

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self._pattern.search(path) is not None

    def error(self, path: str) -> errors.ApiError:
        """The reply of a "status" fault."""
        status = self.status or 500
        headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        if self.plain_text:
            return errors.ApiError(status, HTTPStatus(status).phrase, headers)
        code = self.error_status or ("voice_not_found" if status == 404 else None)
        if code in ("voice_not_found", "voice_does_not_exist") and self.message is None:
            # Name the voice from the path, as the real bodies do. The legacy 400 variant
            # (elevenlabs-python#454) used "for" instead of "with".
            found = _VOICE_IN_PATH.search(path)
            voice_id = found.group(1) if found else "unknown"
            wording = "with" if code == "voice_not_found" else "for"
            message = f"A voice {wording} the voice_id {voice_id} was not found."
            return errors.api_error(status, code, message, headers=headers)
        if status == 429:
            code = self.error_status or "too_many_concurrent_requests"
        else:
            code = self.error_status or HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
        message = self.message or _MESSAGES.get(code) or HTTPStatus(status).description or HTTPStatus(status).phrase
        return errors.api_error(status, code, message, headers=headers)


class FaultBook:
    """The active faults; consumption is atomic so concurrent requests never share one unit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, spec: dict) -> Fault:
        fault = Fault.from_dict(spec)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict]:
        with self._lock:
            return [fault.to_dict() for fault in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return fault
        return None


def specs_from_env(value: str | None) -> list[dict]:
    """Fault dicts from ELEVENLABS_EMULATOR_FAULTS (a JSON list, or one JSON object)."""
    if not value or not value.strip():
        return []
    try:
        specs = json.loads(value)
    except json.JSONDecodeError as exc:
        raise FaultSpecError(f"ELEVENLABS_EMULATOR_FAULTS is not valid JSON: {exc}") from exc
    return specs if isinstance(specs, list) else [specs]
