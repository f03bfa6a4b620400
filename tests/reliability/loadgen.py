"""Concurrent API clients against a served stack with a real django-q2 cluster (issue 9 item 1).

Used by tests/reliability/test_load_cluster.py (bounded) and bench/load.py (the issue's full load). The
stack is a `tests.live.LiveStack` (its own SQLite file, or its own PostgreSQL database when DATABASE_URL
is set); the cluster is `manage.py qcluster` in a subprocess on the stack's database (ORM broker).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.audio import wav_bytes
from tests.live import ROOT, LiveStack, multipart, request

# Limits are per person; a load test is many requests from few users, so they are off (as in the suite).
LOAD_ENV = {
    "API_THROTTLE_USER": "", "API_THROTTLE_ANON": "", "CHAT_TURN_RATE": "", "VOICE_CREATE_RATE": "",
    "TTS_DAILY_CHARS_PER_USER": "0", "LOGIN_RATE_PER_USERNAME": "", "LOGIN_RATE_PER_IP": "", "SIGNUP_RATE_PER_IP": "",
    "Q_POLL_S": "0.1", "LLM_BASE_URL": "", "LOG_LEVEL": "INFO",
}
TEXTS = ["Hello, how are you today?", "What do you like to bake?", "Tell me about your town.",
         "What did you do this morning?", "Any plans for the weekend?", "What is your favourite bread?"]


class Cluster:
    """`manage.py qcluster` on the stack's database, in its own process group."""

    def __init__(self, stack: LiveStack, name: str = "qcluster"):
        self.stack = stack
        self.log_path = stack.tmp_path / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Cluster:
        log = open(self.log_path, "ab")  # noqa: SIM115 (closed with the process)
        self.process = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=self.stack.env,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while "running." not in self.log_path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not start:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        try:  # whatever is left of its group (a worker stuck in a call, or orphaned by a killed sentinel)
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def served(stack: LiveStack):
    """Serve `stack` for a `with` block and stop it (and a cluster started with `.start_cluster()`) however the
    block ends. When the block fails, the cluster's log tail is printed: pytest shows it with the failure, so
    a wait that timed out in CI says what the cluster was doing."""
    handle = _Served(stack)
    stack.start()
    try:
        yield handle
    except BaseException:
        if handle.cluster is not None:
            print(f"--- cluster log (tail) ---\n{handle.cluster.log()[-8000:]}")
        raise
    finally:
        try:
            if handle.cluster is not None:
                handle.cluster.stop()
        finally:
            stack.stop()


@dataclass
class _Served:
    stack: LiveStack
    cluster: Cluster | None = None

    def start_cluster(self) -> Cluster:
        self.cluster = Cluster(self.stack).start()
        return self.cluster


@dataclass
class LoadResult:
    clients: int
    seconds: float
    turns: int = 0
    voices: int = 0
    statuses: Counter = field(default_factory=Counter)
    client_errors: list[str] = field(default_factory=list)
    drain_s: float | None = None
    health: dict = field(default_factory=dict)
    locked_in_logs: int = 0

    @property
    def five_xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def stuck_turns(self) -> int:
        return self.health.get("replies", {}).get("pending", 0)

    @property
    def locked_errors(self) -> int:
        return self.locked_in_logs + self.health.get("locked_task_failures", 0)

    def line(self, label: str) -> str:
        replies = self.health.get("replies", {})
        return (f"{label}: clients={self.clients} seconds={self.seconds:g} turns={self.turns} "
                f"voices={self.voices} 5xx={self.five_xx} locked_errors={self.locked_errors} "
                f"stuck_turns={self.stuck_turns} ready={replies.get('ready', 0)} failed={replies.get('failed', 0)} "
                f"reply_failures={self.health.get('reply_failures', {})} "
                f"retried={self.health.get('retried_replies', 0)} task_failures={self.health.get('task_failures', 0)} "
                f"voice_states={self.health.get('voices', {})} "
                f"drain_s={'n/a' if self.drain_s is None else f'{self.drain_s:.1f}'} "
                f"statuses={dict(sorted(self.statuses.items()))}")


def _auth(token: str) -> dict:
    return {"Authorization": f"Token {token}"}


def _post_turn(url: str, talker: dict, text: str, result: LoadResult, lock: threading.Lock) -> str | None:
    status, _, body = request(
        f"{url}/api/v1/conversations/{talker['conversation']}/messages/", method="POST",
        body=json.dumps({"text": text}).encode(),
        headers={**_auth(talker["token"]), "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex},
    )
    with lock:
        result.statuses[status] += 1
        if status == 202:
            result.turns += 1
        elif len(result.client_errors) < 10:
            result.client_errors.append(f"POST message {status}: {body[:300]!r}")
    return json.loads(body)["assistant_message"]["id"] if status == 202 else None


def _wait_ready(url: str, talker: dict, message_id: str, until: float, result, lock) -> None:
    while time.monotonic() < until:
        status, _, body = request(f"{url}/api/v1/messages/{message_id}/", headers=_auth(talker["token"]))
        with lock:
            result.statuses[status] += 1
        if status == 200 and json.loads(body)["status"] != "pending":
            return
        time.sleep(0.3)


def _create_voice(url: str, talker: dict, seed: int, result: LoadResult, lock: threading.Lock) -> None:
    body, content_type = multipart(
        {"name": f"Load voice {seed}", "persona": "You are a patient test voice.", "consent": "true"},
        {"samples": (f"s{seed}.wav", wav_bytes(2, seed=seed), "audio/wav")},
    )
    status, _, answer = request(f"{url}/api/v1/voices/", method="POST", body=body,
                                headers={**_auth(talker["token"]), "Content-Type": content_type})
    with lock:
        result.statuses[status] += 1
        if status == 202:
            result.voices += 1
        elif len(result.client_errors) < 10:
            result.client_errors.append(f"POST voice {status}: {answer[:300]!r}")


def chat_load(stack: LiveStack, talkers: list[dict], *, seconds: float, voice_creators: int = 1,
              wait_for_reply: bool = True, interval_s: float = 0.0) -> LoadResult:
    """Each talker chats for `seconds`: posts a message, then (wait_for_reply) polls until its reply is no
    longer pending, as a person in the chat page does, or posts again after `interval_s`. The first
    `voice_creators` talkers instead create voices one after another (the issue's reproduction)."""
    result = LoadResult(clients=len(talkers), seconds=seconds)
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def client(index: int, talker: dict) -> None:
        url = stack.urls[index % len(stack.urls)]
        n = 0
        while time.monotonic() < end:
            n += 1
            try:
                if index < voice_creators:
                    _create_voice(url, talker, seed=index * 1000 + n, result=result, lock=lock)
                    continue
                message_id = _post_turn(url, talker, TEXTS[(index + n) % len(TEXTS)], result, lock)
                if message_id and wait_for_reply:
                    _wait_ready(url, talker, message_id, end, result, lock)
                elif interval_s:
                    time.sleep(interval_s)
            except OSError as exc:  # a refused or dropped connection counts as a failure too
                with lock:
                    result.statuses[599] += 1
                    result.client_errors.append(f"client {index}: {exc!r}")

    threads = [threading.Thread(target=client, args=(i, t)) for i, t in enumerate(talkers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


def burst(stack: LiveStack, talkers: list[dict], *, turns: int) -> LoadResult:
    """`turns` messages posted at once (spread over the talkers, 10 at a time), none waited for."""
    result = LoadResult(clients=len(talkers), seconds=0)
    lock = threading.Lock()
    started = time.monotonic()
    jobs = list(range(turns))

    def client(index: int) -> None:
        while True:
            with lock:
                if not jobs:
                    return
                n = jobs.pop()
            talker = talkers[n % len(talkers)]
            _post_turn(stack.urls[n % len(stack.urls)], talker, TEXTS[n % len(TEXTS)], result, lock)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = round(time.monotonic() - started, 1)
    return result


def drain(stack: LiveStack, result: LoadResult, *, timeout_s: float, started: float | None = None) -> LoadResult:
    """Wait until no reply is pending and no voice is creating (or `timeout_s`), then record where every
    row and task stands, and the "database is locked" lines in the servers' and cluster's logs."""
    started = started or time.monotonic()
    deadline = time.monotonic() + timeout_s
    while True:
        health = stack.scenario("health")
        busy = health["replies"].get("pending", 0) + health["voices"].get("creating", 0)
        if not busy:
            result.drain_s = time.monotonic() - started
            break
        if time.monotonic() > deadline:
            break
        time.sleep(1.0)
    result.health = health
    result.locked_in_logs = locked_lines(stack.tmp_path)
    return result


def locked_lines(directory: Path) -> int:
    return sum(path.read_text(errors="replace").count("database is locked") for path in directory.glob("*.log"))
