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
import os
import socket
import threading
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, OperationalError, close_old_connections, connections
from django.utils import timezone

logger = logging.getLogger(__name__)


def lease_cutoff(now=None):
    """Claims older than this belong to a worker that stopped beating."""
    return (now or timezone.now()) - timedelta(seconds=settings.WORK_LEASE_S)


def stopped_work_find(rows, *, limit: int, older_than_s: int | None = None, now=None) -> tuple[list, list]:
    """(lost, released): the pks of `rows` (claimable rows still waiting for their work: a pending reply, a
    `creating` voice) whose work stopped. `lost`: never claimed for `older_than_s` (default Q_TIMEOUT_S: the
    broker lost its task; a shorter wait would catch rows merely queued behind others in a burst).
    `released`: claims released here because their worker stopped — the heartbeat is older than WORK_LEASE_S,
    or (found sooner) the claim's worker process no longer runs on this host (`claimed_by`, worker_is_gone).
    Every release is conditional on the claim it saw, so a worker that claimed the row meanwhile keeps it.
    The caller enqueues the rows' task again. At most `limit` of each kind per look."""
    now = now or timezone.now()
    cutoff = lease_cutoff(now)
    unclaimed_for = older_than_s if older_than_s is not None else settings.Q_CLUSTER["timeout"]
    lost = list(rows.filter(claimed_at__isnull=True, created_at__lt=now - timedelta(seconds=unclaimed_for))
                .values_list("pk", flat=True)[:limit])
    released = [pk for pk in rows.filter(claimed_at__lt=cutoff).values_list("pk", flat=True)[:limit]
                if rows.filter(pk=pk, claimed_at__lt=cutoff).update(claimed_at=None)]
    # The sweep runs in the cluster's main process, on the workers' host: a killed worker's claim is handed on
    # at once rather than when its lease runs out. Claims of another host are left to the lease.
    live_claims = rows.filter(claimed_at__gte=cutoff).exclude(claimed_by="")
    for pk, holder, attempts in live_claims.values_list("pk", "claimed_by", "attempt_count")[:limit]:
        if worker_is_gone(holder) and rows.filter(
                pk=pk, claimed_by=holder, attempt_count=attempts, claimed_at__isnull=False).update(claimed_at=None):
            released.append(pk)
    return lost, released


def worker_identity() -> str:
    """This process as a claim holder: `host:pid:start`, where `start` is the process's start time (Linux
    /proc; empty elsewhere), so a pid the kernel handed to a new process never passes for the old one."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start(pid) or ''}"


def worker_is_gone(identity: str) -> bool:
    """True when `identity` (worker_identity) names a process of this host that no longer runs: killed,
    a zombie waiting to be reaped, or its pid reused by another process. False when it runs, when it is
    another host's (only a sweep on that host can tell) or when the identity is empty or malformed."""
    host, _, rest = identity.partition(":")
    pid_text, _, start = rest.partition(":")
    if not host or host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if Path("/proc/self/stat").exists():
        stat = _proc_stat(pid)
        if stat is None:
            return True
        state, started = stat
        return state in ("Z", "X") or bool(start) and started != start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of a process, None when it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    return fields[0], fields[19]


def _process_start(pid: int) -> str | None:
    stat = _proc_stat(pid)
    return stat[1] if stat else None


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
