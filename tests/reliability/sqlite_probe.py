"""Run in a subprocess against a SQLite file with the real settings (tests/reliability/test_sqlite_settings.py).

    python -m tests.reliability.sqlite_probe pragmas      -> the pragmas of several fresh connections
    python -m tests.reliability.sqlite_probe upgrade      -> a read-then-write transaction while another
                                                             connection holds the write lock

The caller sets DJANGO_SETTINGS_MODULE=voiceclone.settings, DATABASE_URL (a SQLite file) and VAR_DIR.
"""

import json
import sqlite3
import sys
import threading
import time


def _pragmas(connection) -> dict:
    with connection.cursor() as cursor:
        values = {}
        for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys"):
            cursor.execute(f"PRAGMA {name}")
            values[name] = cursor.fetchone()[0]
    return values


def pragmas() -> dict:
    from django.db import connection, connections

    seen = {"main": _pragmas(connection)}
    connection.close()
    seen["reopened"] = _pragmas(connection)
    # Another thread gets its own connection (the heartbeat thread, runserver's request threads).
    result = {}

    def in_thread():
        result["thread"] = _pragmas(connections["default"])
        connections.close_all()

    worker = threading.Thread(target=in_thread)
    worker.start()
    worker.join()
    seen.update(result)
    seen["transaction_mode"] = connection.transaction_mode
    return seen


def upgrade() -> dict:
    """Another connection holds the write lock for a moment, then commits a row. Meanwhile this process
    runs `transaction.atomic()`: read, then write. With DEFERRED transactions the read pins a snapshot
    older than the other commit, so the write fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT);
    with IMMEDIATE the transaction waits for the lock, reads fresh and writes."""
    from django.db import OperationalError, connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, n INTEGER)")
    path = connection.settings_dict["NAME"]
    other = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO probe (n) VALUES (1)")

    def commit_later():
        time.sleep(0.5)
        other.execute("COMMIT")

    committer = threading.Thread(target=commit_later)
    started = time.monotonic()
    committer.start()
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM probe")
                seen = cursor.fetchone()[0]
                time.sleep(0.8)  # the other connection commits meanwhile (DEFERRED: after our read)
                cursor.execute("INSERT INTO probe (n) VALUES (%s)", [seen + 1])
        outcome = {"ok": True, "seen_before_write": seen}
    except OperationalError as exc:
        outcome = {"ok": False, "error": str(exc)}
    committer.join()
    other.close()
    outcome["waited_s"] = round(time.monotonic() - started, 2)
    return outcome


def main(argv):
    import django

    django.setup()
    print(json.dumps({"pragmas": pragmas, "upgrade": upgrade}[argv[0]]()))


if __name__ == "__main__":
    main(sys.argv[1:])
