"""The embedded default's SQLite settings are really in effect (issue 9 item 1).

The suite's own database is in memory, where WAL does not exist; these tests run the real settings
against a SQLite file in a subprocess, as `bin/run` does.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def probe(tmp_path, step: str, **env) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    environment.update(DJANGO_SETTINGS_MODULE="voiceclone.settings", VAR_DIR=str(tmp_path),
                       DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", **env)
    done = subprocess.run([sys.executable, "-m", "tests.reliability.sqlite_probe", step], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_connection_has_wal_normal_sync_and_the_busy_timeout(tmp_path):
    seen = probe(tmp_path, "pragmas", SQLITE_BUSY_TIMEOUT_S="12.5")
    assert seen.pop("transaction_mode") == "IMMEDIATE"
    assert set(seen) == {"main", "reopened", "thread"}
    for where, pragmas in seen.items():
        # synchronous 1 = NORMAL; busy_timeout in milliseconds.
        assert pragmas == {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 12500, "foreign_keys": 1}, where


def test_a_read_then_write_transaction_waits_for_the_lock_instead_of_failing(tmp_path):
    outcome = probe(tmp_path, "upgrade")
    assert outcome["ok"], outcome
    # It began after the other connection's commit, so it saw that row.
    assert outcome["seen_before_write"] == 1


@pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
                    reason="the SQLite options apply to the embedded default only")
def test_the_suite_database_uses_the_same_options():
    options = settings.DATABASES["default"]["OPTIONS"]
    assert options["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in options["init_command"]
