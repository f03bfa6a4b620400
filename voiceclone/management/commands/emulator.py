"""`manage.py emulator`: run the local ElevenLabs API emulator until Ctrl-C.

Point the app at it with ELEVENLABS_BASE_URL=<printed URL> and any non-empty ELEVENLABS_API_KEY.
Faults can be preset with ELEVENLABS_EMULATOR_FAULTS (a JSON list of fault dicts, see
voiceclone/emulator/faults.py) and changed at runtime through the /_emulator/ control API.
"""

from django.core.management.base import BaseCommand, CommandError

from voiceclone.emulator import EmulatorServer
from voiceclone.emulator.faults import FaultSpecError


class Command(BaseCommand):
    help = "Run the local ElevenLabs API emulator (for development and tests)."
    # The emulator needs neither the database nor the app: run even before migrations exist.
    requires_system_checks: list = []
    requires_migrations_checks = False

    server: EmulatorServer | None = None

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--voice-limit", type=int, default=30, help="custom voice slots (default 30)")
        parser.add_argument("--character-limit", type=int, default=1_000_000, help="TTS characters per period")
        parser.add_argument("--state-file", default=None, help="JSON file to keep voices and usage across restarts")
        parser.add_argument("--latency-ms", type=int, default=0, help="delay added to every API request")
        parser.add_argument(
            "--api-key", action="append", dest="api_keys", default=None,
            help="accept only this xi-api-key (repeatable); by default any non-empty key is accepted",
        )

    def handle(self, *args, **options) -> None:
        try:
            self.server = EmulatorServer(
                host=options["host"],
                port=options["port"],
                voice_limit=options["voice_limit"],
                character_limit=options["character_limit"],
                state_file=options["state_file"],
                api_keys=options["api_keys"],
                latency_ms=options["latency_ms"],
                log_requests=options["verbosity"] >= 2,
            )
        except (OSError, RuntimeError, FaultSpecError) as exc:
            raise CommandError(f"cannot start the emulator: {exc}") from exc
        self.stdout.write(f"ElevenLabs emulator listening on {self.server.url}")
        self.stdout.flush()
        try:
            self.server.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("Stopping the emulator.")
        finally:
            self.server.stop()
