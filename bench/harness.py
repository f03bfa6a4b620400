"""What the chat benchmarks share: start-up, the live stack, the direct provider call, percentiles, tables.

Import it first, before anything that touches Django:

    from bench import harness
    harness.setup("bench-latency-")   # a fresh SQLite file for this process, then django.setup()

then import the project. The stack is the one bin/run starts (uvicorn, a django-q2 cluster) on its own
SQLite file, against an emulator in this process (`tests.live.LiveStack`). The broker's poll interval is
the settings' default unless a bench says otherwise, so a run measures the product as configured.

`turn_timeline` reads, from the stack's database, where one turn's time went: the outbox events the turn
writes (`message.pending` in the POST's transaction, `message.text_ready`, `message.audio_streaming`,
`message.ready`) and the message's own timing of its reply text (`reply_ms`), which places the
worker's pickup. No instrumentation in the product is needed; it is what the product already records.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TMP = ""

TEXTS = [
    "Hello! How are you today?",
    "Can you tell me how sourdough starter works?",
    "What is your favourite kind of bread and why?",
    "Thanks, that was really helpful.",
]
# Topics for the latency benches' turns: the offline responder names a message's topic, so distinct topics
# give distinct replies, which the provider must speak (an identical earlier render would be reused).
TOPICS = ["rye starter", "oat porridge", "lemon tart", "plum jam", "barley loaf", "fig cake", "pear crumble",
          "walnut bread", "cherry pie", "ginger biscuit", "apple strudel", "carrot soup", "onion tart",
          "honey cake", "spelt roll", "potato scone", "cheese scone", "malt loaf", "seed bread", "corn bread"]
TOPIC_VERBS = ["Tell me about the", "What do you think about the", "I love making the", "Can you tell me about the"]


def text_for(turn: int, salt: int = 0, *, again: bool = False) -> str:
    """A message for a latency turn whose reply differs from the others' (see TOPICS)."""
    n = turn * 2 + (1 if again else 0) + salt
    return f"{TOPIC_VERBS[n % len(TOPIC_VERBS)]} {TOPICS[n % len(TOPICS)]}."

# A benchmark client asks far faster than a person: the API's per-user limits are off.
NO_LIMITS = {"API_THROTTLE_USER": "", "CHAT_TURN_RATE": "off", "TTS_DAILY_CHARS_PER_USER": "0"}


def setup(prefix: str, *, client: bool = True) -> str:
    """Point this process at a fresh SQLite file under a new temporary directory and start Django. A `client`
    process (it drives a stack) records no provider usage of its own."""
    global TMP
    sys.path.insert(0, str(ROOT))
    TMP = tempfile.mkdtemp(prefix=prefix)
    os.environ["DATABASE_URL"] = f"sqlite:///{TMP}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import logging

    import django

    django.setup()
    logging.disable(logging.INFO)
    # This process is the client: its direct provider calls are not a user's, and its own database holds no
    # ledger (the stack's processes keep theirs).
    if client:
        from voiceclone.provider import usage

        usage._listeners.clear()
    return TMP


# --- numbers -----------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p95": None}
    return {"p50": round(statistics.median(values), 1), "p95": round(percentile(values, 0.95), 1)}


def cell(s: dict) -> str:
    if s.get("p50") is None:
        return f"{'-':>13}"
    return f"{s['p50']:>6.0f}/{s['p95']:<6.0f}"


def print_table(title: str, first: str, columns: list[str], rows: dict[str, list[dict]]) -> None:
    """A p50/p95 table: one row per key, one column per summary."""
    print(f"\n{title}")
    print(f"{first:>9} | " + " | ".join(f"{c:>13}" for c in columns))
    for key, cells in rows.items():
        print(f"{key:>9} | " + " | ".join(cell(c) for c in cells))


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def write_json(path: str | Path, data: dict) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2))
    print(f"written: {out}")
    return out


def default_json(name: str) -> str:
    return str(ROOT / "var" / "bench" / f"{name}.json")


# --- the stack ---------------------------------------------------------------------------------------


def settings_poll_s() -> float | None:
    """The ORM broker's poll interval as the settings give it (None with a Redis broker)."""
    from django.conf import settings

    return settings.Q_CLUSTER.get("poll")


def start_emulator():
    from django.conf import settings

    from voiceclone.emulator import EmulatorServer
    from voiceclone.emulator.control import EmulatorControl

    emulator = EmulatorServer(host="127.0.0.1", port=0, voice_limit=30).start()
    settings.ELEVENLABS_BASE_URL = emulator.url
    return emulator, EmulatorControl(emulator.url)


def redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")


def start_stack(emulator, *, broker: str = "orm", poll_s: float | None = None, workers: int = 1, name: str = ""):
    """The stack bin/run starts, on its own SQLite file. The ORM broker polls every `poll_s` (default: the
    settings' own interval; LiveStack's test default is not the product's)."""
    from tests.live import LiveStack

    poll = poll_s if poll_s is not None else settings_poll_s()
    env = {"Q_WORKERS": str(workers), **NO_LIMITS}
    if poll is not None:
        env["Q_POLL_S"] = str(poll)
    if broker == "redis":
        import redis

        redis.Redis.from_url(redis_url()).flushdb()
        env["REDIS_URL"] = redis_url()
    path = Path(TMP) / f"stack-{name or broker}"
    path.mkdir(parents=True, exist_ok=True)
    return LiveStack(path, provider_url=emulator.url, env=env, cluster=True).start()


def bench_voice(name: str, seed: int) -> str:
    """A provider voice at the emulator (its id)."""
    from tests.audio import wav_bytes
    from voiceclone import provider

    return provider.create_voice(name=name, files=[
        provider.AudioFile(filename="s.wav", content=wav_bytes(3, seed=seed), content_type="audio/wav")])


def direct_first_byte_ms(voice_id: str, text: str) -> float:
    """The provider alone: streaming TTS of `text` through the SDK, request → first audio byte (ms); the rest
    is read and dropped.

    The emulator keeps rendered parts (deterministic output), so asking for the very text the worker just
    spoke would answer from that cache and time no synthesis at all. The text is sent with its letters'
    case swapped: the same length, clauses and work, not yet rendered.
    """
    from voiceclone import provider

    started = time.perf_counter()
    with provider.tts_stream(voice_id=voice_id, text=text.swapcase()) as stream:
        chunks = iter(stream)
        next(chunks)
        elapsed = (time.perf_counter() - started) * 1000
        for _ in chunks:
            pass
    return elapsed


# --- where a turn's time went ------------------------------------------------------------------------


def _ts(value: str) -> float:
    value = value.replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(value[:26], fmt).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    raise ValueError(value)


def turn_timeline(stack, message_id: str) -> dict[str, float]:
    """Wall-clock times (epoch s) of one reply's steps, from the stack's SQLite database: `pending` (the
    POST's transaction), `started` (a worker picked the task up: text_ready − reply_ms), `text_ready`, `audio_streaming`, `ready`."""
    db = sqlite3.connect(stack.env["DATABASE_URL"].removeprefix("sqlite:///"), timeout=10)
    try:
        marks = {}
        for kind, created in db.execute(
                "SELECT type, created_at FROM events_event WHERE type LIKE 'message.%' AND payload LIKE ?",
                (f'%"message_id": "{message_id}"%',)):
            marks[kind.removeprefix("message.")] = _ts(created)
        # django-q2 records a task's enqueue time, not its pickup; the message records how long writing
        # the reply took (reply_ms, up to its text_ready event), so the worker began that long before.
        row = db.execute("SELECT reply_ms FROM conversations_message WHERE id = ?",
                         (message_id.replace("-", ""),)).fetchone()
        if row and row[0] is not None and "text_ready" in marks:
            marks["started"] = marks["text_ready"] - row[0] / 1000
        return marks
    finally:
        db.close()


STEPS = [  # (name, from, to): consecutive parts of a turn
    ("queue", "pending", "started"),
    ("reply text", "started", "text_ready"),
    ("TTS 1st chunk", "text_ready", "audio_streaming"),
]


def spoken(marks: dict) -> bool:
    """Whether the provider spoke the reply (its audio streamed) rather than an identical render being reused."""
    return "audio_streaming" in marks


def breakdown(timelines: list[dict], posted: list[float], first_bytes: list[float]) -> dict:
    """p50/p95 of each step of the turns, plus `POST` (client send → pending row) and `to listener`
    (audio_streaming → the client's first byte)."""
    parts: dict[str, list[float]] = {"POST": [], **{name: [] for name, _, _ in STEPS}, "to listener": []}
    for marks, sent, first in zip(timelines, posted, first_bytes):
        if "pending" in marks:
            parts["POST"].append((marks["pending"] - sent) * 1000)
        for name, a, b in STEPS:
            if a in marks and b in marks:
                parts[name].append((marks[b] - marks[a]) * 1000)
        if first is not None and "audio_streaming" in marks:
            parts["to listener"].append((first - marks["audio_streaming"]) * 1000)
    return {name: summary(values) for name, values in parts.items()}
