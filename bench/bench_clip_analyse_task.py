"""The whole clip-analysis task against the clip's duration: decode, quality, prosody, waveform, save.

Run: .venv/bin/python bench/bench_clip_analyse_task.py [--repeat N]

`bench/bench_analysis.py` times the quality analysis alone; this adds what the curation task does on
top (prosody for diversity-aware selection, the cached waveform SVG) and runs the real
`clones.services.clip_analyse` against a throw-away SQLite database and media directory, so storage
reads and writes are included. Target: well under 2 % of the clip's duration. Prints only.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
_tmp = tempfile.mkdtemp(prefix="bench-analyse-")
os.environ["DATABASE_URL"] = f"sqlite:///{_tmp}/bench.sqlite3"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.apps import apps  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.files.base import ContentFile  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402
from django.db import connection  # noqa: E402

from bench.bench_analysis import SAMPLE_RATE, speech_like  # noqa: E402
from clones.analysis import analyse_audio, encode_mp3  # noqa: E402
from clones.audio import decode_audio  # noqa: E402
from clones.models import ClipSample, Voice  # noqa: E402
from fidelity.prosody import measure_prosody  # noqa: E402
from clones.services import clip_analyse  # noqa: E402
from clones.waveform import render_waveform_svg  # noqa: E402


def best_of(repeat: int, fn) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with connection.schema_editor() as editor:
        for model in apps.get_models():
            if model._meta.managed and not model._meta.proxy:
                editor.create_model(model)
    owner = get_user_model().objects.create_user("owner", password="x")
    voice = Voice.objects.create(owner=owner, name="Bench", persona="p", status="ready")

    print(f"{'clip':>6} {'decode':>9} {'quality':>9} {'prosody':>9} {'waveform':>9} {'task':>9} {'% of clip':>10}")
    for duration in (5, 15, 60):
        data = encode_mp3(speech_like(duration), SAMPLE_RATE)
        name = default_storage.save(f"clone_responses/bench/{duration}.mp3", ContentFile(data))
        clip = ClipSample.objects.create(voice=voice, source="generated", file=name, sha256=f"{duration:064x}",
                                         size_bytes=len(data), text="word " * (duration * 3))
        samples, rate = decode_audio(data)
        t_decode = best_of(args.repeat, lambda: decode_audio(data))
        t_quality = best_of(args.repeat, lambda: analyse_audio(samples, rate))
        t_prosody = best_of(args.repeat, lambda: measure_prosody(samples, rate))
        t_wave = best_of(args.repeat, lambda: render_waveform_svg(samples, rate))
        t_task = best_of(args.repeat, lambda: clip_analyse(clip_id=clip.pk))
        print(f"{duration:>5}s {t_decode * 1000:>7.1f}ms {t_quality * 1000:>7.1f}ms {t_prosody * 1000:>7.1f}ms"
              f" {t_wave * 1000:>7.1f}ms {t_task * 1000:>7.1f}ms {100 * t_task / duration:>9.2f}%")


if __name__ == "__main__":
    main()
