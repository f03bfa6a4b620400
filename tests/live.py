"""A real web server (or several) in subprocesses, for tests that need true concurrency.

pytest's own database cannot serve this: on SQLite it is in memory, and Django's live server then
shares one connection between all request threads, so concurrent requests never race in the
database. `LiveStack` gives its servers their own database (a SQLite file, or a fresh PostgreSQL
database when the suite runs on PostgreSQL), migrated, with its cache and broker in that database,
so it behaves as a deployment would. Rows are made with `tests.live_scenario`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]
# Variables of the test process that must not leak into the servers (they choose their own). REDIS_URL
# too: its broker queue would outlive the stack, and a later cluster on the same Redis would pick up
# jobs for rows that no longer exist; the stack's cache is then its own database's (shared by its
# servers), and the suite itself exercises the Redis cache on that profile.
_OWN_VARS = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "VAR_DIR", "MEDIA_ROOT", "DEBUG", "SECRET_KEY",
             "AWS_STORAGE_BUCKET_NAME", "Q_SYNC", "REDIS_URL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveStack:
    def __init__(self, tmp_path: Path, *, servers: int = 1, provider_url: str = "", env: dict | None = None,
                 cluster: bool = False):
        self.tmp_path = tmp_path
        self.media = tmp_path / "media"
        self.servers = servers
        self.env = {k: v for k, v in os.environ.items() if k not in _OWN_VARS}
        self.env.update(
            DJANGO_SETTINGS_MODULE="voiceclone.settings", VAR_DIR=str(tmp_path), MEDIA_ROOT=str(self.media),
            DEBUG="true", PYTHONUNBUFFERED="1",
        )
        if provider_url:
            self.env["ELEVENLABS_EMULATOR_URL"] = provider_url
        self.env.update(env or {})
        self.cluster = cluster
        self._pg_database = None
        self.processes: list[subprocess.Popen] = []
        self.urls: list[str] = []

    # --- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> LiveStack:
        db = settings.DATABASES["default"]
        if db["ENGINE"] == "django.db.backends.postgresql":
            self._pg_database = f"live_{uuid.uuid4().hex[:12]}"
            self._pg_admin(f'CREATE DATABASE "{self._pg_database}"')
            auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
            self.env["DATABASE_URL"] = f"postgres://{auth}@{db['HOST']}:{db['PORT'] or 5432}/{self._pg_database}"
        else:
            self.env["DATABASE_URL"] = f"sqlite:///{self.tmp_path / 'live.sqlite3'}"
        self.manage("migrate", "--no-input", "-v0")
        for _ in range(self.servers):
            port = free_port()
            log = open(self.tmp_path / f"server-{port}.log", "wb")  # noqa: SIM115 (closed with the process)
            process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "voiceclone.asgi:application", "--host", "127.0.0.1",
                 "--port", str(port), "--lifespan", "off", "--timeout-graceful-shutdown", "1"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
            self.processes.append(process)
            self.urls.append(f"http://127.0.0.1:{port}")
        if self.cluster:
            self._start_cluster()
        for url in self.urls:
            self._wait_until_serving(url)
        return self

    def _start_cluster(self) -> None:
        """A django-q2 cluster of one worker on the stack's database, as bin/run starts it."""
        log_path = self.tmp_path / "cluster.log"
        log = open(log_path, "wb")  # noqa: SIM115 (closed with the process)
        env = {"Q_WORKERS": "1", "Q_POLL_S": "0.05", **self.env}  # the stack's own env may choose others
        process = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        self.processes.insert(0, process)  # stopped first
        deadline = time.monotonic() + 120
        while b"running." not in log_path.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not start; see {log_path}")
            time.sleep(0.1)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._pg_database:
            self._pg_admin(f'DROP DATABASE IF EXISTS "{self._pg_database}" WITH (FORCE)')

    def _wait_until_serving(self, url: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/api/v1/voices/consent-statement/", timeout=2)
                return
            except urllib.error.HTTPError:
                return  # any HTTP answer: it serves
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the server at {url} did not start; see {self.tmp_path}")

    def _pg_admin(self, sql: str) -> None:
        import psycopg

        db = settings.DATABASES["default"]
        with psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"],
                             password=db.get("PASSWORD") or None, dbname="postgres", autocommit=True) as conn:
            conn.execute(sql)

    # --- using it --------------------------------------------------------------------------------------

    def manage(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def scenario(self, *args: str, module: str = "tests.live_scenario", timeout_s: float = 120) -> dict:
        """Run a step of a scenario module (tests.live_scenario by default) against the stack's database;
        its JSON answer (the last line it prints)."""
        result = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=timeout_s)
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    def log_tail(self, chars: int = 4000) -> str:
        """The end of every server's log, for a failing assertion's message."""
        return "\n".join(p.read_text(errors="replace")[-chars:] for p in sorted(self.tmp_path.glob("server-*.log")))

    def files_under(self, prefix: str) -> list[str]:
        root = self.media / prefix
        return sorted(str(p.relative_to(self.media)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def request(url: str, *, method: str = "GET", body: bytes | None = None, headers: dict | None = None,
            timeout: float = 60) -> tuple[int, dict, bytes]:
    """One HTTP request; (status, headers, body) whatever the status."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    """Encode form fields and files ({name: (filename, bytes, content type)}) as multipart/form-data."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data, content_type) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
