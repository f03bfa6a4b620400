"""Adopt a previous installation: its uploads and the provider account's voices (issue 14, item 5).

    python manage.py import_legacy PATH                 # dry run: report what would happen
    python manage.py import_legacy PATH --apply --owner admin
        [--originals-confirmed VOICE_ID ...] [--adopt VOICE_ID ...]
        [--mark-deletable VOICE_ID ...] [--mark-unreferenced-deletable] [--json]

See retraining/services/legacy_import.py and docs/retraining.md for the rules.
"""

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from retraining.services.legacy_import import LegacyImportError, legacy_apply, legacy_plan
from voiceclone import provider


class Command(BaseCommand):
    help = ("Import a previous installation's uploads (voice_messages/, clone_responses/, public/generated/) and "
            "adopt the provider account's voices. Dry run unless --apply.")

    def add_arguments(self, parser):
        parser.add_argument("path", help="The previous installation's uploads folder.")
        parser.add_argument("--apply", action="store_true", help="Do it (default: report only).")
        parser.add_argument("--owner", help="Username owning adopted voices (needed to adopt).")
        parser.add_argument("--adopt", action="append", default=[], metavar="VOICE_ID",
                            help="Also adopt this foreign provider voice (repeatable).")
        parser.add_argument("--originals-confirmed", action="append", default=[], metavar="VOICE_ID",
                            help="Staff confirm this voice's recordings at the provider are the consenting "
                                 "speaker's: import them as originals (repeatable). Or put consent/VOICE_ID.txt "
                                 "in the tree.")
        parser.add_argument("--mark-deletable", action="append", default=[], metavar="VOICE_ID",
                            help="Let the slot planner delete this foreign provider voice (repeatable).")
        parser.add_argument("--mark-unreferenced-deletable", action="store_true",
                            help="Mark every foreign voice the uploads do not refer to deletable.")
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the report as JSON.")

    def handle(self, *args, path, apply, owner, adopt, originals_confirmed, mark_deletable,
               mark_unreferenced_deletable, as_json, **options):
        user = None
        if owner:
            user = get_user_model().objects.filter(username=owner).first()
            if user is None:
                raise CommandError(f"No user {owner!r}.")
        try:
            report = legacy_plan(
                root=path, adopt=adopt, mark_deletable=mark_deletable,
                mark_unreferenced_deletable=mark_unreferenced_deletable, originals_confirmed=originals_confirmed,
            )
            if apply:
                report = legacy_apply(report=report, owner=user, by=user)
        except LegacyImportError as exc:
            raise CommandError(exc.message) from None
        except provider.ProviderError as exc:
            raise CommandError(f"The voice provider could not be read: {exc}") from None
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2, default=str))
        else:
            for line in report.lines():
                self.stdout.write(line)
