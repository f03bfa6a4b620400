"""Small helpers shared by the retraining services."""

from django.db import transaction
from django_q.tasks import async_task


def enqueue_on_commit(task: str, *args) -> None:
    """Enqueue a django-q2 task once the current transaction commits (primary keys only, never rows)."""
    transaction.on_commit(lambda: async_task(task, *args))
