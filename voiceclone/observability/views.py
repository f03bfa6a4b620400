"""GET /metrics: the Prometheus text format, with the values read at scrape time (queue depth, quota)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

QUOTA_CACHE_KEY = "observability:provider-quota"
QUOTA_CACHE_S = 60

def provider_quota(*, refresh: bool = False):
    """The provider's quota, asked at most once a minute across processes (shared cache); None when
    the provider does not answer."""
    from voiceclone.provider import gateway
    from voiceclone.provider.errors import ProviderError

    if not refresh:
        cached = cache.get(QUOTA_CACHE_KEY)
        if cached is not None:
            return cached
    try:
        quota = gateway.quota(retries=False)
    except ProviderError as exc:
        logger.warning("Provider quota unavailable for metrics: %s", exc)
        return None
    cache.set(QUOTA_CACHE_KEY, quota, QUOTA_CACHE_S)
    return quota


class ScrapeTimeCollector(Collector):
    """Values that belong to the installation rather than to one process: asked at each scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django_q.brokers import get_broker
        from redis.exceptions import RedisError

        depth = GaugeMetricFamily("voiceclone_queue_depth", "Tasks waiting in the django-q2 broker.")
        try:
            depth.add_metric([], get_broker().queue_size())
        except (RedisError, DatabaseError, OSError) as exc:  # an outage must not break the scrape: series left out
            logger.warning("Queue depth unavailable for metrics: %s", exc)
        else:
            yield depth
        quota = provider_quota()
        if quota is None:
            return
        for name, help_text, value in (
            ("voiceclone_provider_voice_slots_used", "Custom voices on the provider account.", quota.voice_slots_used),
            ("voiceclone_provider_voice_slots_limit", "Custom voices the provider account allows.", quota.voice_limit),
            ("voiceclone_provider_characters_used", "Characters used in the billing period.", quota.character_count),
            ("voiceclone_provider_characters_limit", "Characters allowed in the billing period.", quota.character_limit),
        ):
            yield GaugeMetricFamily(name, help_text, value=value)


_SCRAPE_TIME = ScrapeTimeCollector()


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_DefaultRegistryCollector())
    registry.register(_SCRAPE_TIME)
    return registry


class _DefaultRegistryCollector(Collector):
    """This process's own metrics (single-process mode)."""

    def collect(self):
        yield from REGISTRY.collect()


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: Prometheus text format. With METRICS_TOKEN set, only `Authorization: Bearer <token>`."""
    token = settings.METRICS_TOKEN
    if token and request.headers.get("Authorization", "") != f"Bearer {token}":
        return HttpResponse("metrics need the bearer token (METRICS_TOKEN)\n", status=401,
                            content_type="text/plain; charset=utf-8")
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
