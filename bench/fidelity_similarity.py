"""Speaker similarity on espeak-ng voices: same-speaker vs different-speaker scores, AUC, cost per second.

Run: .venv/bin/python bench/fidelity_similarity.py [--speakers N] [--sentences N] [--calibrate]

Every speaker (an espeak-ng voice variant, tests/espeak.py) reads every sentence at a speaking rate that
changes from sentence to sentence (140–185 words per minute), and every third recording is sent through
a phone-like channel (resampled to 16 kHz, MP3 at 48 kbit/s), so "same speaker" pairs differ in text,
tempo and channel, not only in text. Each recording is then scored against references:

- same speaker: 1 or 3 *other* recordings of its speaker;
- different speaker: the same number of recordings of every other speaker.

Prints the score distributions, the margin (median same − median different, and the gap between the
5th percentile of same-speaker scores and the 95th of different-speaker scores), the ROC AUC, the equal
error rate, and the cost of feature extraction per second of audio. `--calibrate` also prints the
distance at the equal-error point and the logistic width that maps the median same-speaker distance
(three references) to 0.9: the constants D_EQUAL_ERROR / D_WIDTH in fidelity/similarity.py.
Prints only; not a test.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from fidelity.features import voice_features  # noqa: E402
from fidelity.similarity import speaker_similarity  # noqa: E402
from tests.audio import decode, transformed, encode  # noqa: E402
from tests.espeak import ESPEAK, SENTENCES, SPEAKERS, speak  # noqa: E402


def corpus(speakers, sentences):
    """{speaker: [(samples, rate), ...]} with tempo and channel varying within each speaker."""
    out, seconds = {}, 0.0
    for speaker in speakers:
        clips = []
        for i, sentence in enumerate(sentences):
            samples, rate = speak(sentence, speaker, words_per_minute=140 + 15 * (i % 4))
            if i % 3 == 2:
                _, data = transformed(encode(samples, rate), "resample_16000+reencode_mp3_48")
                samples, rate = decode(data)
            clips.append((samples, rate))
            seconds += samples.size / rate
        out[speaker] = clips
    return out, seconds


def auc(same: np.ndarray, different: np.ndarray) -> float:
    """P(a same-speaker score > a different-speaker score), ties counted half (Mann–Whitney)."""
    greater = (same[:, None] > different[None, :]).mean()
    ties = (same[:, None] == different[None, :]).mean()
    return float(greater + 0.5 * ties)


def equal_error(same_d: np.ndarray, diff_d: np.ndarray) -> tuple[float, float]:
    """(distance threshold, error rate) where misses of same-speaker pairs equal false accepts."""
    best = (math.inf, 0.0, 1.0)
    for t in np.unique(np.concatenate([same_d, diff_d])):
        miss, false_accept = float((same_d > t).mean()), float((diff_d <= t).mean())
        if abs(miss - false_accept) < best[0]:
            best = (abs(miss - false_accept), float(t), (miss + false_accept) / 2)
    return best[1], best[2]


def evaluate(features, n_refs):
    speakers = list(features)
    same, diff, same_d, diff_d = [], [], [], []
    for speaker in speakers:
        clips = features[speaker]
        for i, clip in enumerate(clips):
            picks = [(i + 1 + k) % len(clips) for k in range(n_refs)]
            result = speaker_similarity(clip, [clips[j] for j in picks])
            same.append(result.score)
            same_d.append(result.distance)
            for other in speakers:
                if other == speaker:
                    continue
                others = features[other]
                result = speaker_similarity(clip, [others[j % len(others)] for j in picks])
                diff.append(result.score)
                diff_d.append(result.distance)
    return np.array(same), np.array(diff), np.array(same_d), np.array(diff_d)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speakers", type=int, default=len(SPEAKERS))
    parser.add_argument("--sentences", type=int, default=len(SENTENCES))
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args()
    if ESPEAK is None:
        sys.exit("espeak-ng is not installed (bin/install-espeak installs it as root)")
    speakers, sentences = SPEAKERS[: args.speakers], SENTENCES[: args.sentences]
    audio, seconds = corpus(speakers, sentences)
    start = time.perf_counter()
    features = {s: [voice_features(x, r) for x, r in clips] for s, clips in audio.items()}
    cost = time.perf_counter() - start
    print(f"{len(speakers)} espeak-ng speakers x {len(sentences)} sentences, {seconds:.0f} s of speech")
    print(f"feature extraction: {1000 * cost / seconds:.1f} ms per second of audio "
          f"({seconds / cost:.0f}x real time, one core)")
    print()
    print(f"{'refs':>4} {'same p5':>8} {'same med':>9} {'diff med':>9} {'diff p95':>9} {'margin':>7} "
          f"{'gap p5-p95':>10} {'AUC':>7} {'EER':>6} {'D at EER':>9} {'same D med':>10}")
    for n_refs in (1, 3):
        same, diff, same_d, diff_d = evaluate(features, n_refs)
        threshold, eer = equal_error(same_d, diff_d)
        p5, p95 = np.percentile(same, 5), np.percentile(diff, 95)
        print(f"{n_refs:>4} {p5:>8.3f} {np.median(same):>9.3f} {np.median(diff):>9.3f} {p95:>9.3f} "
              f"{np.median(same) - np.median(diff):>7.3f} {p5 - p95:>10.3f} {auc(same, diff):>7.4f} "
              f"{100 * eer:>5.1f}% {threshold:>9.3f} {np.median(same_d):>10.3f}")
        if args.calibrate and n_refs == 3:
            width = (threshold - np.median(same_d)) / math.log(9)
            print(f"     calibration: D_EQUAL_ERROR = {threshold:.2f}, D_WIDTH = {width:.2f}")


if __name__ == "__main__":
    main()
