"""The ORM broker is woken by whoever enqueues (voiceclone/broker.py, issue 11 item 6): a pusher waiting
for its next poll starts a new task at once instead of after the poll. No timings are asserted: the poll
is set to minutes, and the test only needs the task to arrive long before that."""

import socket
import threading
import time
import uuid

import pytest
from django.db import connection
from django_q.brokers import get_broker
from django_q.conf import Conf

from voiceclone.broker import WakeableORM, pushers_wake, wake_dir


@pytest.mark.django_db
def test_the_orm_broker_of_the_settings_is_the_wakeable_one(settings):
    if settings.REDIS_URL:
        pytest.skip("the Redis broker's read blocks: no wake-up needed")
    assert isinstance(get_broker(), WakeableORM)


@pytest.mark.django_db(transaction=True)
def test_an_enqueued_task_wakes_a_pusher_waiting_for_its_poll(monkeypatch):
    key = f"wake-{uuid.uuid4().hex[:8]}"
    pusher, web = WakeableORM(list_key=key), WakeableORM(list_key=key)
    monkeypatch.setattr(Conf, "POLL", 0.05)
    assert pusher.dequeue() is None  # nothing queued: it listens for wake-ups from now on
    monkeypatch.setattr(Conf, "POLL", 600.0)  # without a wake-up the next look would be ten minutes away
    got = []

    def pusher_loop():  # as django-q2's pusher: look again at once after a look that found nothing
        try:
            while not (found := pusher.dequeue()):
                pass
            got.append(found)
        finally:
            connection.close()

    thread = threading.Thread(target=pusher_loop, daemon=True)
    thread.start()
    time.sleep(0.5)  # let it wait on its socket (had it not yet, its look finds the row: the same outcome)
    web.enqueue("the task")
    thread.join(timeout=120)
    try:
        assert not thread.is_alive(), "the pusher slept through the enqueue"
        assert [payload for _, payload in got[0]] == ["the task"]  # found by a look the wake-up started
    finally:
        pusher.wakeups_close()


def test_a_socket_left_by_a_stopped_pusher_is_removed_and_wakes_nobody(tmp_path):
    key = f"wake-{uuid.uuid4().hex[:8]}"
    directory = wake_dir(key)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    gone = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    gone.bind(str(directory / "999999999.sock"))
    gone.close()  # bound, then its process ended: the file stays, nobody reads it

    assert pushers_wake(key) == 0
    assert list(directory.iterdir()) == []
    directory.rmdir()
