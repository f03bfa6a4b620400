"""Scale of data (issue 13 item 4): seed up to 1,000,000 clips in bulk, then time the staff screens and reads.

Run (PostgreSQL, the size the targets are set for; a database of its own, it is filled):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scale .venv/bin/python bench/scale.py
A quick run on any database, SQLite included:
    DATABASE_URL=sqlite:////tmp/scale.sqlite3 .venv/bin/python bench/scale.py --clips 20000

The database is migrated, then seeded (PostgreSQL: COPY; elsewhere bulk_create in batches) unless it
already holds the seeded rows (`--reseed` empties the seeded tables first). The rows:
- one owner per voice, about one voice per 1,000 clips, three consented originals each;
- two voices sized for the selection: "sel-100k" with 100,000 approved, unused, analysed candidates in
  the retrain window (plus a quarter as many pending, some rejected and some used), "sel-10k" with
  10,000; the other clips go to the other voices by a Zipf-like weight, spread over 365 days;
- review statuses 55 % approved, 30 % pending, 15 % rejected; 3 % not analysed; quality flags on a
  quarter of the analysed clips (JSON lists, one or two flags, `undecodable` rare); lineage depth 1–3;
- conversations of about 40 replies, each reply a user message plus an assistant message holding the
  clip; a tenth of the approved clips used by promoted runs (50 clips a run), a few rejected runs.

Then, as a logged-in superuser through Django's test client (the whole request: middleware, view,
template or serializer), the median of `--repeat` runs and the query count of: the clip admin
changelist (default page, every list filter, search, unused + approved), the staff clips API, the
review queue (page and service), the eligibility scan (per voice, at two sizes), the selection for
one voice at 10,000 and 100,000 candidates, and the messages-list API. Prints a table; writes JSON
to bench/results/scale-<clips>-<vendor>-<time>.json. Not a test: figures only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

FULL_SIZE = 1_000_000
FLAG_CHOICES = [
    ["noisy"], ["clipped"], ["too_quiet"], ["too_loud"], ["long_trailing_silence"], ["long_leading_silence"],
    ["clipped", "too_loud"], ["noisy", "too_quiet"], ["too_short"], ["mostly_silence"], ["too_long"],
]
WORDS = ("bread flour water salt starter oven crust crumb proof knead morning bake loaf rye seed honey butter "
         "sugar warm cold early late friend market town river garden window kettle letter story").split()
RARE_WORD = "zephyr"  # in one clip text of 10,000: a selective search


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=FULL_SIZE, help="generated clips to seed (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the median is reported")
    parser.add_argument("--reseed", action="store_true", help="empty the seeded tables and seed again")
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--label", default="", help="a word for the results file name (e.g. before, after)")
    parser.add_argument("--only", default="",
                        help="comma-separated sections: admin,api,queue,selection,scan,messages,fingerprint")
    return parser.parse_args()


ARGS = parse_args()
if not os.environ.get("DATABASE_URL"):
    sys.exit("Set DATABASE_URL (a database of its own: the bench fills it).")
if ARGS.clips >= FULL_SIZE and not os.environ["DATABASE_URL"].startswith(("postgres", "pgsql")):
    sys.exit("1,000,000 clips is a PostgreSQL measurement: set DATABASE_URL=postgres://… or pass --clips N.")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.management.color import no_style  # noqa: E402
from django.db import connection, models, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from clones.models import ClipSample, Voice, VoiceVersion  # noqa: E402
from conversations.models import Conversation, Message  # noqa: E402
from retraining.models import RetrainRun, RetrainRunClip  # noqa: E402

User = get_user_model()
IS_PG = connection.vendor == "postgresql"


# --- bulk writing ------------------------------------------------------------------------------------------


def _blank(field):
    if field.has_default():
        return field.get_default()
    if field.null or field.is_relation:
        return None  # a foreign key without a default: every row gives it
    if isinstance(field, (models.CharField, models.TextField, models.FileField)):
        return ""
    if isinstance(field, models.BooleanField):
        return False
    if isinstance(field, (models.DateTimeField,)):
        return timezone.now()
    if isinstance(field, (models.IntegerField, models.FloatField)):
        return 0
    raise ValueError(f"no value for {field}")


class Writer:
    """Rows as {attname: value}; the fields not given get their default. COPY on PostgreSQL."""

    BATCH = 5000

    def __init__(self, model):
        self.model = model
        self.fields = [f for f in model._meta.concrete_fields]
        self.blank = {f.attname: _blank(f) for f in self.fields if not f.primary_key or f.has_default()}
        self.count = 0

    def write(self, rows) -> int:
        if IS_PG:
            self._copy(rows)
        else:
            batch = []
            for row in rows:
                batch.append(self.model(**{**self.blank, **row}))
                if len(batch) >= self.BATCH:
                    self.model.objects.bulk_create(batch)
                    self.count += len(batch)
                    batch = []
            self.model.objects.bulk_create(batch)
            self.count += len(batch)
        return self.count

    def _copy(self, rows) -> None:
        columns = [f for f in self.fields]
        names = ", ".join(connection.ops.quote_name(f.column) for f in columns)
        json_fields = {f.attname for f in columns if isinstance(f, models.JSONField)}
        blank = {k: (json.dumps(v) if k in json_fields else v) for k, v in self.blank.items()}
        with connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy(f"COPY {self.model._meta.db_table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    values = []
                    for f in columns:
                        if f.attname in row:
                            value = row[f.attname]
                            if f.attname in json_fields:
                                value = json.dumps(value)
                        else:
                            value = blank.get(f.attname)
                        values.append(value)
                    copy.write_row(values)
                    self.count += 1


def reset_sequences(models_):
    if not IS_PG:
        return
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models_):
            cursor.execute(sql)


# --- the plan of the data ----------------------------------------------------------------------------------


class Plan:
    """Deterministic: the same arguments give the same rows, so clips and messages are generated in two
    passes without holding a million rows in memory."""

    def __init__(self, clips: int):
        self.clips = clips
        self.voice_count = max(20, clips // 1000)
        self.big = min(100_000, clips // 10)
        self.medium = min(10_000, clips // 100)
        self.now = timezone.now().replace(microsecond=0)
        rng = random.Random(7)
        # Voice 0: the 100k-candidate voice, voice 1: the 10k one. Their pools are approved candidates plus
        # a quarter as many pending, a tenth rejected and 5 % used.
        self.sizes = [0] * self.voice_count
        self.sizes[0] = self.big + self.big // 4 + self.big // 10 + self.big // 20
        self.sizes[1] = self.medium + self.medium // 4 + self.medium // 10 + self.medium // 20
        rest = clips - self.sizes[0] - self.sizes[1]
        weights = [1 / (rank ** 0.8) for rank in range(1, self.voice_count - 1)]
        rng.shuffle(weights)
        total = sum(weights)
        for i, w in enumerate(weights, start=2):
            self.sizes[i] = int(rest * w / total)
        self.sizes[2] += clips - sum(self.sizes)
        self.user_ids = list(range(1_000_001, 1_000_001 + self.voice_count))
        self.voice_ids = [uuid.UUID(int=(7 << 96) + i) for i in range(self.voice_count)]
        self.version_ids = list(range(1_000_001, 1_000_001 + self.voice_count))
        self.first_clip_id = 1_000_001
        # Conversations: about 40 replies each.
        self.conversation_counts = [max(1, size // 40) for size in self.sizes]

    def conversation_id(self, voice: int, index: int) -> uuid.UUID:
        return uuid.UUID(int=(8 << 96) + (voice << 32) + index)

    def clips_plan(self):
        """Yields (clip_id, voice index, conversation index, row dict) for every generated clip, then the
        originals as (clip_id, voice index, None, row)."""
        clip_id = self.first_clip_id
        for v, size in enumerate(self.sizes):
            rng = random.Random(1000 + v)
            special = v < 2
            candidates = (self.big if v == 0 else self.medium) if special else 0
            for i in range(size):
                row = self._clip(rng, v, clip_id, i, special=special, candidates=candidates)
                yield clip_id, v, i % self.conversation_counts[v], row
                clip_id += 1
        for v in range(self.voice_count):
            for k in range(3):
                yield clip_id, v, None, {
                    "id": clip_id, "voice_id": self.voice_ids[v], "source": "original",
                    "file": f"originals/{self.voice_ids[v]}/take{k}.wav", "original_filename": f"take{k}.wav",
                    "content_type": "audio/wav", "duration_s": 20.0, "sample_rate": 44100, "size_bytes": 1_760_000,
                    "sha256": f"{clip_id:064x}", "review_status": "approved", "quality_score": 95.0,
                    "quality_flags": [], "analysed_at": self.now - timedelta(days=400), "lineage_depth": 0,
                    "loudness_lufs": -20.0, "pitch_median_hz": 150.0, "pitch_range_st": 5.0, "speaking_rate_cps": 13.0,
                    "created_at": self.now - timedelta(days=400),
                }
                clip_id += 1

    def _clip(self, rng, v, clip_id, i, *, special, candidates):
        if special:
            # approved candidates in the window, then pending, rejected, used (approved, marked later).
            if i < candidates:
                status = "approved"
            elif i < candidates + candidates // 4:
                status = "pending"
            elif i < candidates + candidates // 4 + candidates // 10:
                status = "rejected"
            else:
                status = "approved"
            age = timedelta(seconds=rng.uniform(0, 29 * 86400))
            analysed = True
            flags = [] if i < candidates or rng.random() < 0.75 else rng.choice(FLAG_CHOICES)
        else:
            r = rng.random()
            status = "approved" if r < 0.55 else ("pending" if r < 0.85 else "rejected")
            age = timedelta(seconds=rng.uniform(0, 365 * 86400))
            analysed = rng.random() >= 0.03
            r = rng.random()
            flags = [] if r < 0.75 else (["undecodable"] if r < 0.7501 else rng.choice(FLAG_CHOICES))
        if not analysed:
            flags = []
        words = rng.choices(WORDS, k=rng.randint(6, 18))
        if rng.random() < 0.0001:
            words.insert(rng.randrange(len(words)), RARE_WORD)
        text = " ".join(words).capitalize() + rng.choice([".", ".", ".", "?", "!"])
        duration = rng.uniform(1.5, 30.0)
        lineage = rng.choices([1, 2, 3], weights=[70, 20, 10])[0]
        created = self.now - age
        row = {
            "id": clip_id, "voice_id": self.voice_ids[v], "source": "generated", "version_id": self.version_ids[v],
            "file": f"clone_responses/{self.voice_ids[v]}/response_{clip_id}.mp3", "text": text,
            "duration_s": duration, "sample_rate": 44100, "size_bytes": int(duration * 16_000 * rng.uniform(0.9, 1.1)),
            "sha256": f"{clip_id:064x}", "review_status": status, "lineage_depth": lineage,
            "is_lineage_unknown": rng.random() < 0.005, "created_at": created,
            "provider_request_id": f"req-{clip_id}", "character_cost": len(text),
        }
        if status != "pending":
            row["reviewed_at"] = created + timedelta(hours=1)
        if analysed:
            score = 100.0 - 15 * len(flags) - rng.choice([0, 0, 0, 5, 10, 15])
            row.update({
                "analysed_at": created + timedelta(seconds=5), "quality_flags": flags, "quality_score": score,
                "loudness_lufs": rng.uniform(-30, -14), "peak_dbfs": rng.uniform(-6, -0.5),
                "clipping_ratio": rng.choice([0.0, 0.0, 0.0, 0.0005, 0.002]), "leading_silence_s": rng.uniform(0, 0.6),
                "trailing_silence_s": rng.uniform(0, 0.9), "speech_ratio": rng.uniform(0.5, 0.95),
                "snr_db": rng.uniform(12, 40), "pitch_median_hz": rng.uniform(110, 240),
                "pitch_range_st": rng.uniform(1, 8), "energy_range_db": rng.uniform(6, 20),
                "speaking_rate_cps": rng.uniform(9, 18),
            })
        return row


def seed(plan: Plan) -> dict:
    timings = {}
    if IS_PG:
        # A scratch database: skip the foreign-key triggers while copying (the plan is consistent by
        # construction), or PostgreSQL queues a deferred check per row until commit.
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
    start = time.perf_counter()
    with transaction.atomic():
        Writer(User).write(
            {"id": uid, "username": f"owner{uid}", "password": "!", "is_active": True, "date_joined": plan.now}
            for uid in plan.user_ids
        )
        Writer(Voice).write(
            {"id": plan.voice_ids[v], "owner_id": plan.user_ids[v], "name": f"Voice {v:04d}" if v > 1 else
             ("sel-100k", "sel-10k")[v], "persona": "A cheerful baker.", "status": "ready",
             "created_at": plan.now - timedelta(days=400), "updated_at": plan.now}
            for v in range(plan.voice_count)
        )
        Writer(VoiceVersion).write(
            {"id": plan.version_ids[v], "voice_id": plan.voice_ids[v], "number": 1,
             "provider_voice_id": f"pv{v:018d}", "state": "active", "training_lineage_depth": 0,
             "created_at": plan.now - timedelta(days=400)}
            for v in range(plan.voice_count)
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Voice._meta.db_table} SET current_version_id = v.id FROM {VoiceVersion._meta.db_table} v "
                f"WHERE v.voice_id = {Voice._meta.db_table}.id" if IS_PG else
                f"UPDATE {Voice._meta.db_table} SET current_version_id = (SELECT v.id FROM "
                f"{VoiceVersion._meta.db_table} v WHERE v.voice_id = {Voice._meta.db_table}.id)"
            )
        Writer(Conversation).write(
            {"id": plan.conversation_id(v, c), "user_id": plan.user_ids[v], "voice_id": plan.voice_ids[v],
             "title": f"Chat {c}", "created_at": plan.now - timedelta(days=366), "updated_at": plan.now}
            for v in range(plan.voice_count) for c in range(plan.conversation_counts[v])
        )
    timings["users_voices_conversations_s"] = time.perf_counter() - start

    start = time.perf_counter()
    with transaction.atomic():
        n = Writer(ClipSample).write(row for _, _, _, row in plan.clips_plan())
    timings["clips_s"] = time.perf_counter() - start
    print(f"  {n} clips in {timings['clips_s']:.1f} s", flush=True)

    start = time.perf_counter()

    def messages():
        for clip_id, v, conv, row in plan.clips_plan():
            if conv is None:
                continue
            user_msg = uuid.UUID(int=(9 << 96) + clip_id)
            conversation = plan.conversation_id(v, conv)
            yield {"id": user_msg, "conversation_id": conversation, "role": "user", "text": "Tell me about bread.",
                   "status": "ready", "created_at": row["created_at"] - timedelta(seconds=3),
                   "updated_at": row["created_at"]}
            yield {"id": uuid.UUID(int=(10 << 96) + clip_id), "conversation_id": conversation, "role": "assistant",
                   "text": row["text"], "status": "ready", "in_reply_to_id": user_msg, "clip_id": clip_id,
                   "voice_version_id": plan.version_ids[v], "reply_engine": "offline", "reply_ms": 40,
                   "tts_ms": 900, "total_ms": 950, "created_at": row["created_at"] - timedelta(seconds=1),
                   "updated_at": row["created_at"], "completed_at": row["created_at"]}

    with transaction.atomic():
        n = Writer(Message).write(messages())
    timings["messages_s"] = time.perf_counter() - start
    print(f"  {n} messages in {timings['messages_s']:.1f} s", flush=True)

    start = time.perf_counter()
    runs, links = seed_runs(plan)
    timings["runs_s"] = time.perf_counter() - start
    if IS_PG:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")
    print(f"  {runs} runs, {links} run links in {timings['runs_s']:.1f} s", flush=True)
    reset_sequences([User, VoiceVersion, ClipSample, RetrainRun, RetrainRunClip])
    start = time.perf_counter()
    analyse()
    timings["analyse_s"] = time.perf_counter() - start
    return timings


def seed_runs(plan: Plan) -> tuple[int, int]:
    """A tenth of the approved generated clips of the ordinary voices, and the tail of the special voices'
    approved clips, used by promoted runs (50 a run); one rejected run for every tenth voice."""
    used_by_voice: dict[int, list[int]] = {}
    rejected_by_voice: dict[int, list[int]] = {}
    rng = random.Random(3)
    for clip_id, v, conv, row in plan.clips_plan():
        if conv is None or row["review_status"] != "approved":
            continue
        special_used = v < 2 and conv is not None and clip_id >= _used_start(plan, v)
        if special_used or (v >= 2 and rng.random() < 0.1):
            used_by_voice.setdefault(v, []).append(clip_id)
        elif v >= 2 and v % 10 == 0 and len(rejected_by_voice.get(v, [])) < 50:
            rejected_by_voice.setdefault(v, []).append(clip_id)
    run_rows, link_rows = [], []
    run_id = 1_000_001
    link_id = 1_000_001
    for state, by_voice in (("promoted", used_by_voice), ("rejected", rejected_by_voice)):
        for v, ids in by_voice.items():
            for offset in range(0, len(ids), 50):
                run_rows.append({"id": run_id, "voice_id": plan.voice_ids[v], "state": state, "strategy": "recreate",
                                 "created_at": plan.now - timedelta(days=30), "updated_at": plan.now,
                                 "finished_at": plan.now - timedelta(days=29)})
                for p, c in enumerate(ids[offset:offset + 50]):
                    link_rows.append({"id": link_id, "run_id": run_id, "clip_id": c, "role": "generated",
                                      "position": p, "use_s": 10.0})
                    link_id += 1
                run_id += 1
    with transaction.atomic():
        Writer(RetrainRun).write(run_rows)
        Writer(RetrainRunClip).write(link_rows)
    return len(run_rows), len(link_rows)


def _used_start(plan: Plan, v: int) -> int:
    """First id of the special voice's used clips (its last 5 %)."""
    start = plan.first_clip_id + sum(plan.sizes[:v])
    candidates = plan.big if v == 0 else plan.medium
    return start + candidates + candidates // 4 + candidates // 10


def analyse() -> None:
    with connection.cursor() as cursor:
        if IS_PG:
            # Autovacuum would get there; the bench wants the visibility map and statistics now.
            for model in (User, Voice, VoiceVersion, Conversation, Message, ClipSample, RetrainRun, RetrainRunClip):
                cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
        else:
            cursor.execute("ANALYZE")


def seeded_count() -> int:
    return ClipSample.objects.filter(id__gte=1_000_001).count()


def unseed() -> None:
    with connection.cursor() as cursor:
        tables = [m._meta.db_table for m in (RetrainRunClip, RetrainRun, Message, Conversation, ClipSample)]
        if IS_PG:
            cursor.execute(f"UPDATE {Voice._meta.db_table} SET current_version_id = NULL")
            cursor.execute(f"TRUNCATE {', '.join(tables)}, {VoiceVersion._meta.db_table}, "
                           f"{Voice._meta.db_table} CASCADE")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")
            cursor.execute(f"UPDATE {Voice._meta.db_table} SET current_version_id = NULL")
            cursor.execute(f"DELETE FROM {VoiceVersion._meta.db_table}")
            cursor.execute(f"DELETE FROM {Voice._meta.db_table}")
    User.objects.filter(id__gte=1_000_001).delete()


def fingerprint_size(clips: int = 1000, seconds: float = 10.0, per_second: int = 98) -> dict:
    """Bytes the landmark table takes per clip on PostgreSQL (issue 13): `clips` fingerprints of `seconds`
    of audio at `per_second` landmarks (random 21-bit hashes, inserted through the table's indexes as the
    service does), measured inside a transaction that is rolled back, extrapolated to a million clips."""
    from clones.models import GeneratedAudio
    from fidelity.models import AudioFingerprint, FingerprintLandmark

    rng = random.Random(11)
    per_clip = int(seconds * per_second)
    frames = int(seconds / 0.016)
    table = FingerprintLandmark._meta.db_table
    with transaction.atomic():
        start = GeneratedAudio.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        Writer(GeneratedAudio).write({"id": start + 1 + i, "sha256": f"fp{start + 1 + i:062x}",
                                      "created_at": timezone.now()} for i in range(clips))
        fp_start = AudioFingerprint.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        Writer(AudioFingerprint).write({"id": fp_start + 1 + i, "generated_audio_id": start + 1 + i,
                                        "duration_s": seconds, "landmark_count": per_clip, "version": 1,
                                        "created_at": timezone.now()} for i in range(clips))
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_total_relation_size(%s)", [table])
            before = cursor.fetchone()[0]
        Writer(FingerprintLandmark).write(
            {"hash": h, "fingerprint_id": fp_start + 1 + i, "anchor_frame": f}
            for i in range(clips)
            # Up to FANOUT landmarks share an anchor frame; (hash, anchor) pairs are the primary key.
            for h, f in sorted({(rng.getrandbits(21), rng.randrange(frames)) for _ in range(per_clip)},
                               key=lambda hf: hf[1])
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_total_relation_size(%s), pg_relation_size(%s)", [table, table])
            total, heap = cursor.fetchone()
        transaction.set_rollback(True)
    total -= before
    rows = clips * per_clip
    return {"clips": clips, "landmarks_per_clip": per_clip, "bytes_per_landmark": round(total / rows, 1),
            "heap_bytes_per_landmark": round(heap / rows, 1), "bytes_per_clip": round(total / clips),
            "gb_at_1m_clips": round(total / clips * 1_000_000 / 1e9, 1)}


# --- measuring ---------------------------------------------------------------------------------------------


def measure(fn, repeat: int) -> dict:
    fn()  # warm-up: caches, the planner's statistics, imports
    times, sql_times, queries = [], [], 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        queries = len(captured.captured_queries)
        sql_times.append(sum(float(q["time"]) for q in captured.captured_queries))
    # sql_ms: the database's share (time spent waiting on queries); the rest is Python (view, template).
    return {"ms": round(statistics.median(times) * 1000, 1), "min_ms": round(min(times) * 1000, 1),
            "sql_ms": round(statistics.median(sql_times) * 1000, 1), "queries": queries}


def get(client: Client, url: str):
    def fn():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        # A TemplateResponse renders lazily: the test client has rendered it by now.
        return response
    return fn


def main() -> None:
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    plan = Plan(ARGS.clips)
    result = {"clips": ARGS.clips, "vendor": connection.vendor, "repeat": ARGS.repeat, "label": ARGS.label,
              "measured_at": timezone.now().isoformat(), "load_average_at_start": os.getloadavg(), "results": {}}
    if ARGS.reseed and seeded_count():
        print("emptying the seeded tables…", flush=True)
        unseed()
    if not seeded_count():
        print(f"seeding {ARGS.clips} clips over {plan.voice_count} voices…", flush=True)
        start = time.perf_counter()
        result["seed"] = seed(plan)
        print(f"seeded in {time.perf_counter() - start:.0f} s", flush=True)
    else:
        print(f"reusing {seeded_count()} seeded clips", flush=True)
    if ARGS.seed_only:
        return
    if IS_PG:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_total_relation_size(%s), pg_relation_size(%s)",
                           [ClipSample._meta.db_table, ClipSample._meta.db_table])
            total, heap = cursor.fetchone()
        result["clip_table_bytes"] = {"total_with_indexes": total, "heap": heap}

    staff, _ = User.objects.get_or_create(username="scale-staff", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(staff)
    big = Voice.objects.get(pk=plan.voice_ids[0])
    medium = Voice.objects.get(pk=plan.voice_ids[1])
    sha = f"{plan.first_clip_id + 12345:064x}"
    only = set(filter(None, ARGS.only.split(",")))
    rows = result["results"]

    def run(section, name, fn):
        if only and section not in only:
            return
        rows[name] = measure(fn, ARGS.repeat)
        r = rows[name]
        print(f"{name:58} {r['ms']:>9.1f} ms (SQL {r['sql_ms']:>7.1f} ms) {r['queries']:>4} queries", flush=True)

    base = "/admin/clones/clipsample/"
    admin_pages = {
        "default page": "",
        "voice=sel-100k": f"?voice={big.pk}",
        "source=generated": "?source__exact=generated",
        "review_status=pending": "?review_status__exact=pending",
        "flag=clipped": "?flag=clipped",
        "flag=undecodable (rare)": "?flag=undecodable",
        "flag=none": "?flag=none",
        "flag=any": "?flag=any",
        "used=yes": "?used=yes",
        "used=no": "?used=no",
        "analysed=no": "?analysed=no",
        "created_at=past 7 days": "?" + urlencode({"created_at__gte": (plan.now - timedelta(days=7)).isoformat(),
                                                   "created_at__lt": (plan.now + timedelta(days=1)).isoformat()}),
        "unused+approved": "?used=no&review_status__exact=approved",
        "voice pending generated": f"?voice={big.pk}&source__exact=generated&review_status__exact=pending",
        "search 'crust' (common)": "?q=crust",
        f"search '{RARE_WORD}' (rare)": f"?q={RARE_WORD}",
        "search sha256": f"?q={sha}",
        "page 20": "?p=19",
    }
    for name, query in admin_pages.items():
        run("admin", f"admin changelist: {name}", get(client, base + query))

    api_pages = {
        "first page": "",
        "voice=sel-100k&review_status=pending": f"?voice={big.pk}&review_status=pending",
        "flag=clipped": "?flag=clipped",
        "used=false&review_status=approved": "?used=false&review_status=approved",
        "q=crust": "?q=crust",
    }
    for name, query in api_pages.items():
        run("api", f"staff clips API: {name}", get(client, "/api/v1/clips/" + query))

    from clones.services import select_clips_for_retrain
    from clones.services.review_queue import review_queue_order

    run("queue", "review queue page (all voices)", get(client, base + "queue/"))
    run("queue", "review queue page (sel-100k)", get(client, base + f"queue/?voice={big.pk}"))
    run("queue", "review queue service (all voices)", lambda: review_queue_order(limit=50))

    run("selection", f"selection: sel-10k ({plan.medium} candidates)", lambda: select_clips_for_retrain(voice=medium))
    run("selection", f"selection: sel-100k ({plan.big} candidates)", lambda: select_clips_for_retrain(voice=big))
    # The exclusion counts (one scan of the voice's pool) run when a report reads them, not for the picks.
    run("selection", f"selection + exclusion counts: sel-10k ({plan.medium} candidates)",
        lambda: select_clips_for_retrain(voice=medium).excluded)
    run("selection", f"selection + exclusion counts: sel-100k ({plan.big} candidates)",
        lambda: select_clips_for_retrain(voice=big).excluded)
    run("selection", "retrain selection admin page (sel-100k)",
        get(client, f"/admin/clones/voice/{big.pk}/retrain-selection/"))
    with override_settings(RETRAIN_SELECTION_MAX_CANDIDATES=500):
        run("selection", f"selection: sel-100k, 500 best read (RETRAIN_SELECTION_MAX_CANDIDATES=500)",
            lambda: select_clips_for_retrain(voice=big))
    run("selection", "voice admin page (sel-100k)", get(client, f"/admin/clones/voice/{big.pk}/change/"))

    if not only or "scan" in only:
        from retraining.services.eligibility import voices_eligibility

        ordinary = Voice.objects.exclude(pk__in=[big.pk, medium.pk]).order_by("pk")
        for n in (plan.voice_count // 10, plan.voice_count - 2):
            ids = list(ordinary.values_list("pk", flat=True)[:n])
            key = f"eligibility scan: {n} voices"
            rows[key] = measure(lambda: voices_eligibility(voices=Voice.objects.filter(pk__in=ids)),
                                max(1, ARGS.repeat // 2))
            rows[key]["ms_per_voice"] = round(rows[key]["ms"] / n, 3)
            print(f"{key:58} {rows[key]['ms']:>9.1f} ms {rows[key]['queries']:>4} queries "
                  f"({rows[key]['ms_per_voice']} ms/voice)", flush=True)

    conversation = plan.conversation_id(0, 7)
    count = Message.objects.filter(conversation_id=conversation).count()
    run("messages", f"messages-list API ({count} messages, page 1)",
        get(client, f"/api/v1/conversations/{conversation}/messages/"))
    run("messages", "conversation detail API (trivial reference)", get(client, f"/api/v1/conversations/{conversation}/"))

    if IS_PG and (not only or "fingerprint" in only):
        result["fingerprint"] = fingerprint_size()
        print("fingerprint landmarks:", result["fingerprint"], flush=True)

    result["load_average_at_end"] = os.getloadavg()
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    name = f"scale-{ARGS.clips}-{connection.vendor}{'-' + ARGS.label if ARGS.label else ''}.json"
    (out / name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote bench/results/{name}")


if __name__ == "__main__":
    main()
