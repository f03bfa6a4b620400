"""The chat page's latency in Chromium: from pressing Send to the reply's audio element playing.

Run: .venv/bin/python bench/chat_latency_page.py [--turns 8] [--latency-ms 0 150 300] [--poll-s S]
                                                 [--workers 2] [--json var/bench/chat_latency_page.json]

Starts the stack bin/run starts (uvicorn, a django-q2 cluster) against an emulator in this process
(bench/harness.py), logs in with the system Chromium (/usr/bin/chromium), and for each emulator latency
sends --turns messages on the chat page, timing in the page (performance.now()) from the Send click to the
first "playing" event of the reply's audio; then times the provider's streaming TTS of the same reply text
to its first byte (direct). Prints p50/p95 of both and of the overhead, and where the turns' time went
(from the stack's records, the last column up to the audio playing), writes JSON. Asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402

harness.setup("bench-page-")

from playwright.sync_api import sync_playwright  # noqa: E402

PASSWORD = "correct horse battery staple"
# Records, per reply bubble, when its audio first played (performance.now()).
PROBE = """
window.__played = {};
document.addEventListener("playing", function (event) {
  var li = event.target.closest && event.target.closest("li.msg--assistant");
  if (li && !(li.dataset.messageId in window.__played)) window.__played[li.dataset.messageId] = performance.now();
}, true);
"""


def measure(browser, stack, ctl, latency: int, turns: int) -> dict:
    voice_id = harness.bench_voice(f"Page {latency}", seed=13)
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
    done = []
    for turn in range(turns + 1):  # the first turn warms up; not counted
        count = page.locator("li.msg--assistant").count()
        page.get_by_role("textbox", name="Message").fill(harness.text_for(turn, latency))
        clicked = page.evaluate("() => performance.now()")
        sent_at = time.time()
        page.get_by_role("button", name="Send").click()
        page.wait_for_function(f"() => document.querySelectorAll('li.msg--assistant').length > {count}")
        reply = page.locator("li.msg--assistant").last
        reply_id = reply.get_attribute("data-message-id")
        page.wait_for_function(f"() => '{reply_id}' in window.__played", timeout=60_000)
        page_ms = page.evaluate(f"() => window.__played['{reply_id}']") - clicked
        page.wait_for_selector(f"#msg-{reply_id}.msg--ready", timeout=60_000)
        text = reply.locator(".msg__text").inner_text()
        direct_ms = harness.direct_first_byte_ms(voice_id, text)
        if turn:
            done.append({"page": page_ms, "direct": direct_ms, "timeline": harness.turn_timeline(stack, reply_id),
                         "sent_at": sent_at, "played_at": sent_at + page_ms / 1000})
    context.close()
    # Only replies the provider spoke: an identical earlier render is reused from storage (no TTS at all).
    spoken = [row for row in done if harness.spoken(row["timeline"])]
    breakdown = harness.breakdown([r["timeline"] for r in spoken], [r["sent_at"] for r in spoken],
                                  [r["played_at"] for r in spoken])
    breakdown["to playing"] = breakdown.pop("to listener")
    return {
        "turns": len(done), "spoken": len(spoken),
        "direct": harness.summary([r["direct"] for r in spoken]), "page": harness.summary([r["page"] for r in spoken]),
        "overhead": harness.summary([r["page"] - r["direct"] for r in spoken]),
        "breakdown": breakdown,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 150, 300])
    parser.add_argument("--poll-s", type=float, default=None, help="Q_POLL_S of the ORM broker (default: the settings')")
    parser.add_argument("--workers", type=int, default=2, help="the cluster's workers (bin/run's default: 2)")
    parser.add_argument("--json", default=harness.default_json("chat_latency_page"))
    args = parser.parse_args()

    poll_s = args.poll_s if args.poll_s is not None else harness.settings_poll_s()
    load_before = harness.load_average()
    emulator, ctl = harness.start_emulator()
    stack = harness.start_stack(emulator, poll_s=poll_s, workers=args.workers, name="page")
    results = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True,
                args=["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"])
            for latency in args.latency_ms:
                results[latency] = measure(browser, stack, ctl, latency, args.turns)
            browser.close()
    finally:
        stack.stop()
        emulator.stop()
    load_after = harness.load_average()

    print("\nturns whose reply the provider spoke: "
          + ", ".join(f"{lat}ms {row['spoken']} of {row['turns']}" for lat, row in results.items()))
    harness.print_table(
        f"chat page latency (Send → audio playing), poll {poll_s} s, {args.turns} turns per row, ms (p50 / p95); "
        f"load {load_before} -> {load_after}",
        "emulator", ["direct TTFB", "page plays", "overhead"],
        {f"{lat}ms": [row[k] for k in ("direct", "page", "overhead")] for lat, row in results.items()})
    steps = list(next(iter(results.values()))["breakdown"])
    harness.print_table("where a page turn's time went, ms (p50 / p95)", "emulator", steps,
                        {f"{lat}ms": [row["breakdown"][s] for s in steps] for lat, row in results.items()})
    harness.write_json(args.json, {
        "bench": "chat_latency_page", "poll_s": poll_s, "workers": args.workers, "turns": args.turns,
        "load_average": {"before": load_before, "after": load_after}, "command": " ".join(sys.argv),
        "results": results,
    })


if __name__ == "__main__":
    main()
