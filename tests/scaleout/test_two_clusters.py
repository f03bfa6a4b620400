"""Two django-q2 clusters on one Redis broker, exactly once: a burst of 50 chat turns (over HTTP, to a
real web server) and 3 approved retrain runs, worked off by two `manage.py qcluster` processes that
compete for the same queue. Every turn gets one ready reply with its own stored clip, spoken by exactly
one provider call; every run executes once (one attempt, one provider voice); the emulator's voice list
has no duplicate.

Needs PostgreSQL and Redis (CI pass 2): the stack gets a fresh PostgreSQL database of its own and the
suite's Redis. Elsewhere it is skipped with the reason printed (pytest -rs); under SCALEOUT_PROFILE_REQUIRED
(pass 2) a missing part fails it instead. Not on SQLite: see the `redis_url` fixture.
The queue has a name of its own (Q_CLUSTER_NAME), so nothing else on that Redis database is touched.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.live import ROOT, LiveStack, request

pytestmark = pytest.mark.cluster

TURNS = 50
SCENARIO = "tests.scaleout.two_clusters_scenario"
TIMEOUT_S = 600  # 50 spoken replies, their clip analyses and 3 retrains on a loaded 2-core machine


@pytest.fixture
def redis_url(settings):
    """The suite's Redis, on PostgreSQL. On SQLite the burst is not sound: five writers (two clusters of
    two workers and the web server) outwait SQLite's lock timeout on a loaded machine, and a task that
    fails on "database is locked" leaves its row for the sweeps, so the counts below would be luck."""
    url = os.environ.get("REDIS_URL", "")
    on_postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    if not (url and on_postgres):
        reason = "needs PostgreSQL and Redis (DATABASE_URL=postgres://…, REDIS_URL; CI pass 2 sets both)"
        if os.environ.get("SCALEOUT_PROFILE_REQUIRED") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return url


def _status(stack: LiveStack) -> dict:
    return stack.scenario("status", module=SCENARIO)


def test_two_clusters_on_one_redis_broker_do_every_turn_and_run_exactly_once(
    redis_url, emulator, emulator_ctl, tmp_path
):
    queue = f"voiceclone-two-clusters-{uuid.uuid4().hex[:8]}"
    stack = LiveStack(tmp_path, provider_url=emulator.url, env={
        "REDIS_URL": redis_url, "Q_CLUSTER_NAME": queue, "Q_WORKERS": "2", "Q_TIMEOUT_S": "300",
        "API_THROTTLE_USER": "", "CHAT_TURN_RATE": "", "TTS_DAILY_CHARS_PER_USER": "0", "LLM_BASE_URL": "",
        "PROVIDER_BACKOFF_BASE_S": "0.01", "PROVIDER_BACKOFF_MAX_S": "0.05",
    }).start()
    clusters: list[subprocess.Popen] = []
    logs = []
    try:
        setup = stack.scenario("setup", str(TURNS), module=SCENARIO, timeout_s=600)
        token, run_ids, labels = setup["token"], setup["runs"], setup["labels"]
        chat_voice = emulator_ctl.voice_ids()[0]  # the chat voice was made first
        for n in (1, 2):
            log = open(tmp_path / f"qcluster-{n}.log", "w")  # noqa: SIM115 (closed below)
            logs.append(log)
            clusters.append(subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=stack.env,
                                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

        def turn(conversation: str) -> tuple[int, bytes]:
            status, _, body = request(
                f"{stack.urls[0]}/api/v1/conversations/{conversation}/messages/", method="POST",
                body=json.dumps({"text": f"Hello, turn for {conversation}"}).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
            )
            return status, body

        with ThreadPoolExecutor(max_workers=10) as pool:
            answers = list(pool.map(turn, setup["conversations"]))
        assert [status for status, _ in answers] == [202] * TURNS, answers[:3]

        deadline = time.monotonic() + TIMEOUT_S
        while True:
            status = _status(stack)
            done_runs = [r for r in status["runs"] if r["state"] not in ("approved", "running")]
            if status["replies"].get("pending", 0) == 0 and len(done_runs) == len(run_ids):
                break
            for n, cluster in enumerate(clusters, 1):
                assert cluster.poll() is None, (tmp_path / f"qcluster-{n}.log").read_text()[-4000:]
            if time.monotonic() > deadline:
                pytest.fail(f"not done after {TIMEOUT_S} s: {status['replies']}, {status['runs']}")
            time.sleep(1)
    finally:
        for cluster in clusters:
            if cluster.poll() is None:
                os.kill(cluster.pid, signal.SIGTERM)  # the main process only (bin/services explains why)
        for cluster in clusters:
            try:
                cluster.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.pid, signal.SIGKILL)
                cluster.wait()
        for log in logs:
            log.close()
        _drop_queue(redis_url, queue)
        stack.stop()

    cluster_logs = [(tmp_path / f"qcluster-{n}.log").read_text() for n in (1, 2)]
    # Both clusters took part: each processed some of the burst.
    assert all("processing" in text for text in cluster_logs), [text[-2000:] for text in cluster_logs]

    # 50 ready replies, 50 distinct stored clips (rows and files; the offline responder may say the same
    # sentence twice, so the audio itself may repeat), one TTS call each.
    assert status["replies"] == {"ready": TURNS}, status["replies"]
    clips = status["clips"]
    assert len(clips) == TURNS
    assert len({c["id"] for c in clips}) == len({c["file"] for c in clips}) == TURNS
    stored = set(stack.files_under("clone_responses"))
    assert {c["file"] for c in clips} <= stored
    # One TTS call per reply that was not an identical earlier render reused (docs/usage.md): the offline
    # responder repeats itself, and a repeat is reused rather than paid for again.
    speech = emulator_ctl.requests(path=rf"^/v1/text-to-speech/{chat_voice}", method="POST")
    assert len(speech) == sum(not c["reused"] for c in clips), (len(speech), clips)

    # Each run executed once: candidate after one attempt, one provider create, one provider voice.
    runs = status["runs"]
    assert [(r["state"], r["attempt_count"]) for r in runs] == [("candidate", 1)] * len(run_ids), runs
    voices = emulator_ctl.state()["voices"]
    for run, label in zip(runs, labels, strict=True):
        created = [v for v in voices if v.get("description") == label]
        assert [v["voice_id"] for v in created] == [run["provider_voice_id"]], (label, created)
        creates = [r for r in emulator_ctl.requests(path=r"^/v1/voices/add$", method="POST")
                   if r.get("fields", {}).get("description") == label]
        assert len(creates) == 1, (label, creates)
    assert len({v["voice_id"] for v in voices}) == len(voices)
    assert status["executions"].get("retraining.tasks.retrain_run_execute") == len(run_ids), status["executions"]


def _drop_queue(redis_url: str, queue: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"*{queue}*"):
        client.delete(key)
