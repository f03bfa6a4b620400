"""Time clip decoding and quality analysis against the clip's own duration.

Run: .venv/bin/python bench/bench_analysis.py [--repeat N]

Synthesises speech-like clips of 5, 15 and 60 s (voiced syllables, pauses, faint noise, −20 LUFS),
encodes each to MP3 as the provider would deliver it, and reports the best of N runs of
`clones.audio.decode_audio`, `clones.analysis.analyse_audio` and `training_copy`, with each as a
percentage of the clip's duration. Also times `probe_audio` on a 3-minute MP3 (the upload path).
Prints only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clones.analysis import analyse_audio, encode_mp3, integrated_loudness, training_copy  # noqa: E402
from clones.audio import decode_audio, probe_audio  # noqa: E402

SAMPLE_RATE = 44100


def speech_like(duration_s: float, *, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(duration_s * SAMPLE_RATE)
    voice = np.zeros(n)
    t = 0.3
    while True:
        length = rng.uniform(0.12, 0.25)
        if t + length > duration_s - 0.3:
            break
        start, count = int(t * SAMPLE_RATE), int(length * SAMPLE_RATE)
        tt = np.arange(count) / SAMPLE_RATE
        pitch = rng.uniform(110, 170) * (1 + 0.05 * np.sin(2 * np.pi * 5 * tt))
        phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
        syllable = sum(np.sin(k * phase) / k for k in range(1, 25))
        voice[start : start + count] += syllable * np.sin(np.pi * np.arange(count) / count) ** 2
        t += length + (rng.uniform(0.15, 0.35) if rng.random() < 0.35 else rng.uniform(0.0, 0.04))
    voice *= 10 ** ((-20 - integrated_loudness(voice.astype(np.float32), SAMPLE_RATE)) / 20)
    return (voice + rng.standard_normal(n) * 10 ** (-65 / 20)).astype(np.float32)


def best_of(repeat: int, fn, *args, **kwargs) -> float:
    fn(*args, **kwargs)  # warm-up: FFT plans, first-touch allocations
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per measurement; the best is kept")
    args = parser.parse_args()

    print(f"clip analysis, MP3 input at {SAMPLE_RATE} Hz, best of {args.repeat}")
    header = (
        f"{'clip':>6} {'decode ms':>10} {'analyse ms':>11} {'analyse/dur':>12} "
        f"{'decode+analyse/dur':>19} {'training_copy ms':>17} {'flags':>8}"
    )
    print(header)
    print("-" * len(header))
    for duration_s in (5.0, 15.0, 60.0):
        mp3 = encode_mp3(speech_like(duration_s), SAMPLE_RATE)
        samples, sample_rate = decode_audio(mp3)
        decode_s = best_of(args.repeat, decode_audio, mp3)
        analyse_s = best_of(args.repeat, analyse_audio, samples, sample_rate)
        copy_s = best_of(args.repeat, training_copy, samples, sample_rate)
        result = analyse_audio(samples, sample_rate)
        print(
            f"{duration_s:>5.0f}s {decode_s * 1e3:>10.1f} {analyse_s * 1e3:>11.1f} "
            f"{analyse_s / duration_s:>12.3%} {(decode_s + analyse_s) / duration_s:>19.3%} "
            f"{copy_s * 1e3:>17.1f} {','.join(result.flags) or '-':>8}"
        )

    long_mp3 = encode_mp3(speech_like(180.0, seed=2), SAMPLE_RATE)
    probe_s = best_of(max(1, args.repeat // 2), probe_audio, long_mp3, filename="long.mp3")
    info = probe_audio(long_mp3)
    print(
        f"\nprobe_audio on a {info.duration_s:.1f} s MP3 ({len(long_mp3) / 1e6:.1f} MB, full decode): "
        f"{probe_s * 1e3:.1f} ms = {probe_s / info.duration_s:.3%} of its duration"
    )


if __name__ == "__main__":
    main()
