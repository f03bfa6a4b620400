"""The web server's PostgreSQL connections come from a pool (issue 13 item 4, docs/scale.md): under ASGI a
request's sync code runs in a thread of its own, so CONN_MAX_AGE's per-thread connection is never reused
and every request paid a new connection. `DATABASE_POOL=true` (bin/serve sets it for the web processes)
gives Django's pool option, with the health check on every connection handed out; SQLite ignores it."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT = ("import json, django; django.setup(); from django.conf import settings; "
         "d = settings.DATABASES['default']; "
         "print(json.dumps({'pool': d.get('OPTIONS', {}).get('pool'), 'age': d['CONN_MAX_AGE'], "
         "'checks': d['CONN_HEALTH_CHECKS'], 'engine': d['ENGINE']}))")


def database_settings(tmp_path, **env) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_POOL")}
    environment.update(DJANGO_SETTINGS_MODULE="voiceclone.settings", VAR_DIR=str(tmp_path), **env)
    done = subprocess.run([sys.executable, "-c", PRINT], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_database_pool_on_postgresql_only_when_asked(tmp_path):
    url = "postgres://postgres@127.0.0.1:5432/any"

    pooled = database_settings(tmp_path, DATABASE_URL=f"{url}?conn_max_age=60", DATABASE_POOL="true",
                               DATABASE_POOL_MAX_SIZE="7")
    plain = database_settings(tmp_path, DATABASE_URL=url)
    sqlite = database_settings(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", DATABASE_POOL="true")

    assert pooled["pool"] == {"min_size": 1, "max_size": 7, "timeout": 10.0}
    # Django refuses a pool with persistent connections, and passes the health check on to the pool.
    assert pooled["age"] == 0 and pooled["checks"] is True
    assert plain["pool"] is None
    assert sqlite["pool"] is None and sqlite["engine"].endswith("sqlite3")

