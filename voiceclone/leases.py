"""Leases on background work, kept alive by a heartbeat (docs/reliability.md).

A task claims its row with a conditional update that sets `claimed_at` (and bumps `attempt_count`);
while it works, `lease_heartbeat` refreshes `claimed_at` every WORK_HEARTBEAT_S from a thread of the
same process. A killed worker stops beating, so its claim is older than WORK_LEASE_S within about half
a minute and the stuck-work sweep (and any retried task) may take the row over. The lease is
independent of Q_TIMEOUT_S: a long provider call keeps its lease for as long as the worker lives.

The heartbeat writes only while the row is still this attempt's (`attempt_count` unchanged), so a
worker that lost its lease never takes it back.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, OperationalError, close_old_connections, connections
from django.utils import timezone

logger = logging.getLogger(__name__)


def lease_cutoff(now=None):
    """Claims older than this belong to a worker that stopped beating."""
    return (now or timezone.now()) - timedelta(seconds=settings.WORK_LEASE_S)


def is_transient_db_error(exc: BaseException) -> bool:
    """A database error a later attempt can get past (SQLite busy/locked, a dropped connection)."""
    return isinstance(exc, OperationalError)


@contextmanager
def lease_heartbeat(queryset, *, field: str = "claimed_at"):
    """Refresh `field` to now on the rows of `queryset` every WORK_HEARTBEAT_S until the block ends.

    `queryset` must select only rows this attempt still owns (e.g. filter on its attempt_count), so a
    row another worker took over is never touched. In django-q2's sync mode (the test suite, Q_SYNC)
    the work runs inside the request and no worker can die on its own: no thread is started.
    """
    if settings.Q_CLUSTER.get("sync"):
        yield
        return
    stop = threading.Event()

    def beat():
        try:
            while not stop.wait(settings.WORK_HEARTBEAT_S):
                try:
                    queryset.update(**{field: timezone.now()})
                except DatabaseError as exc:  # a busy database: the next beat tries again
                    logger.warning("lease heartbeat failed: %s", exc)
                    close_old_connections()
        finally:
            connections.close_all()  # this thread's own connections

    thread = threading.Thread(target=beat, name="lease-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=settings.SQLITE_BUSY_TIMEOUT_S + 5)
