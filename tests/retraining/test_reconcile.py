"""Crash safety without a cluster: adoption after an applied-but-unanswered create, duplicate and stale
tasks, and `reconcile_provider` comparing provider voices with our versions."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from clones.models import VoiceVersion
from retraining.models import RetrainRun
from retraining.services import (
    provider_labels,
    retrain_run_approve,
    retrain_run_execute,
    retrain_run_propose,
    retrain_runs_sweep,
)

from .helpers import provider_voice, retrainable_voice, run_creates, voice_with_history

pytestmark = pytest.mark.django_db


def approved(voice, staff) -> RetrainRun:
    run = retrain_run_propose(voice=voice)
    return retrain_run_approve(run=run, by=staff)  # outside run_tasks: the task is not run


def labelled_voice_of(run) -> str:
    return provider_voice("Orphan", description=run.provider_voice_label, labels=provider_labels(run))


def test_a_create_applied_but_never_answered_is_adopted_in_the_same_attempt(staff, emulator_ctl, run_tasks):
    voice = retrainable_voice()
    emulator_ctl.add_fault(path=r"^/v1/voices/add$", method="POST", mode="drop_after")
    with run_tasks():
        run = retrain_run_approve(run=retrain_run_propose(voice=voice), by=staff)
    run.refresh_from_db()
    assert run.state == RetrainRun.State.CANDIDATE, run.failure_message
    labelled = [v for v in emulator_ctl.state()["voices"] if v.get("description") == run.provider_voice_label]
    assert len(labelled) == 1
    assert run.new_version.provider_voice_id == labelled[0]["voice_id"]
    assert len(run_creates(emulator_ctl)) == 1


def test_a_run_whose_worker_died_after_the_create_is_swept_and_adopts_the_voice(staff, emulator_ctl, run_tasks):
    voice = retrainable_voice()
    run = approved(voice, staff)
    # What a worker killed right after the provider create left behind: a claimed run, an intent, a
    # labelled provider voice, and no version row.
    orphan = labelled_voice_of(run)
    stale = timezone.now() - timedelta(hours=1)
    RetrainRun.objects.filter(pk=run.pk).update(state="running", claimed_at=stale, create_requested_at=stale,
                                                attempt_count=1)
    with run_tasks():
        result = retrain_runs_sweep()
    assert result["re_enqueued"] == [run.pk]
    run.refresh_from_db()
    assert run.state == RetrainRun.State.CANDIDATE
    assert run.new_version.provider_voice_id == orphan
    assert len(run_creates(emulator_ctl)) == 1  # the dead worker's; adopted, never created a second time
    assert run.attempt_count == 2


def test_a_duplicate_task_stops_and_a_live_lease_is_respected(staff, emulator_ctl, run_tasks):
    voice = retrainable_voice()
    run = approved(voice, staff)
    RetrainRun.objects.filter(pk=run.pk).update(state="running", claimed_at=timezone.now())
    assert retrain_run_execute(run_id=run.pk) is None  # another worker holds it
    with run_tasks():
        assert retrain_runs_sweep()["re_enqueued"] == []
    RetrainRun.objects.filter(pk=run.pk).update(state="approved", claimed_at=None)
    assert retrain_run_execute(run_id=run.pk).state == RetrainRun.State.CANDIDATE
    assert retrain_run_execute(run_id=run.pk) is None  # done: a redelivered task changes nothing
    assert len(run_creates(emulator_ctl)) == 1


def test_reconcile_reports_then_fixes_orphans_and_missing_versions(staff, emulator_ctl, capsys):
    voice = retrainable_voice()
    failed = approved(voice, staff)
    RetrainRun.objects.filter(pk=failed.pk).update(state="failed", failure_code="provider_unavailable")
    unrecorded = labelled_voice_of(failed)
    other = retrainable_voice(name="Other")
    cancelled = RetrainRun.objects.create(voice=other, state=RetrainRun.State.CANCELLED)
    unwanted = labelled_voice_of(cancelled)
    foreign = provider_voice("Made by hand in the ElevenLabs dashboard")
    history, (h1, h2) = voice_with_history(name="Hist", archived=1)
    from voiceclone import provider

    provider.delete_voice(voice_id=h1.provider_voice_id)  # vanished behind our back

    with pytest.raises(CommandError):
        call_command("reconcile_provider")
    out = capsys.readouterr().out
    assert f"orphan {unrecorded} [run_voice_unrecorded]" in out
    assert f"orphan {unwanted} [run_voice_unwanted]" in out
    assert f"orphan {foreign} [unknown]" in out
    assert f"missing {h1.provider_voice_id}" in out
    assert VoiceVersion.objects.filter(provider_voice_id=unrecorded).count() == 0  # a report changes nothing

    call_command("reconcile_provider", "--fix")
    failed.refresh_from_db()
    assert failed.new_version.provider_voice_id == unrecorded
    assert failed.new_version.state == VoiceVersion.State.CANDIDATE
    ids = emulator_ctl.voice_ids()
    assert unwanted not in ids and foreign in ids and unrecorded in ids
    h1.refresh_from_db()
    assert h1.state == VoiceVersion.State.DELETED

    capsys.readouterr()
    call_command("reconcile_provider")  # only the foreign voice remains, which is never ours to fix
    assert f"orphan {foreign} [unknown]" in capsys.readouterr().out
