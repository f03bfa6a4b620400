"""Log records carry the id of the request or task they were written in (LOG_FORMAT=json prints them).

The id is the audit correlation id (audit.context): a request's `X-Request-ID` (the client's, when it
sends a short printable one, else a fresh uuid, and sent back on the answer by
`metrics.RequestMetricsMiddleware`), or `task:<django-q2 task id>` inside a task. Audit entries carry
the same id, so a log line leads to the audit entries of the same request.
"""

from __future__ import annotations

import logging

from django.apps import apps
from pythonjsonlogger.core import RESERVED_ATTRS


class ContextFilter(logging.Filter):
    """Adds `request_id` or `task_id` (and `task`) to each record written inside a request or a task."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not apps.ready:  # a record written while Django starts: no request or task yet
            return True
        from audit import context  # not at import: settings import this module before Django is set up

        current = context.current()
        cid = current.correlation_id
        if cid:
            if current.task:
                record.task_id = cid.removeprefix("task:")
                record.task = current.task
            else:
                record.request_id = cid
        elif (request := getattr(record, "request", None)) is not None:
            # django.request's records about an answer (404, 500, ...) are written once the middleware
            # (and so the audit context) is done; they name the request, which carries its id.
            request_id = getattr(request, "META", {}).get("HTTP_X_REQUEST_ID")
            if request_id:
                record.request_id = request_id
        return True


def logging_config(*, log_format: str, level: str) -> dict:
    """settings.LOGGING for `text` (one plain line) or `json` (one JSON object a line)."""
    formatters = {
        "text": {"format": "%(message)s"},  # as before LOG_FORMAT existed
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": ["asctime", "levelname", "name", "message"],
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            # django.request's records carry the request object itself: its id is enough.
            "reserved_attrs": [*RESERVED_ATTRS, "request"],
            # Extra attributes (request_id, task_id, task, provider_operation, ...) follow the fixed fields.
        },
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "voiceclone.observability.logs.ContextFilter"}},
        "formatters": {log_format: formatters[log_format]},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["context"]}},
        "root": {"handlers": ["console"], "level": level},
    }
