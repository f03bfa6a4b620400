"""Enqueueing background work, the one way services do it; and the stuck-work sweep."""

import logging

from django.db import transaction
from django_q.tasks import async_task

logger = logging.getLogger(__name__)


def enqueue_on_commit(task: str, *args) -> None:
    """Enqueue the django-q2 task `task` (a dotted path) once the current transaction commits.

    Pass primary keys, never rows: django-q2 pickles arguments, so an instance would arrive stale.
    A dotted path also keeps services from importing tasks modules.
    """
    transaction.on_commit(lambda: async_task(task, *args))


def stuck_work_sweep() -> dict:
    """Hand work whose worker stopped (heartbeat older than WORK_LEASE_S, voiceclone.leases) or whose
    task was lost to a new attempt: pending replies, `creating` voices, pending consent checks (a voice's clone
    waits for its check), `running` retrain runs; and provider-voice deletions whose retry (after a failed
    attempt, with backoff) is due.

    Run every STUCK_WORK_SWEEP_S by the cluster's main process (`manage.py qcluster`) and every minute by
    the schedules. Cheap (four indexed queries when nothing is stuck) and safe alongside live workers,
    which claim their rows. Returns the counts re-enqueued.
    """
    from clones.services import voices_creating_sweep
    from clones.services.consent import consent_checks_sweep
    from conversations.services import messages_pending_sweep
    from retraining.services import provider_deletions_due_sweep, retrain_runs_stale_requeue

    return {
        "replies": messages_pending_sweep(),
        "voices": voices_creating_sweep(),
        "consent_checks": consent_checks_sweep(),
        "retrain_runs": len(retrain_runs_stale_requeue()),
        "provider_deletions": provider_deletions_due_sweep(),
    }
