"""Compare the provider's custom voices with our VoiceVersions; --fix adopts or deletes orphans."""

import json

from django.core.management.base import BaseCommand, CommandError

from retraining.services import provider_reconcile
from voiceclone import provider


class Command(BaseCommand):
    help = (
        "Report provider voices no version records (orphans) and versions whose provider voice is gone. "
        "With --fix: adopt a run's unrecorded voice as its candidate, delete voiceclone-made voices nobody "
        "wants, record vanished archived/candidate versions as deleted, retry pending deletions. Voices "
        "voiceclone did not create are never touched. Exit status 1 when differences remain unfixed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="Apply the fixes.")
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the report as JSON.")

    def handle(self, *args, fix=False, as_json=False, **options):
        try:
            report = provider_reconcile(fix=fix)
        except provider.ProviderError as exc:
            raise CommandError(f"Could not read the provider's voices: {exc}") from exc
        data = report.as_dict()
        if as_json:
            self.stdout.write(_dumps(data))
        else:
            self.stdout.write(
                f"{data['provider_voices']} provider voice(s), {data['recorded']} recorded by a version."
            )
            for orphan in data["orphans"]:
                line = (f"orphan {orphan['provider_voice_id']} [{orphan['kind']}] {orphan.get('owner', '')}: "
                        f"{orphan['action']}")
                if "result" in orphan:
                    line += f" -> {orphan['result']}"
                self.stdout.write(line)
            for missing in data["missing"]:
                line = (f"missing {missing['provider_voice_id']} ({missing['voice_name']} v{missing['number']}, "
                        f"{missing['state']}): {missing['action']}")
                if "result" in missing:
                    line += f" -> {missing['result']}"
                self.stdout.write(line)
            for deletion in data["pending_deletions"]:
                line = f"pending deletion {deletion['provider_voice_id']}: {deletion['action']}"
                if "result" in deletion:
                    line += f" -> {deletion['result']}"
                self.stdout.write(line)
            if report.is_clean:
                self.stdout.write(self.style.SUCCESS("In sync."))
        unfixable = [o for o in data["orphans"] if o["kind"] != "unknown"] + data["missing"] + data["pending_deletions"]
        if unfixable and not fix:
            raise CommandError("Differences found; run with --fix to repair them.", returncode=1)


def _dumps(data) -> str:
    return json.dumps(data, indent=2, default=str)
