"""Promotion keeps the Voice id, the next reply speaks with the new provider voice, clients are notified;
only the clone's own originals and generated clips are ever uploaded."""

import hashlib
import hmac

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from clones.models import ClipSample, Voice, VoiceVersion
from clones.services import clip_training_copy
from conversations.models import Message
from retraining.models import RetrainRun, RetrainRunClip
from conversations.services import conversation_create, message_reply_generate, message_send
from retraining.services import (
    retrain_run_approve,
    retrain_run_promote,
    retrain_run_propose,
    version_deletion_request,
)
from tests.audio import mp3_bytes
from tests.served_audio import served
from voiceclone.errors import InvalidState
from voiceclone.events.models import WebhookDelivery

from .helpers import WebhookReceiver, retrainable_voice, run_creates, uploads

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    yield server
    server.close()


def candidate_of(voice, staff_api, run_tasks) -> int:
    response = staff_api.post("/api/v1/retrain-runs/", {"voice": str(voice.pk)}, format="json")
    assert response.status_code == 201, response.content
    run_id = response.json()["id"]
    with run_tasks():
        assert staff_api.post(f"/api/v1/retrain-runs/{run_id}/approve/").status_code == 202
    detail = staff_api.get(f"/api/v1/retrain-runs/{run_id}/").json()
    assert detail["state"] == "candidate", detail
    return run_id


def test_promotion_keeps_the_voice_id_and_the_next_reply_uses_the_new_provider_voice(
    alice, alice_api, staff_api, emulator_ctl, run_tasks, receiver
):
    voice = retrainable_voice(alice)
    old_version = voice.current_version
    conversation = alice_api.post("/api/v1/conversations/", {"voice": str(voice.pk)}, format="json").json()["id"]
    hook = alice_api.post(
        "/api/v1/webhooks/", {"url": receiver.url, "event_types": ["voice.version_promoted"]}, format="json"
    )
    assert hook.status_code == 201, hook.content
    secret = hook.json()["secret"]
    cursor = alice_api.get("/api/v1/events/").json()["cursor"]

    run_id = candidate_of(voice, staff_api, run_tasks)
    detail = staff_api.get(f"/api/v1/retrain-runs/{run_id}/").json()
    assert detail["preview_old_audio_url"] and detail["preview_new_audio_url"]
    assert served(staff_api.get(detail["preview_new_audio_url"])).status == 200
    with run_tasks():
        response = staff_api.post(f"/api/v1/retrain-runs/{run_id}/promote/")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "promoted"

    voice = Voice.objects.get(pk=voice.pk)  # the same id
    run = RetrainRun.objects.get(pk=run_id)
    new_version = run.new_version
    assert voice.current_version_id == new_version.pk and new_version.state == VoiceVersion.State.ACTIVE
    old_version.refresh_from_db()
    assert old_version.state == VoiceVersion.State.ARCHIVED and old_version.archived_at is not None
    assert old_version.provider_voice_id in emulator_ctl.voice_ids()  # archived, kept for rollback
    assert alice_api.get(f"/api/v1/voices/{voice.pk}/").json()["current_version"]["number"] == 2
    # The run's clips now count as used.
    used = ClipSample.objects.filter(run_uses__run__state="promoted", voice=voice).distinct().count()
    assert used == run.run_clips.count()

    # The events feed shows the promotion; the registered webhook got it, signed.
    feed = alice_api.get(f"/api/v1/events/?after={cursor}&type=voice.version_promoted").json()["results"]
    assert len(feed) == 1
    assert feed[0]["voice"] == str(voice.pk) and feed[0]["payload"]["version"] == 2
    assert feed[0]["payload"]["previous_version"] == 1
    assert len(receiver.received) == 1
    delivery = receiver.received[0]
    assert delivery.json["id"] == feed[0]["id"] and delivery.json["type"] == "voice.version_promoted"
    timestamp = delivery.headers["X-Voiceclone-Timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + delivery.body, hashlib.sha256).hexdigest()
    assert delivery.headers["X-Voiceclone-Signature"] == f"sha256={expected}"
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.DELIVERED

    # The conversation's next reply is rendered by the new provider voice.
    with run_tasks():
        sent = alice_api.post(f"/api/v1/conversations/{conversation}/messages/", {"text": "Still you?"}, format="json")
    assert sent.status_code == 202
    reply = Message.objects.get(pk=sent.json()["assistant_message"]["id"])
    assert reply.status == Message.Status.READY
    assert reply.voice_version_id == new_version.pk
    tts = emulator_ctl.requests(path=r"^/v1/text-to-speech/")
    assert tts[-1]["path"] == f"/v1/text-to-speech/{new_version.provider_voice_id}/stream"  # replies stream


def test_a_reply_in_flight_during_promotion_finishes_and_its_old_voice_stays_until_done(
    alice, staff, emulator_ctl, run_tasks
):
    voice = retrainable_voice(alice)
    old_version = voice.current_version
    with run_tasks():
        run = retrain_run_approve(run=retrain_run_propose(voice=voice), by=staff)
    conversation = conversation_create(user=alice, voice=voice)
    _, pending = message_send(conversation=conversation, text="Are you there?")  # its task has not run yet
    retrain_run_promote(run=run, by=staff)

    # The reply started before the promotion may still speak with v1: its provider voice must stay.
    old_version.refresh_from_db()
    with pytest.raises(InvalidState, match="pending reply"):
        version_deletion_request(version=old_version, reason="staff", force=True)
    message_reply_generate(message_id=pending.pk)
    pending.refresh_from_db()
    assert pending.status == Message.Status.READY
    assert pending.voice_version.number == 2
    version_deletion_request(version=old_version, reason="staff", force=True)  # now it may go


def test_only_the_clones_originals_and_generated_clips_are_uploaded_never_user_recordings(
    alice, staff, emulator_ctl, run_tasks
):
    voice = retrainable_voice(alice)
    conversation = voice.conversations.first()
    # A user's own recording in the same conversation, stored like the chat pipeline stores it.
    recording = mp3_bytes(2.0, seed=4242)
    path = default_storage.save(f"user_audio/{alice.pk}/{conversation.pk}/rec.mp3", ContentFile(recording))
    Message.objects.create(conversation=conversation, role=Message.Role.USER, text="hi",
                           input_kind=Message.InputKind.AUDIO, user_audio=path)
    # Clips of another voice and previews are never candidates either.
    other = retrainable_voice(name="Other")
    other_hashes = set(ClipSample.objects.filter(voice=other).values_list("sha256", flat=True))

    with run_tasks():
        run = retrain_run_approve(run=retrain_run_propose(voice=voice), by=staff)
    run.refresh_from_db()
    assert run.state == RetrainRun.State.CANDIDATE

    (create,) = run_creates(emulator_ctl)
    assert create["fields"]["description"] == f"voiceclone-run-{run.pk}"
    uploaded = [f["sha256"] for f in uploads(emulator_ctl)]
    rows = list(run.run_clips.select_related("clip").order_by("position"))
    assert uploaded == [r.upload_sha256 for r in rows]
    assert {r.clip.source for r in rows} == {"original", "generated"}
    assert all(r.clip.voice_id == voice.pk for r in rows)
    assert sum(r.role == RetrainRunClip.Role.ORIGINAL for r in rows) == 3  # every original
    # What was uploaded is exactly the training copy of each selected clip of this voice...
    expected = [clip_training_copy(clip=r.clip, max_use_s=r.use_s).sha256 for r in rows]
    assert uploaded == expected
    # ...and never the user's recording (raw or as a training copy would be) nor another voice's clip.
    assert hashlib.sha256(recording).hexdigest() not in uploaded
    assert not other_hashes & set(uploaded)
    generated_in_run = {r.clip_id for r in rows if r.role == "generated"}
    assert generated_in_run <= set(ClipSample.objects.filter(
        voice=voice, source="generated", review_status="approved").values_list("pk", flat=True))
    # The candidate's lineage is the deepest uploaded clip's.
    assert run.new_version.training_lineage_depth == max(r.clip.lineage_depth for r in rows)
