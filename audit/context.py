"""Who is acting right now: the request's user, or the system (a django-q2 task, a command).

The middleware keeps the current request in a context variable; the user is read from it only
when an audit entry is written, because DRF authenticates tokens inside the view, after every
middleware has run (DRF's `Request.user` setter also sets it on the Django request). django-q2's
`pre_execute` / `post_execute_in_worker` signals mark a task: entries written inside it are the
system's, even when the task runs inline (sync mode) during a request.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass

from django.dispatch import receiver
from django_q.signals import post_execute_in_worker, pre_execute


@dataclass(frozen=True)
class AuditContext:
    request: object | None = None
    task: str | None = None
    correlation_id: str | None = None

    @property
    def via(self) -> str:
        if self.task:
            return "task"
        if self.request is None:
            return "system"
        path = getattr(self.request, "path", "") or ""
        if path.startswith("/admin/"):
            return "admin"
        if path.startswith("/api/"):
            return "api"
        return "page"


_context: ContextVar[AuditContext] = ContextVar("audit_context", default=AuditContext())
# Tasks can nest (a sync-mode task enqueues another); each pops what it pushed.
_task_stack: ContextVar[tuple[AuditContext, ...]] = ContextVar("audit_task_stack", default=())


def current() -> AuditContext:
    return _context.get()


def correlation_id() -> str | None:
    """AUDITLOG_CID_GETTER: entries written by one request or one task share an id."""
    return _context.get().correlation_id


class AuditContextMiddleware:
    """Make the request available to audit entries written while it is handled.

    Correlation id: the client's `X-Request-ID` when it sends a short one, else a fresh uuid.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = (request.headers.get("X-Request-ID") or "").strip()
        cid = given[:64] if given and given.isprintable() else uuid.uuid4().hex
        token = _context.set(AuditContext(request=request, correlation_id=cid))
        try:
            return self.get_response(request)
        finally:
            _context.reset(token)


@receiver(pre_execute, dispatch_uid="audit_task_start")
def _task_started(sender, func, task, **kwargs):
    name = task.get("func") if isinstance(task.get("func"), str) else getattr(func, "__qualname__", str(func))
    _task_stack.set(_task_stack.get() + (_context.get(),))
    _context.set(AuditContext(task=str(name)[:200], correlation_id=f"task:{task.get('id', '')}"[:64]))


@receiver(post_execute_in_worker, dispatch_uid="audit_task_end")
def _task_finished(sender, func, task, **kwargs):
    stack = _task_stack.get()
    if stack:
        _task_stack.set(stack[:-1])
        _context.set(stack[-1])
    else:
        _context.set(AuditContext())
