"""Operations: health and readiness checks, Prometheus metrics, structured logs and error reporting.

- `health`: the checks behind /health/, /health/ready/ and /health/live/ (django-health-check).
- `metrics`: request, task, queue, provider-error and quota metrics, and the /metrics view (prometheus-client).
- `logs`: the request or task id on every log record, and the JSON log format (LOG_FORMAT=json).
- `sentry`: error reporting, on only when SENTRY_DSN is set.

docs/operations.md describes what each endpoint answers and how to scrape several processes.
"""
