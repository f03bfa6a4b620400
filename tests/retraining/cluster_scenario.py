"""Steps of the crash test, run in subprocesses against the test's own SQLite file (not the pytest database).

    python -m tests.retraining.cluster_scenario setup          -> {"run_id", "label"}
    python -m tests.retraining.cluster_scenario status RUN_ID  -> {"state", "new_provider_voice_id", ...}
    python -m tests.retraining.cluster_scenario sweep          -> the sweep's result

The caller sets DJANGO_SETTINGS_MODULE=voiceclone.settings, DATABASE_URL, MEDIA_ROOT and the provider URL.
"""

import json
import sys


def setup() -> dict:
    from retraining.services import retrain_run_approve, retrain_run_propose
    from tests.factories import UserFactory
    from tests.retraining.helpers import retrainable_voice

    staff = UserFactory(username="staff", is_staff=True, is_superuser=True)
    voice = retrainable_voice(UserFactory(username="alice"), name="Ada")
    run = retrain_run_approve(run=retrain_run_propose(voice=voice), by=staff)  # enqueued in the ORM broker
    return {"run_id": run.pk, "label": run.provider_voice_label}


def status(run_id: str) -> dict:
    from retraining.models import RetrainRun

    run = RetrainRun.objects.select_related("new_version").get(pk=int(run_id))
    return {
        "state": run.state,
        "attempt_count": run.attempt_count,
        "create_requested": run.create_requested_at is not None,
        "new_provider_voice_id": run.new_version.provider_voice_id if run.new_version else None,
        "failure": run.failure_message,
    }


def sweep() -> dict:
    from retraining.services import retrain_runs_sweep

    return retrain_runs_sweep()


def main(argv: list[str]) -> None:
    import django

    django.setup()
    command, *args = argv
    result = {"setup": setup, "status": status, "sweep": sweep}[command](*args)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
