"""Operations through their public surfaces: the health endpoints and command, /metrics, JSON logs with
request and task ids, and Sentry reporting switched on by SENTRY_DSN (a local HTTP server receives it).
"""

import json
import os
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command

from voiceclone.observability.views import QUOTA_CACHE_KEY

ROOT = Path(__file__).resolve().parents[2]


def _metric(text: str, name: str, **labels) -> float | None:
    """The value of one sample of the Prometheus text format (labels matched as given), else None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if not match or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2] or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(match[3])
    return None


@pytest.fixture
def fresh_quota():
    cache.delete(QUOTA_CACHE_KEY)
    yield
    cache.delete(QUOTA_CACHE_KEY)


# --- health -----------------------------------------------------------------------------------------------


def test_liveness_answers_without_asking_any_dependency(client):
    response = client.get("/health/live/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)  # the checks run in other threads, with their own connections
def test_readiness_checks_database_cache_broker_and_storage_but_not_the_provider(client, emulator_ctl):
    emulator_ctl.add_fault(r"^/v1/user/subscription$", status=503, count=None)
    response = _in_own_thread(client.get, "/health/ready/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    checks = response.json()
    assert set(checks.values()) == {"OK"}
    assert {name.split("(")[0] for name in checks} == {"Database", "Cache", "Broker", "Storage"}


@pytest.mark.django_db(transaction=True)  # the checks run in other threads, with their own connections
def test_health_includes_the_provider_and_fails_when_it_is_down(client, emulator_ctl, fresh_quota):
    ok = _in_own_thread(client.get, "/health/?format=json")
    assert ok.status_code == 200, ok.content
    assert ok.json()["Provider()"] == "OK"

    emulator_ctl.add_fault(r"^/v1/user/subscription$", status=503, count=None)
    down = _in_own_thread(client.get, "/health/?format=json")
    assert down.status_code == 500
    body = down.json()
    assert "did not answer" in body["Provider()"]
    assert body["Database(alias='default')"] == "OK"


@pytest.mark.django_db(transaction=True)  # the checks run in other threads, with their own connections
def test_health_check_command_runs_the_checks_without_a_web_server(emulator_ctl, capsys):
    assert _health_check_command("health-ready") in (0, None), capsys.readouterr()
    out = capsys.readouterr().out
    assert "Broker()" in out and "Storage(alias='default')" in out, out

    emulator_ctl.add_fault(r"^/v1/user/subscription$", status=503, count=None)
    assert _health_check_command("health") == 1


def _in_own_thread(function, *args, **kwargs):
    """Call `function` in a thread with no event loop, as a web server or a shell would.

    The health checks run through asyncio (`asyncio.run` in the command, `async_to_sync` in the view), which
    refuses a thread whose event loop is running; once a browser test has run in this test process,
    Playwright's sync API has left one running in the main thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args, **kwargs).result()


def _health_check_command(path: str):
    """Run `manage.py health_check PATH --no-http`; returns its exit code."""

    def run():
        try:
            call_command("health_check", path, "--no-http")
        except SystemExit as exit_:
            return exit_.code
        return None

    return _in_own_thread(run)


# --- metrics ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_count_requests_tasks_queue_provider_errors_and_quota(
    client, alice_api, alice_conversation, emulator_ctl, run_tasks, fresh_quota
):
    before = client.get("/metrics").content.decode()
    view_before = _metric(before, "voiceclone_http_request_duration_seconds_count",
                          method="GET", view="api:voice-list", status="200") or 0
    tts_before = _metric(before, "voiceclone_task_duration_seconds_count",
                         func="conversations.tasks.message_reply_generate", result="success") or 0
    errors_before = _metric(before, "voiceclone_provider_errors_total", operation="tts_stream",
                            error="ProviderUnavailable") or 0

    assert alice_api.get("/api/v1/voices/").status_code == 200
    emulator_ctl.add_fault(r"/v1/text-to-speech/", status=503, count=1)  # one failed attempt, then retried
    with run_tasks():
        turn = alice_api.post(f"/api/v1/conversations/{alice_conversation}/messages/", {"text": "Hello"},
                              format="json")
    assert turn.status_code == 202, turn.content
    assert alice_api.get(f"/api/v1/messages/{turn.json()['assistant_message']['id']}/").json()["status"] == "ready"

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert _metric(text, "voiceclone_http_request_duration_seconds_count",
                   method="GET", view="api:voice-list", status="200") == view_before + 1
    assert _metric(text, "voiceclone_task_duration_seconds_count",
                   func="conversations.tasks.message_reply_generate", result="success") == tts_before + 1
    assert _metric(text, "voiceclone_task_wait_seconds_count", func="conversations.tasks.message_reply_generate")
    assert _metric(text, "voiceclone_provider_errors_total", operation="tts_stream",
                   error="ProviderUnavailable") == errors_before + 1
    assert _metric(text, "voiceclone_queue_depth") == 0  # sync mode: nothing waits
    voices = len(emulator_ctl.voice_ids())
    assert voices >= 1
    assert _metric(text, "voiceclone_provider_voice_slots_used") == voices
    assert _metric(text, "voiceclone_provider_voice_slots_limit") == 30


@pytest.mark.django_db
def test_metrics_ask_for_the_token_when_one_is_set(client, settings):
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


@pytest.mark.django_db
def test_every_answer_carries_its_request_id(client):
    given = client.get("/health/live/", HTTP_X_REQUEST_ID="abc-123")
    assert given["X-Request-ID"] == "abc-123"
    fresh = client.get("/api/v1/voices/")
    assert re.fullmatch(r"[0-9a-f]{32}", fresh["X-Request-ID"])
    assert client.get("/health/live/")["X-Request-ID"] != fresh["X-Request-ID"]


# --- logs and error reporting (subprocesses: logging and Sentry are set up at start-up) ---------------------


def _subprocess_env(tmp_path: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "SENTRY_", "LOG_", "Q_", "PYTEST_XDIST"))
           and k not in ("DATABASE_URL", "REDIS_URL", "AWS_STORAGE_BUCKET_NAME")}
    env.update(DJANGO_SETTINGS_MODULE="voiceclone.settings", VAR_DIR=str(tmp_path), MEDIA_ROOT=str(tmp_path / "m"),
               DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", Q_SYNC="true", PYTHONUNBUFFERED="1", **extra)
    return env


SCRIPT = """
import django, logging
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.test import Client
from django_q.tasks import async_task
Client().get("/api/v1/nowhere/", HTTP_X_REQUEST_ID="req-42")       # django.request logs the 404
task_id = async_task("tests.foundation.test_operations.log_from_a_task")  # Q_SYNC: runs here, now
print("TASK", task_id, flush=True)
logging.getLogger("voiceclone.test").error("outside %s", "anything")
import sentry_sdk
sentry_sdk.flush(5)
"""


def log_from_a_task():
    """A django-q2 task for the log test (run inline in the subprocess)."""
    import logging

    logging.getLogger("voiceclone.test").warning("inside a task")


def test_json_logs_carry_the_request_id_and_the_task_id(tmp_path):
    env = _subprocess_env(tmp_path, LOG_FORMAT="json")
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    task_id = next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("TASK "))
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert records, done.stderr[-3000:]
    not_found = next(r for r in records if r["logger"] == "django.request")
    assert not_found["request_id"] == "req-42"
    assert not_found["level"] == "WARNING" and "/api/v1/nowhere/" in not_found["message"]
    in_task = next(r for r in records if r["message"] == "inside a task")
    assert in_task["task_id"] == task_id
    assert in_task["task"] == "tests.foundation.test_operations.log_from_a_task"
    assert "request_id" not in in_task
    outside = next(r for r in records if r["message"] == "outside anything")
    assert "request_id" not in outside and "task_id" not in outside and outside["time"]


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            import gzip

            body = gzip.decompress(body)
        self.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_sentry_reports_errors_only_when_a_dsn_is_set(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    _Collector.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dsn = f"http://publickey@127.0.0.1:{server.server_port}/7"
        for env in (_subprocess_env(tmp_path / "off"), _subprocess_env(tmp_path / "on", SENTRY_DSN=dsn)):
            done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=120)
            assert done.returncode == 0, done.stderr[-3000:]
            if "SENTRY_DSN" not in env:
                assert _Collector.received == []  # nothing is sent without a DSN
    finally:
        server.shutdown()
    paths = {path for path, _ in _Collector.received}
    assert paths == {"/api/7/envelope/"}, paths
    events = [json.loads(line) for _, body in _Collector.received for line in body.splitlines()
              if line.startswith(b"{") and b'"logentry"' in line or b'"message"' in line]
    assert any("outside" in json.dumps(event) for event in events), _Collector.received
