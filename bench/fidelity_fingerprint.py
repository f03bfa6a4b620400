"""Lineage guard: which edits of a generated clip are still recognised, and no genuine speech refused.

Run: .venv/bin/python bench/fidelity_fingerprint.py [--clips N] [--probes N]

Fills a throw-away SQLite database with the fingerprints of N generated replies (the emulator's speech:
several voices, varied texts, MP3 as the provider returns them) through the real service, then asks the
real selector (`fidelity.selectors.generated_audio_match`, the one voice uploads go through) about:

- edited copies of `--probes` of those replies, per transformation and strength: share caught, and the
  median number of aligned landmarks (the threshold is FIDELITY_FINGERPRINT_MIN_ALIGNED);
- genuine speech: espeak-ng voices reading ten sentences (tests/espeak.py), plain and re-encoded,
  and the synthetic test recordings of tests/audio.py: how many are refused (must be 0), and the
  highest aligned count and share any of them reached.

Also prints the cost of fingerprinting and of a lookup per second of audio. Prints only; not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
_tmp = tempfile.mkdtemp(prefix="bench-fingerprint-")
os.environ["DATABASE_URL"] = f"sqlite:///{_tmp}/bench.sqlite3"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from clones.audio import decode_audio  # noqa: E402
from clones.models import GeneratedAudio  # noqa: E402
from fidelity import fingerprint as fp  # noqa: E402
from fidelity.selectors import generated_audio_match  # noqa: E402
from fidelity.services import audio_fingerprint_store, fingerprint_of_audio  # noqa: E402
from tests.audio import encode, speech_like, transformed  # noqa: E402
from tests.espeak import ESPEAK, SENTENCES, SPEAKERS, speak  # noqa: E402
from voiceclone.emulator import audio as emulator_audio  # noqa: E402

WORDS = ("bread flour oven morning river garden letter window station summer story music kitchen "
         "yesterday tomorrow wonderful remember careful quietly suddenly perhaps really").split()

TRANSFORMS = [
    ("none", "identical copy"),
    ("reencode_mp3_64", "MP3 64 kbit/s"), ("reencode_mp3_32", "MP3 32 kbit/s"),
    ("reencode_mp3_24", "MP3 24 kbit/s"), ("reencode_mp3_16", "MP3 16 kbit/s"),
    ("opus_32", "Opus 32 kbit/s"), ("opus_16", "Opus 16 kbit/s"), ("opus_12", "Opus 12 kbit/s"),
    ("resample_44100", "resampled 44.1 kHz"), ("resample_16000", "resampled 16 kHz"),
    ("resample_11025", "resampled 11 kHz"), ("resample_8000", "resampled 8 kHz"),
    ("trim", "trimmed 0.37 s + 0.29 s"), ("trim_half", "middle half only"),
    ("gain_m24", "gain -24 dB"), ("gain_m12", "gain -12 dB"), ("gain_6", "gain +6 dB (clipped)"),
    ("gain_12", "gain +12 dB (clipped)"),
    ("resample_16000+trim+gain_m6+reencode_mp3_32", "16 kHz + trim + -6 dB + MP3 32"),
    ("trim_half+gain_6+resample_22050+opus_24", "half + +6 dB + 22 kHz + Opus 24"),
    ("trim_half+gain_12+resample_8000+reencode_mp3_16", "half + +12 dB + 8 kHz + MP3 16"),
]


def sentence(rng: np.random.Generator) -> str:
    words = rng.choice(WORDS, size=int(rng.integers(8, 30)))
    return " ".join(words).capitalize() + rng.choice([".", "!", "?"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=300)
    parser.add_argument("--probes", type=int, default=12)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    rng = np.random.default_rng(7)

    replies, seconds, spent = [], 0.0, 0.0
    for i in range(args.clips):
        data = emulator_audio.render(sentence(rng), f"bench-voice-{i % 25}").data
        start = time.perf_counter()
        landmarks = fingerprint_of_audio(data)
        spent += time.perf_counter() - start
        seconds += landmarks.duration_s
        generated = GeneratedAudio.objects.create(sha256=f"{i:064d}")
        audio_fingerprint_store(generated_audio=generated, fingerprint=landmarks)
        replies.append((generated.pk, data))
    print(f"{args.clips} generated replies, {seconds:.0f} s, {seconds / args.clips:.1f} s each; "
          f"fingerprint: {1000 * spent / seconds:.1f} ms per second of audio (decode included), "
          f"{sum(len(fp.landmarks(*decode_audio(d))) for _, d in replies[:20]) / sum(fp.landmarks(*decode_audio(d)).duration_s for _, d in replies[:20]):.0f} landmarks/s")
    print(f"thresholds: {settings.FIDELITY_FINGERPRINT_MIN_ALIGNED} aligned landmarks and "
          f"{settings.FIDELITY_FINGERPRINT_MIN_SHARE:.0%} of the clip's landmarks over the overlap")
    print()
    print(f"{'edit':<34} {'caught':>8} {'aligned (median)':>17} {'share (median)':>15}")
    lookup_time = lookup_seconds = 0.0
    probes = replies[:: max(1, len(replies) // args.probes)][: args.probes]
    for transform, label in TRANSFORMS:
        caught, aligned, shares = 0, [], []
        for generated_id, data in probes:
            edited = data if transform == "none" else transformed(data, transform)[1]
            samples, rate = decode_audio(edited)
            start = time.perf_counter()
            match = generated_audio_match(samples=samples, sample_rate=rate)
            lookup_time += time.perf_counter() - start
            lookup_seconds += samples.size / rate
            if match is not None and match.generated_audio_id == generated_id:
                caught += 1
                aligned.append(match.aligned)
                shares.append(match.share)
        print(f"{label:<34} {caught:>3}/{len(probes):<4} {np.median(aligned) if aligned else 0:>17.0f} "
              f"{np.median(shares) if shares else 0:>15.2f}")
    print(f"lookup against {args.clips} clips: {1000 * lookup_time / lookup_seconds:.1f} ms per second of upload")
    print()

    genuine = []
    if ESPEAK:
        for speaker in SPEAKERS:
            for i, text in enumerate(SENTENCES):
                samples, rate = speak(text, speaker)
                if i % 2:
                    samples, rate = decode_audio(transformed(encode(samples, rate), "resample_16000+reencode_mp3_32")[1])
                genuine.append((f"espeak {speaker}", samples, rate))
    else:
        print("(espeak-ng not installed: genuine speech limited to synthetic test recordings)")
    for seed in range(20):
        genuine.append(("tests.audio.speech_like", speech_like(3.0, 16000, f0=100 + 10 * seed, seed=seed), 16000))
    refused, worst_aligned, worst_share = 0, 0, 0.0
    min_aligned, settings.FIDELITY_FINGERPRINT_MIN_ALIGNED = settings.FIDELITY_FINGERPRINT_MIN_ALIGNED, 1
    min_share, settings.FIDELITY_FINGERPRINT_MIN_SHARE = settings.FIDELITY_FINGERPRINT_MIN_SHARE, 0.0
    for _, samples, rate in genuine:
        # With the thresholds at their floor the selector reports the best chance agreement there is.
        match = generated_audio_match(samples=samples, sample_rate=rate)
        if match is None:
            continue
        worst_aligned, worst_share = max(worst_aligned, match.aligned), max(worst_share, match.share)
        refused += match.aligned >= min_aligned and match.share >= min_share
    settings.FIDELITY_FINGERPRINT_MIN_ALIGNED, settings.FIDELITY_FINGERPRINT_MIN_SHARE = min_aligned, min_share
    print(f"genuine recordings: {len(genuine)}, refused: {refused}; closest chance agreement: "
          f"{worst_aligned} aligned landmarks, share {worst_share:.3f}")


if __name__ == "__main__":
    main()
