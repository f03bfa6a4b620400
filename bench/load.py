"""Issue 9's load on the served stack with a real django-q2 cluster, on SQLite and on PostgreSQL.

For each database: a fresh stack (`tests.live.LiveStack`: runserver on its own database, migrated), its own
emulator, `manage.py qcluster` (ORM broker, Q_WORKERS workers), then
  1. chat load: CLIENTS API clients for SECONDS; two of them create voices one after another, the others
     chat (`--mode wait`: post, poll until the reply is no longer pending, post again, as the chat page
     does; `--mode fire`: post every --interval seconds without waiting, as the issue's burst did);
  2. a burst: BURST turns posted at once (10 connections), none waited for;
each followed by a drain (until nothing is pending, at most --drain seconds). Prints one line per phase:
clients, seconds, turns, 5xx, "database is locked" errors (server and cluster logs, failed tasks), stuck
turns (still pending after the drain), failed replies by reason, and the drain time.

    .venv/bin/python bench/load.py                                   # SQLite, then PostgreSQL if reachable
    .venv/bin/python bench/load.py --databases sqlite --clients 20 --seconds 30 --burst 100
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h1 .venv/bin/python bench/load.py --databases postgres

PostgreSQL: the stack gets its own database next to the one DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/postgres) names, dropped at the end. A benchmark, not a test: it
prints what it measured and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_one(args) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceclone.settings")
    import django

    django.setup()
    from tests.live import LiveStack
    from tests.reliability.loadgen import LOAD_ENV, Cluster, burst, chat_load, drain
    from voiceclone.emulator import EmulatorServer

    label = "postgres" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    with tempfile.TemporaryDirectory(prefix=f"load-{label}-") as tmp:
        emulator = EmulatorServer(host="127.0.0.1", port=0, voice_limit=100_000).start()
        stack = LiveStack(Path(tmp), provider_url=emulator.url, env={**LOAD_ENV, "Q_WORKERS": str(args.workers)})
        cluster = None
        try:
            stack.start()
            talkers = stack.scenario("talkers", "load", str(args.clients))
            cluster = Cluster(stack).start()
            started = time.monotonic()
            result = chat_load(stack, talkers, seconds=args.seconds, voice_creators=2,
                               wait_for_reply=args.mode == "wait", interval_s=args.interval)
            drain(stack, result, timeout_s=args.drain, started=started)
            print(result.line(f"{label} chat load ({args.mode})"), flush=True)
            if result.client_errors:
                print(f"  client errors: {result.client_errors[:5]}", flush=True)
            if args.burst:
                ready_before = result.health.get("replies", {}).get("ready", 0)
                started = time.monotonic()
                shot = burst(stack, talkers[2:] or talkers, turns=args.burst)
                drain(stack, shot, timeout_s=args.drain, started=started)
                print(shot.line(f"{label} burst of {args.burst} (cumulative rows; {ready_before} ready before)"),
                      flush=True)
        finally:
            if cluster is not None:
                cluster.stop()
            stack.stop()
            emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mode", choices=["wait", "fire"], default="wait")
    parser.add_argument("--interval", type=float, default=1.5, help="seconds between posts in fire mode")
    parser.add_argument("--drain", type=float, default=600)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args)
        return
    for database in args.databases.split(","):
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        if database == "postgres":
            env["DATABASE_URL"] = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
        subprocess.run([sys.executable, __file__, "--one", *sys.argv[1:]], env=env, cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
