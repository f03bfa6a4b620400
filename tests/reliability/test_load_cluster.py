"""The embedded default holds under concurrent use (issue 9 item 1): a real django-q2 cluster and a served
stack, several API clients chatting at once while another creates voices one after another. No 5xx, no
task lost to "database is locked", every turn ready by the end of the run.

Runs on the stack's own SQLite file by default and on its own PostgreSQL database when DATABASE_URL is set
(CI pass 2). Bounded for the suite; bench/load.py runs the issue's full load and prints the figures.
"""

import time

import pytest

from tests.live import LiveStack
from tests.reliability.loadgen import LOAD_ENV, chat_load, drain, served
from voiceclone.emulator import EmulatorServer

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize("clients, seconds", [(8, 15)])
def test_concurrent_clients_and_a_cluster_hold_on_the_default_stack(tmp_path, clients, seconds):
    emulator = EmulatorServer(host="127.0.0.1", port=0, voice_limit=10_000).start()
    stack = LiveStack(tmp_path, provider_url=emulator.url, env={**LOAD_ENV, "Q_WORKERS": "2"})
    try:
        with served(stack) as serving:
            talkers = stack.scenario("talkers", "load", str(clients))
            serving.start_cluster()
            started = time.monotonic()
            result = chat_load(stack, talkers, seconds=seconds, voice_creators=1)
            drain(stack, result, timeout_s=90, started=started)
            print(result.line(f"load on {stack.env['DATABASE_URL'].split(':')[0]}"))
    finally:
        emulator.stop()

    context = f"{result.line('load')}\nclient errors: {result.client_errors}\n" \
              f"task failures: {result.health.get('task_failure_samples')}\n{stack.log_tail(2000)}"
    assert result.turns >= clients - 1, context  # every chatting client got turns through
    assert result.voices >= 1, context
    assert result.five_xx == 0, context
    assert result.locked_errors == 0, context
    assert result.health["task_failures"] == 0, context
    assert result.stuck_turns == 0, context
    assert result.health["replies"] == {"ready": result.turns}, context
    assert result.health["voices"].get("creating", 0) == 0, context
