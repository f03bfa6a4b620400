"""Propose retrain runs for every eligible voice now (the daily schedule does the same)."""

import json

from django.core.management.base import BaseCommand

from retraining.services import retrain_scan, voices_eligibility


class Command(BaseCommand):
    help = "Scan voices and propose a retrain run for each eligible one; --dry-run only reports eligibility."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Report eligibility without proposing.")
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the result as JSON.")

    def handle(self, *args, dry_run=False, as_json=False, **options):
        if dry_run:
            rows = [e.as_dict() for e in voices_eligibility()]
            if as_json:
                self.stdout.write(_dumps(rows))
                return
            for row in rows:
                verdict = "eligible" if row["is_eligible"] else " ".join(r["message"] for r in row["reasons"])
                self.stdout.write(f"{row['voice_name']} ({row['voice_id']}): {verdict}")
            return
        result = retrain_scan().as_dict()
        if result["is_disabled"] and not as_json:
            self.stdout.write("Retraining is switched off (RETRAIN_ENABLED=false): nothing proposed.")
            return
        if as_json:
            self.stdout.write(_dumps(result))
            return
        self.stdout.write(
            f"{result['voices_checked']} voice(s) checked, {len(result['proposed_run_ids'])} run(s) proposed "
            f"{result['proposed_run_ids'] or ''}".rstrip()
        )
        for code, count in sorted(result["ineligible"].items()):
            self.stdout.write(f"  not eligible ({code}): {count}")


def _dumps(data) -> str:
    return json.dumps(data, indent=2, default=str)
