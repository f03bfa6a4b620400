"""Time from sending a message to hearing the reply, against the provider's own time to first byte.

Run: .venv/bin/python bench/chat_latency.py [--turns 12] [--latency-ms 0 150 300] [--broker orm|redis]
                                            [--workers 2] [--poll-s S] [--no-polled]
                                            [--json var/bench/chat_latency.json]

Starts the stack bin/run starts (uvicorn, a django-q2 cluster of --workers workers, 2 as bin/run) on a
fresh SQLite file, against an emulator in this process (bench/harness.py), and for each emulator latency
measures, turn by turn:

  direct   the provider's streaming TTS for the reply's own text, straight to the emulator through the
           SDK: request → first audio byte (what no app can beat)
  stream   POST the message → first audio byte on GET /api/v1/messages/{id}/stream/ (opened right after
           the POST answers)
  polled   POST → the whole clip, as clients had to before the stream endpoint: poll the message every
           50 ms until ready, then download /audio (the issue's "before" path, measured in the same run)

and prints p50/p95 of each and of the overheads stream−direct and polled−direct, in ms, then where the
stream turns' time went (from the stack's own records: POST, queue wait until a worker starts the task,
reply text, TTS to its first chunk in the spool, spool → the listener's first byte), then writes JSON.
The ORM broker polls at the settings' interval unless --poll-s says otherwise. Ratios in one run, on a
noisy shared machine: compare columns, not runs. Asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402

harness.setup("bench-latency-")

import httpx  # noqa: E402

POLL_EVERY_S = 0.05


def measure(stack, ctl, latency_ms: int, turns: int, polled: bool) -> dict:
    voice_id = harness.bench_voice(f"Bench {latency_ms}", seed=11)
    made = stack.scenario("conversation", f"bench{latency_ms}", voice_id)
    ctl.configure(latency_ms=latency_ms)
    http = httpx.Client(base_url=stack.urls[0], headers={"Authorization": f"Token {made['token']}"}, timeout=60)
    messages_url = f"/api/v1/conversations/{made['conversation']}/messages/"
    done = []
    for turn in range(turns + 1):  # the first turn warms every connection and cache up; not counted
        text = harness.text_for(turn, latency_ms)
        row = {}
        # After: POST, then the stream endpoint at once; time to its first byte.
        row["sent_at"] = time.time()
        started = time.perf_counter()
        row["reply"] = http.post(messages_url, json={"text": text}).json()["assistant_message"]["id"]
        with http.stream("GET", f"/api/v1/messages/{row['reply']}/stream/") as response:
            chunks = response.iter_raw()
            next(chunks)
            row["stream"] = (time.perf_counter() - started) * 1000
            row["first_at"] = time.time()
            for _ in chunks:
                pass
        reply_text = http.get(f"/api/v1/messages/{row['reply']}/").json()["text"]

        if polled:
            # Before: POST, poll until ready, download the whole clip.
            started = time.perf_counter()
            row["answer"] = http.post(messages_url, json={"text": harness.text_for(turn, latency_ms, again=True)}
                                      ).json()["assistant_message"]["id"]
            while http.get(f"/api/v1/messages/{row['answer']}/").json()["status"] == "pending":
                time.sleep(POLL_EVERY_S)
            http.get(f"/api/v1/messages/{row['answer']}/audio", follow_redirects=True).read()
            row["polled"] = (time.perf_counter() - started) * 1000

        row["direct"] = harness.direct_first_byte_ms(voice_id, reply_text)
        if turn:
            done.append(row)
    # Read once every reply is ready: a reply's timings are written with its ready mark, after the stream.
    for row in done:
        for key in ("reply", "answer"):
            while key in row and http.get(f"/api/v1/messages/{row[key]}/").json()["status"] == "pending":
                time.sleep(POLL_EVERY_S)
    http.close()
    for row in done:
        row["timeline"] = harness.turn_timeline(stack, row["reply"])
        row["spoken"] = harness.spoken(row["timeline"])
        if polled:
            row["polled_spoken"] = harness.spoken(harness.turn_timeline(stack, row["answer"]))
    # Only replies the provider spoke: an identical earlier render is reused from storage (no TTS at all).
    streamed = [row for row in done if row["spoken"]]
    polled_rows = [row for row in done if row.get("polled_spoken")]
    result = {
        "turns": len(done), "spoken": len(streamed), "polled_spoken": len(polled_rows),
        "direct": harness.summary([row["direct"] for row in streamed]),
        "stream": harness.summary([row["stream"] for row in streamed]),
        "stream_overhead": harness.summary([row["stream"] - row["direct"] for row in streamed]),
        "polled": harness.summary([row["polled"] for row in polled_rows]),
        "polled_overhead": harness.summary([row["polled"] - row["direct"] for row in polled_rows]),
        "breakdown": harness.breakdown([row["timeline"] for row in streamed], [row["sent_at"] for row in streamed],
                                       [row["first_at"] for row in streamed]),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 150, 300])
    parser.add_argument("--broker", choices=["orm", "redis"], default="orm")
    parser.add_argument("--poll-s", type=float, default=None,
                        help="Q_POLL_S of the ORM broker (default: the settings' own)")
    parser.add_argument("--no-polled", action="store_true", help="skip the polled (whole clip) column")
    parser.add_argument("--workers", type=int, default=2, help="the cluster's workers (bin/run's default: 2)")
    parser.add_argument("--json", default=harness.default_json("chat_latency"))
    args = parser.parse_args()

    poll_s = args.poll_s if args.poll_s is not None else harness.settings_poll_s()
    load_before = harness.load_average()
    emulator, ctl = harness.start_emulator()
    stack = harness.start_stack(emulator, broker=args.broker, poll_s=poll_s, workers=args.workers)
    results = {}
    try:
        for latency in args.latency_ms:
            results[latency] = measure(stack, ctl, latency, args.turns, not args.no_polled)
    finally:
        stack.stop()
        emulator.stop()
    load_after = harness.load_average()

    print("\nturns whose reply the provider spoke (stream / polled): "
          + ", ".join(f"{lat}ms {row['spoken']}/{row['polled_spoken']} of {row['turns']}" for lat, row in results.items()))
    columns = ["direct TTFB", "stream TTFB", "overhead", "polled whole", "overhead"]
    keys = ["direct", "stream", "stream_overhead", "polled", "polled_overhead"]
    harness.print_table(
        f"chat latency, broker={args.broker} (poll {poll_s} s), {args.turns} turns per row, ms (p50 / p95); "
        f"load {load_before} -> {load_after}",
        "emulator", columns, {f"{lat}ms": [row[k] for k in keys] for lat, row in results.items()})
    steps = list(next(iter(results.values()))["breakdown"])
    harness.print_table("where a streamed turn's time went, ms (p50 / p95)", "emulator", steps,
                        {f"{lat}ms": [row["breakdown"][s] for s in steps] for lat, row in results.items()})
    harness.write_json(args.json, {
        "bench": "chat_latency", "broker": args.broker, "poll_s": poll_s, "workers": args.workers,
        "turns": args.turns,
        "load_average": {"before": load_before, "after": load_after}, "command": " ".join(sys.argv),
        "results": results,
    })


if __name__ == "__main__":
    main()
