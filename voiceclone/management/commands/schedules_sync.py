"""Create or update the django-q2 schedules the product relies on (idempotent)."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django_q.models import Schedule

# name -> (task path, minutes between runs)
SCHEDULES = {
    # The cluster itself sweeps every STUCK_WORK_SWEEP_S (docs/reliability.md); these are the fallback.
    "re-enqueue stuck replies": ("conversations.tasks.messages_pending_sweep", 1),
    "re-enqueue stuck voice creations": ("clones.tasks.voices_creating_sweep", 1),
    # Retraining (issue 6): propose runs for eligible voices; give freed slots to waiting runs (FIFO) and
    # re-enqueue runs whose worker died; delete archived voices beyond the keep count; compare with the provider.
    "retrain eligibility scan": ("retraining.tasks.retrain_scan", settings.RETRAIN_SCAN_INTERVAL_MIN),
    "retrain runs: slot re-check and sweep": ("retraining.tasks.retrain_runs_sweep", settings.RETRAIN_SLOT_RECHECK_MIN),
    "archived voices cleanup": ("retraining.tasks.archived_voices_cleanup", settings.ARCHIVED_VOICES_CLEANUP_INTERVAL_MIN),
    "provider reconciliation report": ("retraining.tasks.provider_reconcile", settings.PROVIDER_RECONCILE_INTERVAL_MIN),
    # Clone fidelity (issue 10): score each live voice's recent replies against its originals and baseline.
    "fidelity drift monitor": ("fidelity.tasks.drift_monitor_run", settings.FIDELITY_DRIFT_INTERVAL_MIN),
    "webhook redelivery sweep": ("voiceclone.events.tasks.webhook_deliveries_sweep",
                                 settings.WEBHOOK_REDELIVERY_INTERVAL_MIN),
}


class Command(BaseCommand):
    help = "Create or update the product's periodic background tasks."

    def handle(self, *args, **options):
        schedules = dict(SCHEDULES)
        if not settings.RETRAIN_ENABLED:
            # Retraining switched off (issue 14): no scheduled scan proposes runs.
            schedules.pop("retrain eligibility scan")
            Schedule.objects.filter(func="retraining.tasks.retrain_scan").delete()
            self.stdout.write("RETRAIN_ENABLED is off: the retrain eligibility scan is not scheduled.")
        for name, (func, minutes) in schedules.items():
            Schedule.objects.update_or_create(
                name=name,
                defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1},
            )
        self.stdout.write(f"{len(schedules)} schedule(s) in place.")
