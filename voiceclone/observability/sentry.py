"""Error reporting to Sentry (sentry-sdk), switched on by SENTRY_DSN alone (settings call `init`).

The Django integration reports unhandled errors of requests; the logging integration reports every
record at ERROR or above (a task that fails, a provider error given up on), with the request or task id
as a tag. No personal data is sent (`send_default_pii=False`); traces only with a sample rate above 0.
"""

from __future__ import annotations


def init(*, dsn: str, environment: str, traces_sample_rate: float) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,
        integrations=[DjangoIntegration(), LoggingIntegration(event_level="ERROR")],
        before_send=_tag_ids,
    )


def _tag_ids(event, hint):
    from audit import context

    current = context.current()
    if current.correlation_id:
        key = "task_id" if current.task else "request_id"
        event.setdefault("tags", {})[key] = current.correlation_id.removeprefix("task:")
    return event
