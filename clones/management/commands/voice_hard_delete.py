"""Erase a voice for a data-subject request: provider voices, files and rows (docs/consent.md)."""

import json
import uuid

from django.core.management.base import BaseCommand, CommandError

from clones.models import Voice
from clones.services import voice_hard_delete
from voiceclone import provider


class Command(BaseCommand):
    help = (
        "Hard-delete a voice (data-subject request): revoke its consent if needed, delete every provider voice, "
        "every file (originals, replies, previews, recordings in its conversations, consent recordings) and every "
        "row. The consent records and audit entries stay. Prints what was removed as JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("voice_id", help="The voice's UUID.")
        parser.add_argument("--reason", default="data-subject request", help="Kept on the consent records.")
        parser.add_argument("--yes", action="store_true", help="Do it (without it, only say what would be erased).")

    def handle(self, *args, voice_id, reason, yes=False, **options):
        try:
            voice = Voice.objects.get(pk=uuid.UUID(voice_id))
        except (Voice.DoesNotExist, ValueError):
            raise CommandError(f"No voice {voice_id}.") from None
        if not yes:
            self.stdout.write(f"Would erase “{voice.name}” ({voice.pk}, {voice.status}) with "
                              f"{voice.versions.count()} version(s) and {voice.clips.count()} clip(s). "
                              "Repeat with --yes.")
            return
        try:
            report = voice_hard_delete(voice=voice, reason=reason)
        except provider.ProviderError as exc:
            raise CommandError(f"The provider could not delete the voice's provider voices; nothing local was "
                               f"removed. Try again. ({exc.message})") from None
        self.stdout.write(json.dumps(report, indent=2))
