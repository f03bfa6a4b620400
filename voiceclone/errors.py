"""Business refusals raised by services and mapped to HTTP answers in one place (voiceclone.api)."""


class ApplicationError(Exception):
    """A refusal the user can understand and act on.

    `code` is stable and machine-readable; `message` is for humans; `extra` carries details
    (e.g. per-reason counts). `status_code` is the HTTP status the API answers with.
    """

    status_code = 400
    default_code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.extra = extra or {}


class ConsentMissing(ApplicationError):
    default_code = "consent_missing"


class UnsupportedAudio(ApplicationError):
    default_code = "unsupported_audio"


class InvalidState(ApplicationError):
    """The object is not in a state that allows this action (e.g. retrying a ready voice)."""

    status_code = 409
    default_code = "invalid_state"


class ConsentRevoked(ApplicationError):
    """The speaker withdrew consent: the voice's audio is never served again (410), it is read-only (409)."""

    status_code = 410
    default_code = "consent_revoked"


class QuotaFull(ApplicationError):
    status_code = 409
    default_code = "quota_full"


class NotEligible(ApplicationError):
    status_code = 422
    default_code = "not_eligible"


class RateLimited(ApplicationError):
    """Too many attempts in a window, or a budget spent: try again after `retry_after_s` seconds.

    The API answers 429 with a `Retry-After` header (voiceclone.api); pages show the message.
    """

    status_code = 429
    default_code = "throttled"

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None, extra: dict | None = None):
        super().__init__(message, code=code, extra=extra)
        self.retry_after_s = retry_after_s


def wait_phrase(seconds: int) -> str:
    """“in 40 seconds”, “in 3 minutes”, “in 2 hours”: when a limited action is possible again."""
    if seconds < 90:
        return f"in {seconds} second{'s' if seconds != 1 else ''}"
    if seconds < 90 * 60:
        return f"in {round(seconds / 60)} minutes"
    return f"in {round(seconds / 3600)} hours"
