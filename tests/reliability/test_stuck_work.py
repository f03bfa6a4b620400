"""No stuck work (issue 9 item 2): every way a turn, a voice creation or a retrain run can go wrong ends
`failed` with a reason or in a bounded retry; concurrent messages in one conversation are all answered;
the stuck-work sweep resolves each kind of row a killed worker leaves behind."""

import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from clones.models import Voice
from conversations import services as conversation_services
from conversations.models import Conversation, Message
from retraining.models import RetrainRun
from retraining.services import retrain_run_approve, retrain_run_propose
from tests.audio import wav_bytes
from tests.retraining.helpers import retrainable_voice
from voiceclone import provider, replies
from voiceclone.background import stuck_work_sweep
from voiceclone.leases import worker_identity, worker_is_gone

pytestmark = pytest.mark.django_db


def post_message(api, conversation_id, text, capture, *, run=True):
    with capture(execute=run):
        response = api.post(f"/api/v1/conversations/{conversation_id}/messages/", {"text": text}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["assistant_message"]["id"]


def stale():
    return timezone.now() - timedelta(minutes=5)


# --- a turn always ends -------------------------------------------------------------------------------


def test_two_messages_sent_at_once_are_both_answered_each_with_its_own_message(
    alice_api, alice_conversation, django_capture_on_commit_callbacks, monkeypatch
):
    asked = []
    real = replies.generate_reply

    def spy(request):
        asked.append([turn.text for turn in request.history])
        return real(request)

    monkeypatch.setattr(replies, "generate_reply", spy)
    # Two tabs post at once: both requests take their timestamps before either commits, so the rows
    # interleave as user 1, user 2, reply 1, reply 2.
    first = post_message(alice_api, alice_conversation, "What bread do you bake?", django_capture_on_commit_callbacks,
                         run=False)
    second = post_message(alice_api, alice_conversation, "And which cake?", django_capture_on_commit_callbacks,
                          run=False)
    t0 = timezone.now()
    for offset, message in enumerate([Message.objects.get(pk=first).in_reply_to_id,
                                      Message.objects.get(pk=second).in_reply_to_id, first, second]):
        Message.objects.filter(pk=message).update(created_at=t0 + timedelta(milliseconds=offset))

    # The first reply is written before the second (its text then sits after user 2 in time).
    for message_id in (first, second):
        with django_capture_on_commit_callbacks(execute=True):
            conversation_services.message_reply_generate(message_id=message_id)

    for message_id in (first, second):
        detail = alice_api.get(f"/api/v1/messages/{message_id}/").json()
        assert detail["status"] == "ready", detail
    assert asked == [["What bread do you bake?"], ["What bread do you bake?", "And which cake?"]]


def test_an_unexpected_error_in_a_turn_ends_it_failed_with_a_reason_and_retry_works(
    alice_api, alice_conversation, django_capture_on_commit_callbacks, monkeypatch
):
    def broken(request):
        raise KeyError("surprise")

    monkeypatch.setattr(replies, "generate_reply", broken)
    message_id = post_message(alice_api, alice_conversation, "Hello?", django_capture_on_commit_callbacks)
    detail = alice_api.get(f"/api/v1/messages/{message_id}/").json()
    assert detail["status"] == "failed"
    assert detail["failure_code"] == "internal_error"
    assert "KeyError" in detail["failure_reason"] and "Retry" in detail["failure_reason"]
    assert Message.objects.get(pk=message_id).claimed_at is None

    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        assert alice_api.post(f"/api/v1/messages/{message_id}/retry/").status_code == 202
    assert alice_api.get(f"/api/v1/messages/{message_id}/").json()["status"] == "ready"


def test_a_database_failure_in_a_turn_is_retried_a_bounded_number_of_times(
    alice_api, alice_conversation, django_capture_on_commit_callbacks, monkeypatch, settings
):
    settings.WORK_MAX_ATTEMPTS = 3
    real = replies.generate_reply
    calls = []

    def locked_once(request):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("database is locked")
        return real(request)

    monkeypatch.setattr(replies, "generate_reply", locked_once)
    message_id = post_message(alice_api, alice_conversation, "Once more?", django_capture_on_commit_callbacks)
    message = Message.objects.get(pk=message_id)
    assert message.status == Message.Status.READY
    assert message.attempt_count == 2

    def always_locked(request):
        calls.append(1)
        raise OperationalError("database is locked")

    monkeypatch.setattr(replies, "generate_reply", always_locked)
    calls.clear()
    message_id = post_message(alice_api, alice_conversation, "And again?", django_capture_on_commit_callbacks)
    message = Message.objects.get(pk=message_id)
    assert message.status == Message.Status.FAILED
    assert message.failure_code == "internal_error"
    assert len(calls) == message.attempt_count == 3


def test_an_unexpected_error_in_a_voice_creation_ends_it_failed_with_a_reason(alice_api, emulator_ctl,
                                                                               django_capture_on_commit_callbacks,
                                                                               monkeypatch):
    def broken(**kwargs):
        raise AttributeError("surprise")

    monkeypatch.setattr(provider, "create_voice", broken)
    voice_id = create_voice(alice_api, django_capture_on_commit_callbacks)
    detail = alice_api.get(f"/api/v1/voices/{voice_id}/").json()
    assert detail["status"] == "failed"
    assert "AttributeError" in detail["failure_reason"]


def test_an_unexpected_error_in_a_retrain_run_ends_it_failed_with_a_reason(staff, emulator_ctl, run_tasks,
                                                                           monkeypatch):
    from retraining.services import runs

    def broken(run):
        raise ZeroDivisionError("surprise")

    monkeypatch.setattr(runs, "_render_previews", broken)
    voice = retrainable_voice()
    with run_tasks():
        run = retrain_run_approve(run=retrain_run_propose(voice=voice), by=staff)
    run.refresh_from_db()
    assert run.state == RetrainRun.State.FAILED
    assert run.failure_code == "internal_error"
    assert "ZeroDivisionError" in run.failure_message
    assert run.claimed_at is None


# --- the sweep resolves what a killed worker left behind -----------------------------------------------


def create_voice(api, capture, *, run=True) -> str:
    with capture(execute=run):
        response = api.post("/api/v1/voices/", {
            "name": "Ada", "persona": "You are Ada.", "consent": "true",
            "samples": [upload("one.wav", wav_bytes(3, seed=1)), upload("two.wav", wav_bytes(3, seed=2))],
        }, format="multipart")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def upload(name, data):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="audio/wav")


def test_the_sweep_resumes_each_kind_of_stuck_row(alice, alice_api, bob_api, alice_conversation, staff, emulator_ctl,
                                                   client, django_capture_on_commit_callbacks, run_tasks):
    # A reply, a voice creation and a retrain run, each claimed by a worker that was then killed: the
    # claims stopped being refreshed (no heartbeat) five minutes ago.
    message_id = post_message(alice_api, alice_conversation, "Are you there?", django_capture_on_commit_callbacks,
                              run=False)
    Message.objects.filter(pk=message_id).update(claimed_at=stale(), attempt_count=1)
    voice_id = create_voice(bob_api, django_capture_on_commit_callbacks, run=False)
    Voice.objects.filter(pk=voice_id).update(claimed_at=stale(), attempt_count=1)
    run = retrain_run_approve(run=retrain_run_propose(voice=retrainable_voice()), by=staff)
    RetrainRun.objects.filter(pk=run.pk).update(state="running", claimed_at=stale(), attempt_count=1)

    # Meanwhile the page and the API say the reply is being retried.
    assert alice_api.get(f"/api/v1/messages/{message_id}/").json()["is_retrying"] is True
    client.force_login(alice)
    page = client.get(f"/conversations/{alice_conversation}/")
    assert page.status_code == 200
    assert "…retrying" in page.content.decode()

    with run_tasks():
        swept = stuck_work_sweep()
    assert swept == {"replies": 1, "voices": 1, "consent_checks": 0, "retrain_runs": 1, "provider_deletions": 0}

    detail = alice_api.get(f"/api/v1/messages/{message_id}/").json()
    assert detail["status"] == "ready" and detail["is_retrying"] is False
    assert bob_api.get(f"/api/v1/voices/{voice_id}/").json()["status"] == "ready"
    run.refresh_from_db()
    assert run.state == RetrainRun.State.CANDIDATE
    assert run.attempt_count == 2


def test_the_sweep_leaves_work_whose_worker_is_alive(alice_api, alice_conversation, django_capture_on_commit_callbacks,
                                                     bob_api):
    message_id = post_message(alice_api, alice_conversation, "Still thinking?", django_capture_on_commit_callbacks,
                              run=False)
    Message.objects.filter(pk=message_id).update(claimed_at=timezone.now(), attempt_count=1)  # a fresh heartbeat
    voice_id = create_voice(bob_api, django_capture_on_commit_callbacks, run=False)
    Voice.objects.filter(pk=voice_id).update(claimed_at=timezone.now(), attempt_count=1)

    assert alice_api.get(f"/api/v1/messages/{message_id}/").json()["is_retrying"] is False
    assert stuck_work_sweep() == {"replies": 0, "voices": 0, "consent_checks": 0, "retrain_runs": 0,
                                  "provider_deletions": 0}
    # A duplicate task (broker redelivery) stops early instead of racing the live worker.
    assert conversation_services.message_reply_generate(message_id=message_id) is None
    assert Message.objects.get(pk=message_id).status == Message.Status.PENDING
    assert Conversation.objects.count() == 1


def _gone_worker_identity() -> str:
    """The identity a worker process had, once it is gone (it ran, exited and was reaped)."""
    worker = subprocess.Popen([sys.executable, "-c", "pass"])
    worker.wait()
    return f"{socket.gethostname()}:{worker.pid}:"


def test_a_reply_whose_worker_process_is_gone_is_handed_on_before_its_lease_runs_out(
        alice_api, alice_conversation, django_capture_on_commit_callbacks, run_tasks):
    """A killed worker's claim is still fresh (its last heartbeat was a moment ago): the lease alone would
    keep the reply waiting WORK_LEASE_S with nothing shown. The sweep sees the process is gone and hands
    the reply on at once (released: the API says `is_retrying` until it is ready). A live holder keeps
    its claim."""
    killed = post_message(alice_api, alice_conversation, "Are you there?", django_capture_on_commit_callbacks,
                          run=False)
    alive = post_message(alice_api, alice_conversation, "And now?", django_capture_on_commit_callbacks, run=False)
    Message.objects.filter(pk=killed).update(claimed_at=timezone.now(), claimed_by=_gone_worker_identity(),
                                             attempt_count=1)
    Message.objects.filter(pk=alive).update(claimed_at=timezone.now(), claimed_by=worker_identity(), attempt_count=1)
    assert alice_api.get(f"/api/v1/messages/{killed}/").json()["is_retrying"] is False  # not known yet

    with run_tasks():
        assert stuck_work_sweep()["replies"] == 1  # (the suite's queue runs the re-enqueued turn at once)
    detail = alice_api.get(f"/api/v1/messages/{killed}/").json()
    assert detail["status"] == "ready"
    assert Message.objects.get(pk=killed).attempt_count == 2
    still = Message.objects.get(pk=alive)  # its live worker keeps it
    assert still.status == Message.Status.PENDING and still.attempt_count == 1 and still.claimed_at is not None


def test_a_claim_of_another_host_or_of_a_reused_pid_is_judged_correctly():
    me = worker_identity()
    host, pid, start = me.split(":")
    assert worker_is_gone(me) is False
    assert worker_is_gone(f"another-host:{pid}:{start}") is False  # only that host's sweep can tell
    assert worker_is_gone("") is False and worker_is_gone("garbage") is False
    assert worker_is_gone(_gone_worker_identity()) is True
    if start:  # Linux: the same pid with another start time is another process
        assert worker_is_gone(f"{host}:{pid}:{int(start) + 1}") is True


def test_a_voice_creation_whose_rows_cannot_be_written_leaves_no_files(alice, monkeypatch):
    from django.core.files.storage import default_storage

    from clones import services as clone_services
    from clones import storage
    from clones.models import ConsentRecord

    saved = []
    real_save = storage.save_bytes

    def save(path, data):
        saved.append(real_save(path, data))
        return saved[-1]

    def locked(**kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(storage, "save_bytes", save)
    monkeypatch.setattr(ConsentRecord.objects, "create", locked)
    with pytest.raises(OperationalError):
        clone_services.voice_create(
            owner=alice, name="Ada", persona="You are Ada.", consent=True,
            samples=[clone_services.SampleUpload(filename="one.wav", data=wav_bytes(3, seed=1))],
        )
    assert not Voice.objects.exists()
    assert len(saved) == 1 and saved[0].startswith("originals/")
    assert not default_storage.exists(saved[0])
