"""django-q2's sentinel, made to survive the death of an idle worker (docs/reliability.md).

django-q2 hands tasks from its pusher to its workers through one `multiprocessing.Queue`. An idle worker
waits in `task_queue.get()`, which holds the queue's read lock while it blocks on the pipe; the other idle
workers wait for that lock. When the waiting worker is killed (SIGKILL, the out-of-memory killer), the lock
is never released: the sentinel starts a new worker, but it and every other worker wait for the lock
forever, and the cluster runs no task again until it is restarted (django-q2 issue #23; seen from outside:
0 tasks in 4 minutes with 57 queued). A worker that dies while *busy* holds no lock, and django-q2's own
reincarnation is enough.

`Sentinel.reincarnate` therefore treats a worker that died idle (its timer at -1, django-q2's "idle") as
a broken hand-off: it stops the pusher, the other workers and the monitor, makes new task and result
queues, and spawns the cluster's processes again. Tasks a stopped process held are not lost: the ORM
broker hands an unacknowledged task out again after `Q_CLUSTER["retry"]`, and the stuck-work sweep
(voiceclone.background) re-enqueues replies, creations and runs whose worker is gone; every task is
idempotent (docs/reliability.md). A worker that finished its last task and was recycled (timer -2), or was
killed by django-q2 on timeout (timer 0), is reincarnated as before.

`manage.py qcluster` (voiceclone/management/commands/qcluster.py) installs this class in place of
django-q2's before it starts the cluster.
"""

from __future__ import annotations

import logging

from django import db
from django_q import cluster as q_cluster
from django_q.conf import Conf
from django_q.queues import Queue

logger = logging.getLogger(__name__)

IDLE = -1  # django_q.worker sets the timer to -1 while a worker waits for a task
STOP_WAIT_S = 5.0


class Sentinel(q_cluster.Sentinel):
    renewals = 0

    def reincarnate(self, process):
        if process in self.pool and not process.is_alive() and int(process.timer.value) == IDLE:
            self.renew(process)
            return
        super().reincarnate(process)

    def renew(self, dead) -> None:
        """New queues and processes after `dead` died while it waited for a task (and maybe held the lock)."""
        logger.critical(
            "worker %s died while waiting for a task (exit code %s): it may hold the task queue's lock; "
            "renewing the queues, the pusher, the workers and the monitor", dead.name, dead.exitcode,
        )
        others = [p for p in [*self.pool, self.pusher, self.monitor] if p is not None and p is not dead]
        for process in others:
            if process.is_alive():
                process.terminate()
        for process in others:
            process.join(timeout=STOP_WAIT_S)
            if process.is_alive():
                process.kill()
                process.join(timeout=STOP_WAIT_S)
        for old in (self.task_queue, self.result_queue):
            old.cancel_join_thread()  # its lock may be held by a dead process: never wait on it
            old.close()
        self.task_queue = Queue(maxsize=Conf.QUEUE_LIMIT) if Conf.QUEUE_LIMIT else Queue()
        self.result_queue = Queue()
        if not Conf.SYNC:
            db.connections.close_all()
        # Emptied in place: the guard loop that called us is iterating over this very list, and goes on
        # over the new workers (alive, idle) rather than over the stopped ones.
        self.pool.clear()
        for _ in range(self.pool_size):
            self.spawn_worker()
        self.monitor = self.spawn_monitor()
        self.pusher = self.spawn_pusher()
        self.reincarnations += 1
        self.renewals += 1
        logger.warning("task queue renewed: %d worker(s), a new pusher and monitor", len(self.pool))


def install() -> None:
    """Make `django_q.cluster.Cluster.start` spawn this sentinel (it looks the class up in its module)."""
    q_cluster.Sentinel = Sentinel
