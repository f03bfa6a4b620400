"""Delete archived provider voices beyond the keep count (the scheduled cleanup, run now)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from retraining.services import archived_voices_cleanup, deletable_archived_versions, discarded_candidate_versions


class Command(BaseCommand):
    help = (
        "Delete the provider voices of archived versions beyond ARCHIVED_VOICES_KEEP per voice (never one a "
        "pending reply or an open run uses) and of discarded candidates; retry pending deletions."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List what would be deleted.")

    def handle(self, *args, dry_run=False, **options):
        if dry_run:
            versions = deletable_archived_versions() + discarded_candidate_versions()
            for v in versions:
                self.stdout.write(f"would delete {v.voice.name} v{v.number} ({v.state}) {v.provider_voice_id}")
            self.stdout.write(f"{len(versions)} provider voice(s) would be deleted "
                              f"(keep {settings.ARCHIVED_VOICES_KEEP} archived per voice).")
            return
        result = archived_voices_cleanup()
        for item in result.deleted:
            self.stdout.write(f"deleted {item['voice_name']} v{item['number']} {item['provider_voice_id']}")
        for item in result.failed:
            self.stderr.write(f"failed {item['voice_name']} v{item['number']}: {item['error']}")
        self.stdout.write(f"{len(result.deleted)} deleted, {len(result.failed)} failed.")
