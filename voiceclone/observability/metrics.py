"""Prometheus metrics: requests, background tasks, the queue, provider errors and the provider's quota.

Counted where they happen (prometheus-client):
- `voiceclone_http_request_duration_seconds{method,view,status}`: every request, by URL name (never the
  raw path: ids would make a series per object), in `RequestMetricsMiddleware`.
- `voiceclone_task_duration_seconds{func,result}` and `voiceclone_task_wait_seconds{func}`: every
  django-q2 task, from django-q2's `pre_execute` / `post_execute_in_worker` signals in the worker;
  the wait is from enqueueing to the start.
- `voiceclone_provider_errors_total{operation,error}`: every failed ElevenLabs attempt, retried or not
  (voiceclone.provider.retry).

Read at each scrape (`ScrapeTimeCollector`): the broker's queue depth and the provider quota (voice
slots and characters; asked of the provider at most once a minute, from the shared cache).

Several processes on a host (uvicorn workers, django-q2 workers) share their counts through
prometheus-client's multiprocess mode: `bin/serve` sets PROMETHEUS_MULTIPROC_DIR to an emptied
directory under VAR_DIR, and the /metrics view of any web process of the host then adds up every
process's files. Without it (bin/run, tests) each process reports its own counts.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# Request latencies: most answers are a few ms; uploads, exports and audio run longer.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

REQUEST_DURATION = Histogram(
    "voiceclone_http_request_duration_seconds", "Time to answer an HTTP request, by URL name and status.",
    ["method", "view", "status"], buckets=REQUEST_BUCKETS,
)
TASK_DURATION = Histogram(
    "voiceclone_task_duration_seconds", "Time a django-q2 task ran, by function and result.",
    ["func", "result"], buckets=TASK_BUCKETS,
)
TASK_WAIT = Histogram(
    "voiceclone_task_wait_seconds", "Time a django-q2 task waited between enqueueing and its start.",
    ["func"], buckets=TASK_BUCKETS,
)
PROVIDER_ERRORS = Counter(
    "voiceclone_provider_errors", "Failed ElevenLabs attempts (each retry counts), by operation and error type.",
    ["operation", "error"],
)
