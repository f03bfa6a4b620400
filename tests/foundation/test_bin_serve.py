"""bin/serve, the production launch, as a two-host deployment would run it: `bin/serve web` (with the
emulator asked for) and `bin/serve worker` (two clusters) started from the environment alone, sharing one
database. A chat turn is served end to end over HTTP: a token, a voice cloned from recordings, a
conversation, the spoken reply and its audio. Static files come from WhiteNoise with DEBUG off; the web
host's /metrics adds up the task metrics its neighbouring workers wrote. Ctrl-C stops every process.
"""

import json
import os
import queue
import secrets
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.audio import wav_bytes
from tests.foundation.test_bin_services import descendants, free_port, still_running
from tests.live import multipart, request

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "Press Ctrl-C to stop everything."
TIMEOUT_S = 300  # migrations, two uvicorn workers and two clusters on a loaded 2-core machine

pytestmark = pytest.mark.cluster


class Launch:
    """One `bin/serve ROLE` in its own session, its output read line by line."""

    def __init__(self, role: str, env: dict):
        self.role = role
        self.process = subprocess.Popen(
            ["bin/serve", role], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.lines: queue.Queue = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.process.stdout]
                         and self.lines.put(None), daemon=True).start()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while not self.output or READY_LINE not in self.output[-1]:
            line = self.lines.get(timeout=max(1.0, deadline - time.monotonic()))
            assert line is not None, f"bin/serve {self.role} ended before it was ready:\n{self.text}"
            self.output.append(line)

    def stop(self) -> int:
        os.killpg(self.process.pid, signal.SIGINT)
        code = self.process.wait(timeout=60)
        while (line := self.lines.get(timeout=10)) is not None:
            self.output.append(line)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            for pid in descendants(self.process.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            os.killpg(self.process.pid, signal.SIGKILL)

    @property
    def text(self) -> str:
        return "".join(self.output)

    def lines_named(self) -> list[str]:
        return [line.split()[0] for line in self.output if line.startswith("  ")]


def _wait_for(predicate, what: str, timeout_s: float = TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def _json(url: str, *, method: str = "GET", body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Token {token}"
    status, _, raw = request(url, method=method, body=json.dumps(body).encode() if body is not None else None,
                             headers=headers)
    return status, json.loads(raw) if raw.strip().startswith(b"{") else {}


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process state from /proc")
def test_bin_serve_web_and_worker_serve_a_chat_turn_end_to_end(tmp_path):
    port, emulator_port, metrics_port = free_port(), free_port(), free_port()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DJANGO_", "REDIS_", "ELEVENLABS_", "AWS_", "LLM_", "PYTEST_", "Q_", "SENTRY_",
                                  "PROMETHEUS_"))
           and key not in ("DATABASE_URL", "LOG_LEVEL", "DEBUG", "SECRET_KEY", "WEB_WORKERS")}
    env.update({
        # Production settings, over plain HTTP on loopback (docs/production.md).
        "SECRET_KEY": secrets.token_urlsafe(50), "SECURE_SSL_REDIRECT": "false", "SECURE_HSTS_SECONDS": "0",
        "SESSION_COOKIE_SECURE": "false", "CSRF_COOKIE_SECURE": "false",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "media"), "PORT": str(port), "EMULATOR_PORT": str(emulator_port),
        "Q_POLL_S": "0.1",
    })
    site = f"http://127.0.0.1:{port}"
    web = Launch("web", {**env, "SERVE_EMULATOR": "true", "WEB_WORKERS": "2"})
    worker = None
    try:
        web.wait_ready()
        worker = Launch("worker", {**env, "ELEVENLABS_EMULATOR_URL": f"http://127.0.0.1:{emulator_port}",
                                   "Q_CLUSTERS": "2", "Q_WORKERS": "1", "METRICS_PORT": str(metrics_port)})
        worker.wait_ready()
        processes = {**descendants(web.process.pid), **descendants(worker.process.pid)}

        created = subprocess.run(
            [str(ROOT / ".venv/bin/python"), "manage.py", "createsuperuser", "--no-input", "--username", "ops",
             "--email", "ops@example.com"],
            cwd=ROOT, env={**env, "DJANGO_SUPERUSER_PASSWORD": "a long operator password"},
            capture_output=True, text=True, timeout=120,
        )
        assert created.returncode == 0, created.stderr
        status, body = _json(f"{site}/api/v1/auth/token/", method="POST",
                             body={"username": "ops", "password": "a long operator password"})
        assert status == 200, body
        token = body["token"]

        form, content_type = multipart(
            {"name": "Ada", "persona": "You are Ada, a baker.", "consent": "true"},
            {"samples": ("one.wav", wav_bytes(3, seed=1), "audio/wav")},
        )
        status, _, raw = request(f"{site}/api/v1/voices/", method="POST", body=form,
                                 headers={"Content-Type": content_type, "Authorization": f"Token {token}"})
        assert status == 202, raw
        voice = json.loads(raw)["id"]
        _wait_for(lambda: _json(f"{site}/api/v1/voices/{voice}/", token=token)[1].get("status") == "ready",
                  "the voice to be cloned by a worker")
        status, conversation = _json(f"{site}/api/v1/conversations/", method="POST", body={"voice": voice},
                                     token=token)
        assert status == 201, conversation
        status, turn = _json(f"{site}/api/v1/conversations/{conversation['id']}/messages/", method="POST",
                             body={"text": "Hello from production"}, token=token)
        assert status == 202, turn
        reply = turn["assistant_message"]["id"]
        message = _wait_for(
            lambda: (m := _json(f"{site}/api/v1/messages/{reply}/", token=token)[1]).get("status") != "pending" and m,
            "the reply",
        )
        assert message["status"] == "ready", message
        status, headers, audio = request(f"{site}/api/v1/messages/{reply}/audio",
                                         headers={"Authorization": f"Token {token}"})
        headers = {name.lower(): value for name, value in headers.items()}
        assert status == 200 and headers["content-type"].startswith("audio/") and len(audio) > 1000

        # Static files through WhiteNoise with DEBUG off (collected by `bin/serve web`).
        status, headers, _ = request(f"{site}/static/favicon.svg")
        headers = {name.lower(): value for name, value in headers.items()}
        assert status == 200 and headers["content-type"].startswith("image/svg")
        assert request(f"{site}/health/ready/")[0] == 200

        # Task metrics written by the worker host's clusters, read from the web host's /metrics (same host
        # here, one PROMETHEUS_MULTIPROC_DIR) and from the worker's own exporter.
        for url in (f"{site}/metrics", f"http://127.0.0.1:{metrics_port}/metrics"):
            text = request(url)[2].decode()
            assert 'voiceclone_task_duration_seconds_count{func="conversations.tasks.message_reply_generate",' \
                   'result="success"} 1.0' in text, text[-3000:]

        web_code, worker_code = web.stop(), worker.stop()
    finally:
        web.kill()
        if worker is not None:
            worker.kill()
    print(f"\n{web.text}\n{worker.text}")

    for launch in (web, worker):
        assert "Traceback" not in launch.text and "Error" not in launch.text, launch.text
    assert web.lines_named() == ["emulator", "database", "web"], web.text
    assert "uvicorn, 2 worker(s)" in web.text
    assert worker.lines_named() == ["qcluster-1", "qcluster-2", "metrics"], worker.text
    assert web_code == 0 and worker_code == 0
    # the emulator, uvicorn's supervisor and 2 workers; 2 clusters (main, sentinel, 1 worker, monitor,
    # pusher each) and the exporter, at least
    assert len(processes) >= 4 + 11, processes
    left = [pid for pid, start in processes.items() if still_running(pid, start)]
    assert left == [], f"still running after Ctrl-C: {left}"
