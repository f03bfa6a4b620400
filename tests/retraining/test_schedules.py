"""The retraining and webhook schedules exist and point at real task functions."""

from importlib import import_module
from io import StringIO

import pytest
from django.core.management import call_command
from django_q.models import Schedule

pytestmark = pytest.mark.django_db

EXPECTED = {
    "retraining.tasks.retrain_scan": 24 * 60,
    "retraining.tasks.retrain_runs_sweep": 1,
    "retraining.tasks.archived_voices_cleanup": 60,
    "retraining.tasks.provider_reconcile": 60,
    "voiceclone.events.tasks.webhook_deliveries_sweep": 1,
    "fidelity.tasks.drift_monitor_run": 24 * 60,
}


def test_schedules_sync_creates_the_retraining_and_webhook_schedules():
    call_command("schedules_sync", stdout=StringIO())
    for func, minutes in EXPECTED.items():
        schedule = Schedule.objects.get(func=func)
        assert schedule.minutes == minutes and schedule.repeats == -1
        module, name = func.rsplit(".", 1)
        assert callable(getattr(import_module(module), name))


def test_the_scheduled_tasks_run_on_an_empty_account(emulator_ctl):
    from retraining import tasks
    from voiceclone.events import tasks as event_tasks

    assert tasks.retrain_scan() == {"proposed_run_ids": [], "ineligible": {}, "voices_checked": 0,
                                    "is_disabled": False}
    assert tasks.retrain_runs_sweep() == {"re_enqueued": [], "resumed": [], "gates_re_enqueued": []}
    assert tasks.archived_voices_cleanup() == {"deleted": [], "failed": []}
    assert tasks.provider_reconcile()["is_clean"] is True
    assert event_tasks.webhook_deliveries_sweep() == 0
