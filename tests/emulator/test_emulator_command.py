"""`manage.py emulator`: starts a server with the given options and prints its URL."""

import io
import re
import threading
import time

import httpx

from voiceclone.management.commands.emulator import Command


def test_command_serves_until_stopped_and_prints_the_url():
    output = io.StringIO()
    command = Command(stdout=output)
    options = {"host": "127.0.0.1", "port": 0, "voice_limit": 4, "character_limit": 1000, "state_file": None,
               "latency_ms": 0, "api_keys": None, "verbosity": 1}
    thread = threading.Thread(target=command.handle, kwargs=options, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while "listening" not in output.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)

    match = re.search(r"ElevenLabs emulator listening on (http://127\.0\.0\.1:\d+)", output.getvalue())
    assert match, output.getvalue()
    subscription = httpx.get(f"{match.group(1)}/v1/user/subscription", headers={"xi-api-key": "k"}).json()
    command.server.stop()
    thread.join(timeout=5)

    assert (subscription["voice_limit"], subscription["character_limit"]) == (4, 1000)
    assert not thread.is_alive()


def test_command_defaults():
    parser = Command().create_parser("manage.py", "emulator")

    options = vars(parser.parse_args([]))

    assert (options["host"], options["port"], options["voice_limit"], options["state_file"], options["latency_ms"]) == (
        "127.0.0.1", 8765, 30, None, 0,
    )
