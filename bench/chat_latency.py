"""Time from sending a message to hearing the reply, against the provider's own time to first byte.

Run: .venv/bin/python bench/chat_latency.py [--turns 12] [--latency-ms 0 150 300] [--broker orm|redis]
                                            [--poll-s 0.5] [--json var/bench/chat_latency.json]

Starts the stack bin/run starts (uvicorn, a django-q2 cluster with one worker) on a fresh SQLite file,
against an emulator in this process, and for each emulator latency measures, turn by turn:

  direct   the provider's streaming TTS for the reply's own text, straight to the emulator through the
           SDK: request → first audio byte (what no app can beat)
  stream   POST the message → first audio byte on GET /api/v1/messages/{id}/stream/ (opened right after
           the POST answers)
  polled   POST → the whole clip, as clients had to before the stream endpoint: poll the message every
           50 ms until ready, then download /audio (the issue's "before" path, measured in the same run)

and prints p50/p95 of each and of the overheads stream−direct and polled−direct, in ms, then writes them
as JSON. Ratios in one run, on a noisy shared machine: compare columns, not runs. Asserts nothing.
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
_tmp = tempfile.mkdtemp(prefix="bench-latency-")
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
from voiceclone.emulator.control import EmulatorControl  # noqa: E402

TEXTS = [
    "Hello! How are you today?",
    "Can you tell me how sourdough starter works?",
    "What is your favourite kind of bread and why?",
    "Thanks, that was really helpful.",
]
POLL_EVERY_S = 0.05

# A benchmark client asks far faster than a person: the API's per-user limits are off.
NO_LIMITS = {"API_THROTTLE_USER": "", "CHAT_TURN_RATE": "off", "TTS_DAILY_CHARS_PER_USER": "0"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict:
    return {"p50": round(statistics.median(values), 1), "p95": round(percentile(values, 0.95), 1)}


def start_stack(emulator: EmulatorServer, broker: str, poll_s: float) -> LiveStack:
    env = {"Q_POLL_S": str(poll_s), **NO_LIMITS}
    if broker == "redis":
        import redis

        url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")
        redis.Redis.from_url(url).flushdb()
        env["REDIS_URL"] = url
    path = Path(_tmp) / f"stack-{broker}"
    path.mkdir(parents=True, exist_ok=True)
    stack = LiveStack(path, provider_url=emulator.url, env=env, cluster=True)
    return stack.start()


def measure(stack: LiveStack, ctl: EmulatorControl, latency_ms: int, turns: int) -> dict:
    voice_id = provider.create_voice(name=f"Bench {latency_ms}", files=[
        provider.AudioFile(filename="s.wav", content=wav_bytes(3, seed=11), content_type="audio/wav")])
    made = stack.scenario("conversation", f"bench{latency_ms}", voice_id)
    ctl.configure(latency_ms=latency_ms)
    http = httpx.Client(base_url=stack.urls[0], headers={"Authorization": f"Token {made['token']}"}, timeout=60)
    messages_url = f"/api/v1/conversations/{made['conversation']}/messages/"
    rows = {"direct": [], "stream": [], "polled": []}
    for turn in range(turns + 1):  # the first turn warms every connection and cache up; not counted
        text = TEXTS[turn % len(TEXTS)]
        # After: POST, then the stream endpoint at once; time to its first byte.
        started = time.perf_counter()
        reply = http.post(messages_url, json={"text": text}).json()["assistant_message"]["id"]
        with http.stream("GET", f"/api/v1/messages/{reply}/stream/") as response:
            chunks = response.iter_raw()
            next(chunks)
            stream_ms = (time.perf_counter() - started) * 1000
            for _ in chunks:
                pass
        reply_text = http.get(f"/api/v1/messages/{reply}/").json()["text"]

        # Before: POST, poll until ready, download the whole clip.
        started = time.perf_counter()
        reply = http.post(messages_url, json={"text": text + " "}).json()["assistant_message"]["id"]
        while http.get(f"/api/v1/messages/{reply}/").json()["status"] == "pending":
            time.sleep(POLL_EVERY_S)
        http.get(f"/api/v1/messages/{reply}/audio", follow_redirects=True).read()
        polled_ms = (time.perf_counter() - started) * 1000

        # The provider alone: streaming TTS of the reply's text, to its first byte.
        started = time.perf_counter()
        with provider.tts_stream(voice_id=voice_id, text=reply_text) as stream:
            iterator = iter(stream)
            next(iterator)
            direct_ms = (time.perf_counter() - started) * 1000
            for _ in iterator:
                pass
        if turn:
            rows["direct"].append(direct_ms)
            rows["stream"].append(stream_ms)
            rows["polled"].append(polled_ms)
    http.close()
    result = {name: summary(values) for name, values in rows.items()}
    result["stream_overhead"] = summary([s - d for s, d in zip(rows["stream"], rows["direct"])])
    result["polled_overhead"] = summary([p - d for p, d in zip(rows["polled"], rows["direct"])])
    return result


def main() -> None:
    logging.disable(logging.INFO)
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 150, 300])
    parser.add_argument("--broker", choices=["orm", "redis"], default="orm")
    parser.add_argument("--poll-s", type=float, default=0.5, help="Q_POLL_S of the ORM broker (default 0.5, the setting's)")
    parser.add_argument("--json", default=str(Path(settings.BASE_DIR) / "var" / "bench" / "chat_latency.json"))
    args = parser.parse_args()

    emulator = EmulatorServer(host="127.0.0.1", port=0, voice_limit=30).start()
    settings.ELEVENLABS_BASE_URL = emulator.url
    ctl = EmulatorControl(emulator.url)
    stack = start_stack(emulator, args.broker, args.poll_s)
    results = {}
    try:
        for latency in args.latency_ms:
            results[latency] = measure(stack, ctl, latency, args.turns)
    finally:
        stack.stop()
        emulator.stop()

    print(f"\nchat latency, broker={args.broker}, {args.turns} turns per row, ms (p50 / p95)")
    print(f"{'emulator':>9} | {'direct TTFB':>13} | {'stream TTFB':>13} | {'overhead':>13} | "
          f"{'polled whole':>13} | {'overhead':>13}")
    for latency, row in results.items():
        cells = [row[k] for k in ("direct", "stream", "stream_overhead", "polled", "polled_overhead")]
        print(f"{latency:>7}ms | " + " | ".join(f"{c['p50']:>6.0f}/{c['p95']:<6.0f}" for c in cells))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"broker": args.broker, "turns": args.turns, "results": results}, indent=2))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
