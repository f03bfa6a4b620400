"""`manage.py qcluster`: django-q2's own command, whose process exits promptly once the cluster stopped.

On SIGTERM or Ctrl-C the cluster stops its pusher, workers and monitor within half a second or so, but
the main process then used to spend another 0.5–1.5 s (on a loaded two-core machine) in the
interpreter's final garbage collection over every object Django and the app had imported, which made
bin/run's Ctrl-C slow. Nothing is left to collect at that point: `gc.freeze()` at exit moves those
objects to the permanent generation, which the final collection skips (measured: 1.4–2.2 s → 0.7–0.8 s
from SIGTERM to exit). Behaviour is otherwise exactly django-q2's.

While the cluster runs, its main process (otherwise idle, waiting for the sentinel) runs the stuck-work
sweep every STUCK_WORK_SWEEP_S (voiceclone.background.stuck_work_sweep): work whose worker was killed is
handed to a new worker within WORK_LEASE_S + STUCK_WORK_SWEEP_S, without waiting for django-q2's
scheduler, which looks at schedules only every 30 s and runs them at most once a minute
(docs/reliability.md). Set STUCK_WORK_SWEEP_S=0 to leave it to the minute schedules.

Its sentinel is voiceclone.sentinel.Sentinel: when a process dies where it may hold a queue's lock (an idle
worker, the pusher, the monitor), it renews the queues and processes instead of leaving every worker waiting
for that lock.

This command wins over django-q2's because the `voiceclone` app is listed before `django_q` in
INSTALLED_APPS (Django gives the earlier app's command precedence).
"""

import atexit
import gc
import logging
import os

from django.conf import settings
from django.db import close_old_connections
from django_q.cluster import Cluster
from django_q.management.commands.qcluster import Command as DjangoQClusterCommand

from voiceclone import sentinel

logger = logging.getLogger(__name__)


class Command(DjangoQClusterCommand):
    def handle(self, *args, **options):
        # Runs first among the exit handlers (they run last-registered first), before multiprocessing's
        # own, which waits for the cluster's sentinel process to finish.
        atexit.register(gc.freeze)
        # django-q2's own handle(), then the sweep loop.
        settings.SECRET_KEY  # noqa: B018 - signing needs it: fail before starting anything
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        sentinel.install()  # survives the death of any cluster process (voiceclone/sentinel.py)
        cluster = Cluster()
        cluster.start()
        if options.get("run_once", False):
            cluster.stop()
            return
        self.sweep_while_running(cluster)
        cluster.sentinel.join()
        if cluster.sentinel.exitcode != 0:
            # The sentinel was killed (SIGKILL, the out-of-memory killer): nothing guards the workers any
            # more. Exit non-zero so the supervisor (bin/run, bin/serve, a process manager) sees a failure
            # and stops this process group, orphaned workers included, rather than a clean stop.
            logger.critical("the cluster's sentinel died (exit code %s): the cluster is not running; exiting",
                            cluster.sentinel.exitcode)
            raise SystemExit(1)

    def sweep_while_running(self, cluster: Cluster) -> None:
        from voiceclone.background import stuck_work_sweep

        interval = settings.STUCK_WORK_SWEEP_S
        if not interval or cluster.sentinel is None:
            return
        # join() returns as soon as the sentinel ends (SIGTERM: the cluster's handler stops it), so
        # stopping is as prompt as before; otherwise it is the sleep between sweeps.
        while cluster.sentinel.join(timeout=interval) is None and cluster.sentinel.is_alive():
            if cluster.stop_event is None or cluster.stop_event.is_set():
                break
            try:
                swept = stuck_work_sweep()
                if any(swept.values()):
                    logger.warning("stuck-work sweep re-enqueued %s", swept)
            except Exception:  # noqa: BLE001 - a busy database must not end the cluster: next round
                logger.exception("stuck-work sweep failed")
            finally:
                close_old_connections()
