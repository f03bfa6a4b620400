"""The clip admin changelist and the staff clips API at 1k and at 100k clips: queries and time per page.

Run: .venv/bin/python bench/bench_clip_changelist.py [--small 1000] [--large 100000] [--repeat 5]

Builds a throw-away SQLite database (tables straight from the models) with 20 voices, clips spread over
90 days (a fifth pending, some flagged, a tenth used by promoted runs), then renders admin changelist
pages (unfiltered, a voice's pending generated clips, a quality-flag filter, unused clips, a text search)
and an API page, as a logged-in superuser through the test client. Reports the query count and the best
time of N runs at each size, and the large/small ratios: the query count must not grow with the table
(ratio 1.00); time grows only with what the database must scan for a filter. Prints only.
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
_tmp = tempfile.mkdtemp(prefix="bench-clips-")
os.environ["DATABASE_URL"] = f"sqlite:///{_tmp}/bench.sqlite3"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.apps import apps  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from clones.models import ClipSample, Voice, VoiceVersion  # noqa: E402
from retraining.models import RetrainRun, RetrainRunClip  # noqa: E402

FLAGS = [[], [], [], [], ["noisy"], ["clipped", "too_loud"], ["long_trailing_silence"], ["too_quiet"]]
WORDS = "bread flour water salt starter oven crust crumb proof knead morning bake loaf rye seed honey".split()


def create_tables() -> None:
    with connection.schema_editor() as editor:
        for model in apps.get_models():
            if model._meta.managed and not model._meta.proxy:
                editor.create_model(model)


def seed_voices(count: int):
    from django.contrib.auth import get_user_model

    owner = get_user_model().objects.create_user("owner", password="x")
    voices = []
    for i in range(count):
        voice = Voice.objects.create(owner=owner, name=f"Voice {i}", persona="p", status="ready")
        version = VoiceVersion.objects.create(voice=voice, number=1, provider_voice_id=f"pv{i:018d}", state="active")
        voice.current_version = version
        voice.save(update_fields=["current_version"])
        voices.append((voice, version))
    return voices


def add_clips(voices, count: int, start_index: int) -> None:
    rng = random.Random(start_index)
    now = timezone.now()
    batch = []
    for i in range(start_index, start_index + count):
        voice, version = voices[i % len(voices)]
        flags = FLAGS[i % len(FLAGS)]
        batch.append(ClipSample(
            voice=voice, source="generated", version=version,
            file=f"clone_responses/{voice.pk}/response_{i}.mp3", text=" ".join(rng.choices(WORDS, k=12)),
            duration_s=rng.uniform(2, 20), sample_rate=44100, size_bytes=rng.randint(30_000, 300_000),
            sha256=f"{i:064x}", loudness_lufs=rng.uniform(-30, -14), peak_dbfs=-2.0, clipping_ratio=0.0,
            speech_ratio=0.8, snr_db=30.0, quality_score=100 - 15 * len(flags), quality_flags=flags,
            analysed_at=now, lineage_depth=1,
            review_status=("pending", "approved", "approved", "approved", "rejected")[i % 5],
        ))
        if len(batch) == 5000:
            ClipSample.objects.bulk_create(batch)
            batch = []
    ClipSample.objects.bulk_create(batch)
    # Spread creation times over 90 days (auto_now_add set them all to now).
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ClipSample._meta.db_table} SET created_at = datetime(%s, '-' || (id %% 90) || ' days', "
            f"'-' || (id %% 86400) || ' seconds') WHERE id > %s",
            [now.strftime("%Y-%m-%d %H:%M:%S"), start_index],
        )
    # A tenth of the new approved clips were used by promoted runs, 50 clips per run.
    ids = list(ClipSample.objects.filter(id__gt=start_index, review_status="approved")
               .values_list("id", "voice_id")[: count // 10])
    links = []
    for offset in range(0, len(ids), 50):
        chunk = ids[offset:offset + 50]
        run = RetrainRun.objects.create(voice_id=chunk[0][1], state="promoted")
        links += [RetrainRunClip(run=run, clip_id=clip_id, role="generated", position=p)
                  for p, (clip_id, _) in enumerate(chunk)]
    RetrainRunClip.objects.bulk_create(links, batch_size=5000)


def measure(client: Client, url: str, repeat: int) -> tuple[int, float]:
    client.get(url)  # warm-up
    best = float("inf")
    queries = 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - start
        assert response.status_code == 200, (url, response.status_code)
        best = min(best, elapsed)
        queries = len(captured.captured_queries)
    return queries, best


def pages(voice_id) -> dict[str, str]:
    base = "/admin/clones/clipsample/"
    return {
        "admin: first page": base,
        "admin: voice pending generated": f"{base}?voice={voice_id}&source__exact=generated&review_status__exact=pending",
        "admin: flag=clipped": f"{base}?flag=clipped",
        "admin: unused approved": f"{base}?used=no&review_status__exact=approved",
        "admin: search 'crust'": f"{base}?q=crust",
        "admin: page 20": f"{base}?p=20",
        "api: first page (50)": "/api/v1/clips/",
        "api: voice pending": f"/api/v1/clips/?voice={voice_id}&review_status=pending",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    setup_test_environment()
    create_tables()
    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_superuser("staff", "staff@example.com", "x")
    client = Client()
    client.force_login(staff)
    voices = seed_voices(20)
    voice_id = voices[0][0].pk

    add_clips(voices, args.small, 0)
    small = {name: measure(client, url, args.repeat) for name, url in pages(voice_id).items()}
    start = time.perf_counter()
    add_clips(voices, args.large - args.small, args.small)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"seeded {args.large} clips in {time.perf_counter() - start:.1f} s "
          f"({ClipSample.objects.count()} rows, {RetrainRunClip.objects.count()} run links)")
    large = {name: measure(client, url, args.repeat) for name, url in pages(voice_id).items()}

    print(f"\n{'page':34} {'queries':>8} {'@' + str(args.small):>9} {'queries':>8} {'@' + str(args.large):>9}"
          f" {'q ratio':>8} {'t ratio':>8}")
    for name in small:
        (q1, t1), (q2, t2) = small[name], large[name]
        print(f"{name:34} {q1:>8} {t1 * 1000:>7.1f}ms {q2:>8} {t2 * 1000:>7.1f}ms {q2 / q1:>8.2f} {t2 / t1:>8.2f}")


if __name__ == "__main__":
    main()
