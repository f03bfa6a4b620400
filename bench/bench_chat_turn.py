"""A chat turn's own overhead against the provider's latency, in one run.

Run: .venv/bin/python bench/bench_chat_turn.py [--turns 20] [--latency-ms 0 150]

For each emulator latency setting, measures on the same voice and texts:
  provider  = a bare provider.tts() call (the SDK over HTTP to the emulator; what the provider costs us)
  turn      = message_send + the whole reply task (reply engine, TTS, storing the clip, marking ready),
              run inline (django-q2 sync mode), excluding the background clip analysis
and prints turn/provider and (turn - provider) in ms per turn: the part that is ours. With added
provider latency, the ratio should approach 1 — our overhead is a fixed cost, not a multiple of it.
Prints only; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402

harness.setup("bench-turn-", client=False)  # the turn runs in this process, its usage ledger included

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django_q.conf import Conf  # noqa: E402

from clones import services as clone_services  # noqa: E402
from conversations import services as conversation_services  # noqa: E402
from conversations.models import Message  # noqa: E402
from voiceclone import provider  # noqa: E402
from voiceclone.management.commands.demo import demo_recording  # noqa: E402

TEXTS = harness.TEXTS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 150])
    args = parser.parse_args()

    server, ctl = harness.start_emulator()
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench-password-123")
    voice = clone_services.voice_create(
        owner=user, name="Bench", persona="You are Bench, a patient teacher.",
        samples=[clone_services.SampleUpload(filename="s.wav", data=demo_recording())], consent=True, via="system",
    )
    voice = clone_services.voice_provider_create(voice_id=voice.pk)
    conversation = conversation_services.conversation_create(user=user, voice=voice)
    # From here tasks are only queued (ORM broker, no cluster running): the reply task is called
    # inline below and the background clip analysis, which the user never waits for, is left out.
    Conf.SYNC = False
    provider_voice_id = voice.current_version.provider_voice_id

    print(f"{'latency':>8} {'provider ms':>12} {'turn ms':>9} {'ours ms':>8} {'turn/provider':>14}")
    for latency in args.latency_ms:
        ctl.configure(latency_ms=latency)
        provider_ms, turn_ms = [], []
        for i in range(args.turns):
            # A distinct text per turn so the emulator's cache never answers for free.
            text = f"{TEXTS[i % len(TEXTS)]} ({latency}-{i})"
            t0 = time.perf_counter()
            provider.tts(voice_id=provider_voice_id, text=text + " bare")
            provider_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            _, reply = conversation_services.message_send(conversation=conversation, text=text)
            conversation_services.message_reply_generate(message_id=reply.pk)
            turn_ms.append((time.perf_counter() - t0) * 1000)
            assert Message.objects.get(pk=reply.pk).status == Message.Status.READY
        p, t = statistics.median(provider_ms), statistics.median(turn_ms)
        print(f"{latency:>6}ms {p:>12.1f} {t:>9.1f} {t - p:>8.1f} {t / p:>14.2f}")
    server.stop()


if __name__ == "__main__":
    main()
