"""Create or update the django-q2 schedules the product relies on (idempotent)."""

from django.core.management.base import BaseCommand
from django_q.models import Schedule

# name -> (task path, minutes between runs)
SCHEDULES = {
    "re-enqueue stuck replies": ("conversations.tasks.messages_pending_sweep", 1),
}


class Command(BaseCommand):
    help = "Create or update the product's periodic background tasks."

    def handle(self, *args, **options):
        for name, (func, minutes) in SCHEDULES.items():
            Schedule.objects.update_or_create(
                name=name,
                defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1},
            )
        self.stdout.write(f"{len(SCHEDULES)} schedule(s) in place.")
