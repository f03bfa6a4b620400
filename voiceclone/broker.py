"""django-q2's ORM broker, woken by whoever enqueues instead of only by its poll (docs/realtime.md).

django-q2's ORM broker has no blocking read: its pusher looks at the queue table and, when it is empty,
sleeps `Q_CLUSTER["poll"]` seconds (`Q_POLL_S`) before it looks again, so a task waits on average half
that interval, at worst all of it, before a worker starts it (the chat turn's largest delay, issue 11).

`WakeableORM` keeps the table as the queue and the poll as the fallback, and adds a wake-up: each pusher
binds a Unix datagram socket in a directory of this installation's own (one per database and queue
name, under the system's temporary directory); `enqueue` inserts the row as before and then sends one
byte to every socket there. A pusher waits on its socket for up to `poll` instead of sleeping, so a task
is picked up as soon as its row exists. A wake-up carries nothing: the row is the task, a lost wake-up
costs at most one poll interval, and a task enqueued inside a transaction that has not committed yet is
found by the next look. Sockets reach pushers on the same host only; installations that run web and
workers on different hosts use the Redis broker (`REDIS_URL`), whose read blocks.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf

_SUFFIX = ".sock"


def wake_dir(list_key: str) -> Path:
    """The directory of the wake-up sockets of one queue of this installation (short: socket paths are
    limited to ~100 bytes)."""
    db = settings.DATABASES[Conf.ORM or "default"]
    identity = "|".join(str(db.get(k) or "") for k in ("ENGINE", "HOST", "PORT", "NAME")) + f"|{list_key}"
    return Path(tempfile.gettempdir()) / f"voiceclone-q-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"


_sender: tuple[int, socket.socket] | None = None


def _sender_socket() -> socket.socket:
    global _sender
    if _sender is None or _sender[0] != os.getpid():  # never a socket inherited across a fork
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        _sender = (os.getpid(), sock)
    return _sender[1]


def pushers_wake(list_key: str) -> int:
    """Tell every pusher of `list_key` on this host to look at the queue now; how many were told. Never
    raises: the poll is the fallback."""
    try:
        entries = list(os.scandir(wake_dir(list_key)))
    except OSError:
        return 0
    told = 0
    sock = _sender_socket()
    for entry in entries:
        if not entry.name.endswith(_SUFFIX):
            continue
        try:
            sock.sendto(b"!", entry.path)
            told += 1
        except BlockingIOError:
            told += 1  # its buffer already holds wake-ups: it will look
        except (ConnectionRefusedError, FileNotFoundError):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)  # its pusher is gone
        except OSError:
            pass
    return told


class WakeableORM(ORM):
    """The ORM broker whose pusher wakes up when a task is enqueued on this host (module docstring)."""

    _listener: tuple[int, socket.socket, str] | None = None

    def enqueue(self, task):
        pk = super().enqueue(task)
        pushers_wake(self.list_key)
        return pk

    def _listen(self) -> socket.socket | None:
        if self._listener is not None and self._listener[0] == os.getpid():
            return self._listener[1]
        directory = wake_dir(self.list_key)
        path = directory / f"{os.getpid()}{_SUFFIX}"
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(str(path))
        except OSError:
            return None  # no wake-ups here: the poll alone, as django-q2's own ORM broker
        self._listener = (os.getpid(), sock, str(path))
        return sock

    def wakeups_close(self) -> None:
        """Stop listening for wake-ups (a pusher that ends; tests)."""
        if self._listener is not None and self._listener[0] == os.getpid():
            self._listener[1].close()
            with contextlib.suppress(OSError):
                os.unlink(self._listener[2])
        self._listener = None

    def dequeue(self):
        sock = self._listen()
        if sock is not None:
            _drain(sock)  # wake-ups for rows this look will see anyway
        tasks = self.get_connection().filter(key=self.list_key, lock__lt=timezone.now())[0:Conf.BULK]
        if tasks:
            task_list = []
            for task in tasks:
                # Another cluster may have been faster on this task: only a task whose lock we moved is ours.
                if self.get_connection().filter(id=task.id, lock=task.lock).update(lock=self.timeout(task)):
                    task_list.append((task.pk, task.payload))
            return task_list
        if sock is None:
            time.sleep(Conf.POLL)
            return None
        sock.settimeout(Conf.POLL)
        with contextlib.suppress(TimeoutError, OSError):
            sock.recv(64)
        return None


def _drain(sock: socket.socket) -> None:
    sock.setblocking(False)
    try:
        while True:
            sock.recv(64)
    except OSError:
        pass
