"""The chat page's latency in Chromium: from pressing Send to the reply's audio element playing.

Run: .venv/bin/python bench/chat_latency_page.py [--turns 8] [--latency-ms 0 150 300] [--poll-s 0.5]
                                                 [--json var/bench/chat_latency_page.json]

Starts the stack bin/run starts (uvicorn, a django-q2 cluster) against an emulator in this process,
logs in with the system Chromium (/usr/bin/chromium), and for each emulator latency sends --turns
messages on the chat page, timing in the page (performance.now()) from the Send click to the first
"playing" event of the reply's audio; then times the provider's streaming TTS of the same reply text to
its first byte (direct). Prints p50/p95 of both and of the overhead, writes JSON. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
_tmp = tempfile.mkdtemp(prefix="bench-page-")
os.environ["DATABASE_URL"] = f"sqlite:///{_tmp}/bench.sqlite3"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from bench.chat_latency import NO_LIMITS, TEXTS, summary  # noqa: E402
from tests.audio import wav_bytes  # noqa: E402
from tests.live import LiveStack  # noqa: E402
from voiceclone import provider  # noqa: E402
from voiceclone.emulator import EmulatorServer  # noqa: E402
from voiceclone.emulator.control import EmulatorControl  # noqa: E402

PASSWORD = "correct horse battery staple"
# Records, per reply bubble, when its audio first played (performance.now()).
PROBE = """
window.__played = {};
document.addEventListener("playing", function (event) {
  var li = event.target.closest && event.target.closest("li.msg--assistant");
  if (li && !(li.dataset.messageId in window.__played)) window.__played[li.dataset.messageId] = performance.now();
}, true);
"""


def main() -> None:
    logging.disable(logging.INFO)
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 150, 300])
    parser.add_argument("--poll-s", type=float, default=0.5)
    parser.add_argument("--json", default=str(Path(settings.BASE_DIR) / "var" / "bench" / "chat_latency_page.json"))
    args = parser.parse_args()

    emulator = EmulatorServer(host="127.0.0.1", port=0, voice_limit=30).start()
    settings.ELEVENLABS_BASE_URL = emulator.url
    ctl = EmulatorControl(emulator.url)
    stack = LiveStack(Path(_tmp) / "stack", provider_url=emulator.url, env={"Q_POLL_S": str(args.poll_s), **NO_LIMITS},
                      cluster=True)
    stack.tmp_path.mkdir(parents=True, exist_ok=True)
    stack.start()
    results = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True,
                args=["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"])
            for latency in args.latency_ms:
                voice_id = provider.create_voice(name=f"Page {latency}", files=[
                    provider.AudioFile(filename="s.wav", content=wav_bytes(3, seed=13), content_type="audio/wav")])
                made = stack.scenario("conversation", f"page{latency}", voice_id)
                ctl.configure(latency_ms=latency)
                context = browser.new_context(base_url=stack.urls[0])
                page = context.new_page()
                page.add_init_script(PROBE)
                page.goto("/login/")
                page.get_by_label("Username").fill(f"page{latency}")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Log in").click()
                page.wait_for_url("**/voices/")
                page.goto(f"/conversations/{made['conversation']}/")
                page.wait_for_selector("#chat[data-live=open]")
                rows = {"page": [], "direct": []}
                for turn in range(args.turns + 1):
                    count = page.locator("li.msg--assistant").count()
                    page.get_by_role("textbox", name="Message").fill(TEXTS[turn % len(TEXTS)])
                    clicked = page.evaluate("() => performance.now()")
                    page.get_by_role("button", name="Send").click()
                    page.wait_for_function(f"() => document.querySelectorAll('li.msg--assistant').length > {count}")
                    reply = page.locator("li.msg--assistant").last
                    reply_id = reply.get_attribute("data-message-id")
                    page.wait_for_function(f"() => '{reply_id}' in window.__played", timeout=60_000)
                    page_ms = page.evaluate(f"() => window.__played['{reply_id}']") - clicked
                    page.wait_for_selector(f"#msg-{reply_id}.msg--ready", timeout=60_000)
                    text = reply.locator(".msg__text").inner_text()
                    started = time.perf_counter()
                    with provider.tts_stream(voice_id=voice_id, text=text) as stream:
                        chunks = iter(stream)
                        next(chunks)
                        direct_ms = (time.perf_counter() - started) * 1000
                        for _ in chunks:
                            pass
                    if turn:
                        rows["page"].append(page_ms)
                        rows["direct"].append(direct_ms)
                context.close()
                results[latency] = {
                    "direct": summary(rows["direct"]), "page": summary(rows["page"]),
                    "overhead": summary([p - d for p, d in zip(rows["page"], rows["direct"])]),
                }
            browser.close()
    finally:
        stack.stop()
        emulator.stop()

    print(f"\nchat page latency (Send → audio playing), {args.turns} turns per row, ms (p50 / p95)")
    print(f"{'emulator':>9} | {'direct TTFB':>13} | {'page plays':>13} | {'overhead':>13}")
    for latency, row in results.items():
        print(f"{latency:>7}ms | " + " | ".join(f"{row[k]['p50']:>6.0f}/{row[k]['p95']:<6.0f}"
                                                for k in ("direct", "page", "overhead")))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
