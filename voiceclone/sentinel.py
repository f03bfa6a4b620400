"""django-q2's sentinel, made to survive the death of any of its processes (docs/reliability.md).

django-q2 hands tasks from its pusher to its workers through one `multiprocessing.Queue`, and results from
the workers to its monitor through another. A process that reads such a queue holds the queue's read lock
while it waits for the next item; a process that writes holds its write lock while it sends. When such a
process is killed (SIGKILL, the out-of-memory killer) the lock is never released, and every process that
uses the queue afterwards waits for it forever (django-q2 issue #23). Seen from outside: a killed *idle*
worker (waiting for a task) left 57 tasks queued and none run for 4 minutes, until the cluster was restarted;
a killed monitor (always waiting for a result) leaves results unsaved, so the ORM broker hands every task out
again after `Q_CLUSTER["retry"]` and runs it twice.

Only a worker killed while it runs a task holds no queue lock (its timer above 0: django-q2's "busy"); so do a
worker that was recycled (timer -2) and one stopped for a timeout (timer 0). django-q2's own reincarnation is
right for those. Every other death — a worker waiting for a task (timer -1) or handing in its result (it dies
holding its timer's lock), the pusher, the monitor — makes this sentinel *renew* the cluster: stop the
pusher, the workers and the monitor, make new task and result queues, move what the old queues still held into
the new ones, and spawn every process again. The death is handled before any process is started on the old
queues: django-q2 would first reincarnate a dead pusher on the old task queue, which could take a task from
the broker and hand it to a queue nobody reads any more (lost until the stuck-work sweep found it, minutes
later).

Tasks are not lost: what sat in the old queues is moved; a task a stopped worker was running is handed out
again by the ORM broker after `Q_CLUSTER["retry"]`, and the stuck-work sweep (voiceclone.background)
re-enqueues replies, creations and runs whose worker is gone; every task is idempotent (docs/reliability.md).

The guard loop is django-q2's (2 cycles a second, the scheduler every 30 s, `Stat` saved every cycle) with
one change: a worker's timer lock is taken with a timeout, since a worker killed while it held that lock
would otherwise stop the guard itself.

`manage.py qcluster` (voiceclone/management/commands/qcluster.py) installs this class in place of
django-q2's before it starts the cluster.
"""

from __future__ import annotations

import logging
import os
from multiprocessing.reduction import ForkingPickler

from django import db
from django_q import cluster as q_cluster
from django_q.conf import Conf
from django_q.queues import Queue
from django_q.scheduler import scheduler
from django_q.status import Stat

logger = logging.getLogger(__name__)

IDLE = -1  # django_q.worker: the timer of a worker waiting for a task
STOP_WAIT_S = 5.0
TIMER_LOCK_WAIT_S = 1.0


class Sentinel(q_cluster.Sentinel):
    def guard(self):
        logger.info("%s guarding cluster %s [%s]", self.name, q_cluster.humanize(self.cluster_id.hex),
                    self.queue_name())
        self.start_event.set()
        Stat(self).save()
        logger.info("Q Cluster %s [%s] running.", q_cluster.humanize(self.cluster_id.hex), self.queue_name())
        counter = 0
        cycle = Conf.GUARD_CYCLE
        while True:
            self.check_processes(cycle)
            counter += cycle
            if counter >= 30 and Conf.SCHEDULER:
                counter = 0
                scheduler(broker=self.broker)
            Stat(self).save()
            if self.stop_event.wait(cycle):
                break
        self.stop()

    def check_processes(self, cycle: float) -> None:
        """One look at every process of the cluster: renew on a death that may leave a queue locked,
        reincarnate a busy, timed-out or recycled worker as django-q2 does, count busy workers' time down."""
        broken = self.broken_by()
        if broken is not None:
            self.renew(broken)
            return
        for process in list(self.pool):
            lock = process.timer.get_lock()
            if not lock.acquire(timeout=TIMER_LOCK_WAIT_S):
                continue  # handing in its result; a death while doing so is broken_by()'s
            try:
                if not process.is_alive() or process.timer.value == 0:
                    self.reincarnate(process)
                elif process.timer.value > 0:
                    process.timer.value -= cycle
            finally:
                lock.release()

    def broken_by(self):
        """A dead process whose death may have left a queue's lock held, or None."""
        for process in (self.pusher, self.monitor):
            if process is not None and not process.is_alive():
                return process
        for process in self.pool:
            if process.is_alive():
                continue
            timer = process.timer.get_obj().value  # unlocked read: a dead worker may hold the lock
            holds_timer_lock = not process.timer.get_lock().acquire(timeout=0)
            if not holds_timer_lock:
                process.timer.get_lock().release()
            if timer == IDLE or holds_timer_lock:
                return process
        return None

    def renew(self, dead) -> None:
        """New queues and processes after `dead` died where it may have held a queue's lock."""
        role = "pusher" if dead is self.pusher else "monitor" if dead is self.monitor else "worker"
        logger.critical(
            "%s %s died (exit code %s) where it may hold a queue's lock; renewing the queues, the pusher, "
            "the workers and the monitor", role, dead.name, dead.exitcode,
        )
        processes = [p for p in [*self.pool, self.pusher, self.monitor] if p is not None]
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=STOP_WAIT_S)
            if process.is_alive():
                process.kill()
                process.join(timeout=STOP_WAIT_S)
        old_tasks, old_results = self.task_queue, self.result_queue
        self.task_queue = Queue(maxsize=Conf.QUEUE_LIMIT) if Conf.QUEUE_LIMIT else Queue()
        self.result_queue = Queue()
        tasks = salvage(old_tasks)
        results = salvage(old_results)
        for item in tasks:
            self.task_queue.put(item)
        for item in results:
            self.result_queue.put(item)
        if not Conf.SYNC:
            db.connections.close_all()
        self.pool.clear()
        for _ in range(self.pool_size):
            self.spawn_worker()
        self.monitor = self.spawn_monitor()
        self.pusher = self.spawn_pusher()
        self.reincarnations += 1
        logger.warning("task queue renewed: %d worker(s), a new pusher and monitor; %d task(s) and %d result(s) "
                       "moved from the old queues", len(self.pool), len(tasks), len(results))


def salvage(queue: Queue) -> list:
    """What `queue` still holds, read straight from its pipe (its read lock may belong to a dead process;
    every process that used it is stopped, so nothing else reads). A message left half-written by a killed
    writer ends the salvage: the rest of the pipe cannot be framed. The queue is closed."""
    items = []
    reader = queue._reader  # noqa: SLF001 - the lock-free read is the point
    try:
        os.set_blocking(reader.fileno(), False)
        while reader.poll(0):
            items.append(ForkingPickler.loads(reader.recv_bytes()))
    except Exception as error:  # noqa: BLE001 - a torn message or a closed pipe: keep what was read
        logger.warning("stopped reading an old queue after %d item(s): %r", len(items), error)
    queue.cancel_join_thread()
    queue.close()
    return items


def install() -> None:
    """Make `django_q.cluster.Cluster.start` spawn this sentinel (it looks the class up in its module)."""
    q_cluster.Sentinel = Sentinel
