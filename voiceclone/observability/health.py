"""Health checks (django-health-check) for what voiceclone depends on, and the three endpoints.

- `/health/live/`: the process answers (no dependency is asked); for a process supervisor.
- `/health/ready/`: this host can serve: database, cache, broker and storage. For a load balancer: a
  provider outage does not take every web host out of rotation (replies wait and are retried).
- `/health/`: everything, the provider included; for monitoring. `manage.py health_check health
  --no-http` runs the same checks without a web server (worker hosts).

Each answers 200 when every check passes, else 500 (django-health-check's convention, which its
`health_check` command reads), as JSON with `Accept: application/json` or `?format=json`.
"""

from __future__ import annotations

import dataclasses
import datetime

from django.db import connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from health_check import checks
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView


class ClosesConnections:
    """A synchronous check runs in a thread of the executor; it closes that thread's database connections
    when it is done, or each probe thread would keep one open for good (and a test database could not
    be dropped)."""

    def run(self):
        try:
            return super().run()
        finally:
            connections.close_all()


@dataclasses.dataclass
class Database(ClosesConnections, checks.Database):
    pass


@dataclasses.dataclass
class Storage(ClosesConnections, checks.Storage):
    """A file written, read and deleted: six requests on S3, so more time than the library's 5 s."""

    timeout = datetime.timedelta(seconds=15)


@dataclasses.dataclass
class Broker(HealthCheck):
    """The django-q2 broker answers (Redis PING, or the ORM broker's database)."""

    timeout = datetime.timedelta(seconds=3)

    def run(self):
        from django_q.brokers import get_broker
        from redis.exceptions import RedisError

        try:
            broker = get_broker()
            if not broker.ping():
                raise ServiceUnavailable("The broker did not answer a ping")
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable(f"Broker unreachable: {type(exc).__name__}") from exc
        finally:
            connections.close_all()  # the ORM broker's, in this executor thread


@dataclasses.dataclass
class Provider(HealthCheck):
    """ElevenLabs (or the emulator) answers an authenticated request: the account's subscription, asked
    once (no retries). The answer also refreshes the quota metrics."""

    timeout = datetime.timedelta(seconds=10)

    def run(self):
        from voiceclone.observability.views import provider_quota

        if provider_quota(refresh=True) is None:
            raise ServiceUnavailable("The provider did not answer (see the log for the reason)")


READY_CHECKS = (
    "voiceclone.observability.health.Database",
    "health_check.checks.Cache",
    "voiceclone.observability.health.Broker",
    "voiceclone.observability.health.Storage",
)
ALL_CHECKS = READY_CHECKS + ("voiceclone.observability.health.Provider",)

health = HealthCheckView.as_view(checks=ALL_CHECKS)
ready = HealthCheckView.as_view(checks=READY_CHECKS)


@never_cache
def live(request):
    return JsonResponse({"status": "ok"})
