"""Enqueueing background work, the one way services do it."""

from django.db import transaction
from django_q.tasks import async_task


def enqueue_on_commit(task: str, *args) -> None:
    """Enqueue the django-q2 task `task` (a dotted path) once the current transaction commits.

    Pass primary keys, never rows: django-q2 pickles arguments, so an instance would arrive stale.
    A dotted path also keeps services from importing tasks modules.
    """
    transaction.on_commit(lambda: async_task(task, *args))
