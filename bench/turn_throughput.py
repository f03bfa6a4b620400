"""Turns per second one cluster completes: a burst of messages against a zero-latency emulator.

Run: .venv/bin/python bench/turn_throughput.py [--turns 100] [--workers 2] [--brokers orm redis]
                                               [--poll-s 0.5] [--json var/bench/turn_throughput.json]

For each broker, starts the stack bin/run starts (uvicorn, a django-q2 cluster of --workers workers) on a
fresh SQLite file, POSTs --turns text messages as fast as one client can (over ten conversations), and
times from the first POST until every reply is ready (checked every 50 ms through the API). Prints turns
per second and the median reply time (created → completed, from the messages), writes JSON. Asserts
nothing; compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
_tmp = tempfile.mkdtemp(prefix="bench-throughput-")
os.environ["DATABASE_URL"] = f"sqlite:///{_tmp}/bench.sqlite3"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.conf import settings  # noqa: E402

from tests.audio import wav_bytes  # noqa: E402
from tests.live import LiveStack  # noqa: E402
from voiceclone import provider  # noqa: E402
from voiceclone.emulator import EmulatorServer  # noqa: E402

CONVERSATIONS = 10

# A benchmark client asks far faster than a person: the API's per-user limits are off.
NO_LIMITS = {"API_THROTTLE_USER": "", "CHAT_TURN_RATE": "off", "TTS_DAILY_CHARS_PER_USER": "0"}


def run(emulator: EmulatorServer, broker: str, turns: int, workers: int, poll_s: float) -> dict:
    env = {"Q_WORKERS": str(workers), "Q_POLL_S": str(poll_s), **NO_LIMITS}
    if broker == "redis":
        import redis

        url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")
        redis.Redis.from_url(url).flushdb()
        env["REDIS_URL"] = url
    path = Path(_tmp) / f"stack-{broker}"
    path.mkdir(parents=True, exist_ok=True)
    stack = LiveStack(path, provider_url=emulator.url, env=env, cluster=True).start()
    try:
        voice_id = provider.create_voice(name=f"Burst {broker}", files=[
            provider.AudioFile(filename="s.wav", content=wav_bytes(3, seed=12), content_type="audio/wav")])
        clients = []
        for n in range(CONVERSATIONS):
            made = stack.scenario("conversation", f"burst{broker}{n}", voice_id)
            clients.append((httpx.Client(base_url=stack.urls[0], timeout=60,
                                         headers={"Authorization": f"Token {made['token']}"}), made["conversation"]))
        started = time.perf_counter()
        replies = []
        for turn in range(turns):
            http, conversation = clients[turn % CONVERSATIONS]
            answer = http.post(f"/api/v1/conversations/{conversation}/messages/",
                               json={"text": f"Message number {turn}: how is the bread today?"})
            replies.append((http, answer.json()["assistant_message"]["id"]))
        posted_s = time.perf_counter() - started
        details = {}
        while len(details) < len(replies):
            for http, reply in replies:
                if reply not in details:
                    detail = http.get(f"/api/v1/messages/{reply}/").json()
                    if detail["status"] != "pending":
                        details[reply] = detail
            time.sleep(0.05)
        elapsed_s = time.perf_counter() - started
        for http, _ in clients:
            http.close()
    finally:
        stack.stop()
    ready = [d for d in details.values() if d["status"] == "ready"]
    return {
        "turns": turns, "ready": len(ready), "workers": workers, "poll_s": poll_s,
        "post_all_s": round(posted_s, 2), "elapsed_s": round(elapsed_s, 2),
        "turns_per_s": round(len(ready) / elapsed_s, 2),
        "median_total_ms": statistics.median(d["total_ms"] for d in ready) if ready else None,
    }


def main() -> None:
    logging.disable(logging.INFO)
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--brokers", nargs="+", choices=["orm", "redis"], default=["orm", "redis"])
    parser.add_argument("--poll-s", type=float, default=0.5, help="Q_POLL_S of the ORM broker (default 0.5)")
    parser.add_argument("--json", default=str(Path(settings.BASE_DIR) / "var" / "bench" / "turn_throughput.json"))
    args = parser.parse_args()

    emulator = EmulatorServer(host="127.0.0.1", port=0, voice_limit=30).start()
    settings.ELEVENLABS_BASE_URL = emulator.url
    results = {}
    try:
        for broker in args.brokers:
            results[broker] = run(emulator, broker, args.turns, args.workers, args.poll_s)
    finally:
        emulator.stop()

    print(f"\nturn throughput: a burst of {args.turns} turns, {args.workers} worker(s), zero-latency emulator")
    print(f"{'broker':>7} | {'ready':>5} | {'POSTs done s':>12} | {'all ready s':>11} | {'turns/s':>7} | "
          f"{'median turn ms':>14}")
    for broker, row in results.items():
        print(f"{broker:>7} | {row['ready']:>5} | {row['post_all_s']:>12} | {row['elapsed_s']:>11} | "
              f"{row['turns_per_s']:>7} | {row['median_total_ms']!s:>14}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
