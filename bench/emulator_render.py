"""What one emulator text-to-speech render costs, by part, and what a client waits for, in one run.

Run: .venv/bin/python bench/emulator_render.py [--renders 12]

Prints the median milliseconds, over `--renders` distinct texts (so the render cache never answers), of:
  synthesize            the synthetic speech (numpy)
  encode <format>       mp3 (legacy VBR), mp3_44100_128 (CBR through PyAV), pcm_16000
  landmarks             the spectral-peak fingerprint the emulator keeps of every render (lineage)
  HTTP <format>         a POST /v1/text-to-speech/{id} answered by a running emulator (what a client waits for)
  upload after renders  POST /v1/voices/add with one of those replies as the sample, right after them:
                        it must wait for every pending fingerprint before matching
and the ratios HTTP / (synthesize + encode) and landmarks / encode. Prints only; not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fidelity.fingerprint import landmarks  # noqa: E402
from voiceclone.emulator import EmulatorServer, audio  # noqa: E402
from voiceclone.emulator.timbre import timbre_for  # noqa: E402

TEXT = "Sourdough needs a lively starter, patience and a hot oven; give it twelve hours to rise. ({i})"
FORMATS = ("mp3_22050_32", "mp3_44100_128", "pcm_16000")


def median_ms(fn, n):
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=12)
    args = parser.parse_args()
    n = args.renders
    timbre = timbre_for("bench-render")
    samples = [audio.synthesize(TEXT.format(i=i), timbre) for i in range(n)]
    print(f"{n} distinct texts of {len(TEXT)} characters, {audio.seconds(samples[0]):.1f} s of speech each")
    rows = {
        "synthesize": median_ms(lambda i: audio.synthesize(TEXT.format(i=i), timbre), n),
        "encode mp3 (VBR)": median_ms(lambda i: audio.encode(samples[i], "mp3"), n),
        "encode mp3_44100_128": median_ms(lambda i: audio.encode_mp3_cbr(samples[i], audio.SAMPLE_RATE, 44100, 128), n),
        "encode pcm_16000": median_ms(lambda i: audio.encode(audio.resample(samples[i], 16000), "pcm", 16000), n),
        "landmarks": median_ms(lambda i: landmarks(samples[i], audio.SAMPLE_RATE), n),
    }
    server = EmulatorServer(port=0).start()
    try:
        client = httpx.Client(base_url=server.url, headers={"xi-api-key": "bench"}, timeout=120)
        voice_id = client.get("/v1/voices").json()["voices"][0]["voice_id"]
        replies = []
        for fmt in FORMATS:
            def tts(i, fmt=fmt):
                response = client.post(f"/v1/text-to-speech/{voice_id}", params={"output_format": fmt},
                                       json={"text": TEXT.format(i=f"{fmt}-{i}")})
                response.raise_for_status()
                replies.append(response.content)
            rows[f"HTTP {fmt}"] = median_ms(tts, n)
        t0 = time.perf_counter()
        response = client.post("/v1/voices/add", data={"name": "bench"},
                               files=[("files", ("reply.mp3", replies[0], "audio/mpeg"))])
        response.raise_for_status()
        rows["upload after renders"] = (time.perf_counter() - t0) * 1000
        generation = client.get(f"/_emulator/voices/{response.json()['voice_id']}/timbre").json()["generation"]
    finally:
        server.stop()
    for name, ms in rows.items():
        print(f"{name:<24} {ms:>8.1f} ms")
    work = rows["synthesize"] + rows["encode mp3 (VBR)"]
    print(f"HTTP mp3_22050_32 / (synthesize + encode mp3): {rows['HTTP mp3_22050_32'] / work:.2f}")
    print(f"landmarks / encode mp3_44100_128: {rows['landmarks'] / rows['encode mp3_44100_128']:.2f}")
    print(f"a reply uploaded as a sample is recognised: generation {generation} (1 expected)")


if __name__ == "__main__":
    main()
