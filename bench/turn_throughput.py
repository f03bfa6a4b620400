"""Turns per second one cluster completes: a burst of messages against a zero-latency emulator.

Run: .venv/bin/python bench/turn_throughput.py [--turns 100] [--workers 2] [--brokers orm redis]
                                               [--poll-s S] [--json var/bench/turn_throughput.json]

For each broker, starts the stack bin/run starts (uvicorn, a django-q2 cluster of --workers workers) on a
fresh SQLite file (bench/harness.py), POSTs --turns text messages as fast as one client can (over ten
conversations), and times from the first POST until every reply is ready (checked every 50 ms through the
API). Prints turns per second and the median reply time (created → completed, from the messages), writes
JSON. The Redis broker uses BENCH_REDIS_URL (flushed first). Asserts nothing; compare rows of one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402

harness.setup("bench-throughput-")

import httpx  # noqa: E402

CONVERSATIONS = 10


def run(emulator, broker: str, turns: int, workers: int, poll_s: float | None) -> dict:
    stack = harness.start_stack(emulator, broker=broker, poll_s=poll_s, workers=workers)
    try:
        # Users each with a voice of their own at the emulator (a provider voice belongs to one version).
        made = stack.scenario("talkers", f"burst{broker}", str(CONVERSATIONS))
        clients = [(httpx.Client(base_url=stack.urls[0], timeout=60, headers={"Authorization": f"Token {m['token']}"}),
                    m["conversation"]) for m in made]
        started = time.perf_counter()
        replies = []
        for turn in range(turns):
            http, conversation = clients[turn % CONVERSATIONS]
            answer = http.post(f"/api/v1/conversations/{conversation}/messages/",
                               json={"text": harness.text_for(turn)})
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
        "turns": turns, "ready": len(ready), "workers": workers,
        "poll_s": (poll_s if poll_s is not None else harness.settings_poll_s()) if broker == "orm" else None,
        "post_all_s": round(posted_s, 2), "elapsed_s": round(elapsed_s, 2),
        "turns_per_s": round(len(ready) / elapsed_s, 2),
        "median_total_ms": statistics.median(d["total_ms"] for d in ready) if ready else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--brokers", nargs="+", choices=["orm", "redis"], default=["orm", "redis"])
    parser.add_argument("--poll-s", type=float, default=None, help="Q_POLL_S of the ORM broker (default: the settings')")
    parser.add_argument("--json", default=harness.default_json("turn_throughput"))
    args = parser.parse_args()

    load_before = harness.load_average()
    emulator, _ = harness.start_emulator()
    results = {}
    try:
        for broker in args.brokers:
            results[broker] = run(emulator, broker, args.turns, args.workers, args.poll_s)
    finally:
        emulator.stop()
    load_after = harness.load_average()

    print(f"\nturn throughput: a burst of {args.turns} turns, {args.workers} worker(s), zero-latency emulator; "
          f"load {load_before} -> {load_after}")
    print(f"{'broker':>7} | {'poll s':>6} | {'ready':>5} | {'POSTs done s':>12} | {'all ready s':>11} | "
          f"{'turns/s':>7} | {'median turn ms':>14}")
    for broker, row in results.items():
        print(f"{broker:>7} | {row['poll_s']!s:>6} | {row['ready']:>5} | {row['post_all_s']:>12} | "
              f"{row['elapsed_s']:>11} | {row['turns_per_s']:>7} | {row['median_total_ms']!s:>14}")
    harness.write_json(args.json, {
        "bench": "turn_throughput", "turns": args.turns, "workers": args.workers,
        "load_average": {"before": load_before, "after": load_after}, "command": " ".join(sys.argv),
        "results": results,
    })


if __name__ == "__main__":
    main()
