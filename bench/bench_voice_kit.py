"""Voice kit export and import at 100 and 500 approved clips (issue 15): size, time, memory, ratios.

Run: .venv/bin/python bench/bench_voice_kit.py [--sizes 100,500] [--seconds 5]

A throw-away SQLite database and media folder, the local emulator in-process. One voice with 3 consented
originals (10 s WAV each) and N approved generated clips (MP3, `--seconds` long, 20 distinct recordings
cycled). Export: the streamed zip consumed chunk by chunk (as a client would), with the peak of Python
memory (tracemalloc) against the kit's size: it grows with the number of clips (their rows and manifest
entries, ~10 KB each), not with their audio (compare --seconds 5 and --seconds 20). Import: the request (every check, the originals through the
creation path) and the background clip import (decode, store, register with fingerprint) separately.
Prints only.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
_tmp = tempfile.mkdtemp(prefix="bench-kits-")
os.environ["DATABASE_URL"] = f"sqlite:///{_tmp}/bench.sqlite3"
os.environ["MEDIA_ROOT"] = f"{_tmp}/media"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django_q.conf import Conf  # noqa: E402

from clones.models import ClipSample, Voice  # noqa: E402
from clones.services import SampleUpload, voice_create  # noqa: E402
from clones import storage  # noqa: E402
from kits.models import VoiceKitImport  # noqa: E402
from kits.services import voice_kit_export, voice_kit_import  # noqa: E402
from kits.tasks import kit_import_clips  # noqa: E402
from tests.audio import encode, speech_like  # noqa: E402
from voiceclone.emulator import EmulatorServer  # noqa: E402


def make_voice(owner, clips: int, seconds: float) -> Voice:
    # speech_like differs by its pitch, not its seed: originals sit below the clips' pitches (the lineage
    # guard would refuse an "original" that matches an imported clip's fingerprint).
    base_f0 = 80 + 7 * (clips % 5)
    samples = [SampleUpload(filename=f"s{i}.wav", data=encode(speech_like(10.0, f0=base_f0 + 2 * i, seed=100 + i)))
               for i in range(3)]
    voice = voice_create(owner=owner, name=f"Bench {clips}", persona="You are a bench voice.", samples=samples,
                         consent=True, via="system")
    voice.refresh_from_db()
    audio = [encode(speech_like(seconds, sample_rate=22050, f0=150 + 6 * i, seed=i), 22050, fmt="MP3") for i in range(20)]
    rows = []
    for n in range(clips):
        data = audio[n % len(audio)]
        digest = storage.sha256_hex(data)
        path = storage.save_bytes(f"clone_responses/{voice.pk}/bench_{n:05d}.mp3", data)
        rows.append(ClipSample(
            voice=voice, source="generated", version=voice.current_version, file=path, text=f"Reply {n} about bread.",
            content_type="audio/mpeg", size_bytes=len(data), sha256=digest, duration_s=seconds, sample_rate=22050,
            lineage_depth=1, review_status="approved", quality_score=90.0,
        ))
    ClipSample.objects.bulk_create(rows, batch_size=500)
    return voice


def export(voice) -> tuple[bytes, float, int, int]:
    """The kit consumed as a client would (written to a file, outside traced memory); peak Python memory."""
    sink_path = Path(_tmp) / f"kit-{voice.pk}.zip"
    tracemalloc.start()
    started = time.perf_counter()
    kit = voice_kit_export(voice=voice)
    chunks, total = 0, 0
    with open(sink_path, "wb") as sink:
        for chunk in kit:
            total += len(chunk)
            chunks += 1
            sink.write(chunk)
    elapsed = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert total == kit.size_bytes
    return sink_path.read_bytes(), elapsed, peak, chunks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,500")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    server = EmulatorServer(host="127.0.0.1", port=0, voice_limit=30).start()
    settings.ELEVENLABS_BASE_URL = server.url
    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user("bench-owner", password="x")
    importer = get_user_model().objects.create_user("bench-importer", password="x")
    results = []
    try:
        for size in sizes:
            voice = make_voice(owner, size, args.seconds)
            kit, export_s, peak_bytes, chunks = export(voice)
            upload = SimpleUploadedFile("kit.zip", kit, content_type="application/zip")
            # Tasks are queued, not run inline, so the request and the background work are timed apart.
            Conf.SYNC = False
            started = time.perf_counter()
            result = voice_kit_import(owner=importer, upload=upload, consent=True)
            request_s = time.perf_counter() - started
            started = time.perf_counter()
            kit_import_clips(result.kit_import.pk)
            task_s = time.perf_counter() - started
            Conf.SYNC = True
            kit_import = VoiceKitImport.objects.get(pk=result.kit_import.pk)
            results.append({
                "clips": size, "kit_mb": len(kit) / 1e6, "export_s": export_s, "chunks": chunks,
                "peak_mb": peak_bytes / 1e6, "request_s": request_s, "task_s": task_s,
                "imported": kit_import.clips_done, "status": kit_import.status,
            })
    finally:
        server.stop()

    base = results[0]
    print(f"{'clips':>6} {'kit MB':>7} {'export s':>9} {'MB/s':>6} {'peak MB':>8} {'peak/kit':>9} {'peak KB/clip':>13} "
          f"{'import request s':>17} {'clip task s':>12} {'task ms/clip':>13} {'import/export':>14}")
    for r in results:
        print(f"{r['clips']:>6} {r['kit_mb']:>7.1f} {r['export_s']:>9.2f} {r['kit_mb'] / r['export_s']:>6.1f} "
              f"{r['peak_mb']:>8.2f} {r['peak_mb'] / r['kit_mb']:>9.3f} {1000 * r['peak_mb'] / r['clips']:>13.1f} {r['request_s']:>17.2f} {r['task_s']:>12.2f} "
              f"{1000 * r['task_s'] / r['clips']:>13.1f} {(r['request_s'] + r['task_s']) / r['export_s']:>14.1f}"
              f"   ({r['imported']} clips imported, {r['status']})")
    for r in results[1:]:
        print(f"{r['clips']} vs {base['clips']} clips: kit size x{r['kit_mb'] / base['kit_mb']:.2f}, export time "
              f"x{r['export_s'] / base['export_s']:.2f}, export peak memory x{r['peak_mb'] / base['peak_mb']:.2f}, "
              f"import request x{r['request_s'] / base['request_s']:.2f}, clip task x{r['task_s'] / base['task_s']:.2f}")


if __name__ == "__main__":
    main()
