"""The retrain selection and the review queue order at 100, 1k and 10k candidate clips of one voice.

Run: .venv/bin/python bench/bench_selection.py [--sizes 100,1000,10000] [--repeat 3]

A throw-away SQLite database (tables from the models); one voice with 60 s of originals and N approved,
analysed generated clips (random prosody, texts from a small vocabulary so near-duplicates occur, spread
over 50 conversations), plus N/4 pending ones. Reports the best of N runs of `select_clips_for_retrain`
(queries, time, what it selected) and of the review-queue order, and the time ratio against the smallest
size. Prints only.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
_tmp = tempfile.mkdtemp(prefix="bench-selection-")
os.environ["DATABASE_URL"] = f"sqlite:///{_tmp}/bench.sqlite3"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.apps import apps  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from clones.models import ClipSample, Voice, VoiceVersion  # noqa: E402
from clones.services import select_clips_for_retrain  # noqa: E402
from clones.services.review_queue import review_queue_order  # noqa: E402
from conversations.models import Conversation, Message  # noqa: E402

WORDS = ("bread flour water salt starter oven crust crumb proof knead morning bake loaf rye seed honey "
         "butter sugar warm cold early late friend market town river").split()


def create_tables() -> None:
    with connection.schema_editor() as editor:
        for model in apps.get_models():
            if model._meta.managed and not model._meta.proxy:
                editor.create_model(model)


def make_voice(index: int, size: int) -> Voice:
    rng = random.Random(index)
    owner = get_user_model().objects.create_user(f"owner{index}", password="x")
    voice = Voice.objects.create(owner=owner, name=f"Voice {index}", persona="p", status="ready")
    version = VoiceVersion.objects.create(voice=voice, number=1, provider_voice_id=f"pv{index:018d}", state="active")
    voice.current_version = version
    voice.save(update_fields=["current_version"])
    now = timezone.now()
    common = {"voice": voice, "sample_rate": 44100, "analysed_at": now, "loudness_lufs": -20.0,
              "quality_flags": [], "speech_ratio": 0.8}
    ClipSample.objects.bulk_create(
        ClipSample(source="original", file=f"o/{index}/{i}", sha256=f"o{index}-{i}", duration_s=20.0,
                   size_bytes=400_000, review_status="approved", lineage_depth=0, **common)
        for i in range(3)
    )
    conversations = [Conversation.objects.create(user=owner, voice=voice) for _ in range(50)]
    total = size + size // 4
    clips = ClipSample.objects.bulk_create(
        ClipSample(
            source="generated", version=version, file=f"g/{index}/{i}", sha256=f"g{index}-{i}",
            text=" ".join(rng.choices(WORDS, k=rng.randint(5, 14))) + rng.choice([".", "?", "!"]),
            duration_s=rng.uniform(1.5, 40), size_bytes=rng.randint(30_000, 600_000),
            quality_score=rng.choice([100, 100, 95, 90, 85, 70]), pitch_median_hz=rng.uniform(110, 240),
            pitch_range_st=rng.uniform(1, 8), speaking_rate_cps=rng.uniform(9, 18),
            lineage_depth=rng.choice([1, 1, 2, 3]),
            review_status="approved" if i < size else "pending", **common,
        )
        for i in range(total)
    )
    Message.objects.bulk_create(
        Message(conversation=conversations[i % 50], role="assistant", text=c.text, clip=c, status="ready")
        for i, c in enumerate(clips)
    )
    return voice


def best_of(repeat: int, fn):
    fn()
    best, queries, result = float("inf"), 0, None
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            result = fn()
            best = min(best, time.perf_counter() - start)
        queries = len(captured.captured_queries)
    return best, queries, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    create_tables()

    rows = []
    for index, size in enumerate(int(s) for s in args.sizes.split(",")):
        voice = make_voice(index, size)
        t_sel, q_sel, selection = best_of(args.repeat, lambda: select_clips_for_retrain(voice=voice))
        t_queue, q_queue, queue = best_of(args.repeat, lambda: review_queue_order(voice=voice, limit=50))
        rows.append((size, t_sel, q_sel, selection, t_queue, q_queue, len(queue)))

    base_sel, base_queue = rows[0][1], rows[0][4]
    print(f"{'candidates':>10} {'select':>9} {'queries':>7} {'ratio':>6} {'picked':>6} {'total s':>8}"
          f" {'gen share':>9} {'queue':>9} {'queries':>7} {'ratio':>6}")
    for size, t_sel, q_sel, selection, t_queue, q_queue, _ in rows:
        print(f"{size:>10} {t_sel * 1000:>7.1f}ms {q_sel:>7} {t_sel / base_sel:>6.1f} {len(selection.generated):>6}"
              f" {selection.total_duration_s:>8.1f} {selection.generated_share:>9.2f}"
              f" {t_queue * 1000:>7.1f}ms {q_queue:>7} {t_queue / base_queue:>6.1f}")
    largest = rows[-1][3]
    print("\nexcluded at", rows[-1][0], {k: v for k, v in largest.excluded.items() if v})


if __name__ == "__main__":
    main()
