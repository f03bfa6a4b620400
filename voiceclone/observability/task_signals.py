"""Task metrics from django-q2's signals, in the process that runs the task (a worker, or the caller
in sync mode). Connected when this module is imported (voiceclone.apps)."""

from __future__ import annotations

import time

from django.dispatch import receiver
from django.utils import timezone
from django_q.signals import post_execute_in_worker, pre_execute

from .metrics import TASK_DURATION, TASK_WAIT

def _func_name(task: dict) -> str:
    func = task.get("func")
    if isinstance(func, str):
        return func
    module, name = getattr(func, "__module__", ""), getattr(func, "__qualname__", "")
    return f"{module}.{name}" if module and name else str(func)[:100]


@receiver(pre_execute, dispatch_uid="metrics_task_start")
def _task_started(sender, func, task, **kwargs):
    task["_metrics_started"] = time.perf_counter()
    enqueued = task.get("started")  # django-q2 stamps the enqueue time as "started"
    if enqueued is not None:
        TASK_WAIT.labels(_func_name(task)).observe(max(0.0, (timezone.now() - enqueued).total_seconds()))


@receiver(post_execute_in_worker, dispatch_uid="metrics_task_end")
def _task_finished(sender, func, task, **kwargs):
    started = task.pop("_metrics_started", None)
    if started is None:
        return
    # In a worker, "success" is set before this signal; in sync mode a failure raises before it is set.
    result = "success" if task.get("success", False) else "failure"
    TASK_DURATION.labels(_func_name(task), result).observe(time.perf_counter() - started)


