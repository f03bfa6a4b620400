"""django-q2 entry points for retraining: load by id, call one service."""

import logging

from . import services

logger = logging.getLogger(__name__)


def retrain_scan() -> dict:
    return services.retrain_scan().as_dict()


def retrain_run_execute(run_id: int) -> None:
    services.retrain_run_execute(run_id=run_id)


def retrain_runs_resume() -> list[int]:
    return services.retrain_runs_resume()


def retrain_runs_sweep() -> dict:
    return services.retrain_runs_sweep()


def version_provider_delete(deletion_id: int) -> None:
    services.version_provider_delete(deletion_id=deletion_id)


def archived_voices_cleanup() -> dict:
    return services.archived_voices_cleanup().as_dict()


def provider_reconcile() -> dict:
    """Scheduled: report only (fixes are a staff decision: `manage.py reconcile_provider --fix`)."""
    report = services.provider_reconcile(fix=False)
    if not report.is_clean:
        logger.warning("provider reconciliation found differences: %s", report.as_dict())
    return report.as_dict()
