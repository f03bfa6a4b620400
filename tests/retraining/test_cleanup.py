"""Archived-voice cleanup: beyond the keep count only, never what a run or a pending reply uses; the quota
panel and `GET /api/v1/quota/` show what holds the slots."""

import pytest
from django.core.management import call_command
from django.test import override_settings

from clones.models import Voice, VoiceVersion
from conversations.models import Message
from retraining.models import ProviderVoiceDeletion, RetrainRun
from retraining.services import archived_voices_cleanup, version_deletion_request
from tests.factories import ConversationFactory, MessageFactory
from voiceclone.errors import InvalidState

from .helpers import voice_at_provider, voice_with_history

pytestmark = pytest.mark.django_db


def test_cleanup_deletes_archived_voices_beyond_the_keep_count_oldest_first(emulator_ctl, capsys):
    voice, (v1, v2, v3, v4) = voice_with_history(name="Ada", archived=3)
    other, (o1, o2) = voice_with_history(name="Bea", archived=1)

    call_command("archived_voices_cleanup", "--dry-run")
    assert "2 provider voice(s) would be deleted" in capsys.readouterr().out
    call_command("archived_voices_cleanup")
    assert "2 deleted, 0 failed" in capsys.readouterr().out

    states = {v.number: v.state for v in VoiceVersion.objects.filter(voice=voice)}
    assert states == {1: "deleted", 2: "deleted", 3: "archived", 4: "active"}
    assert VoiceVersion.objects.get(pk=o1.pk).state == "archived"  # within Bea's keep count
    remaining = set(emulator_ctl.voice_ids())
    assert v1.provider_voice_id not in remaining and v2.provider_voice_id not in remaining
    assert {v3.provider_voice_id, v4.provider_voice_id, o1.provider_voice_id} <= remaining
    assert set(ProviderVoiceDeletion.objects.values_list("reason", flat=True)) == {"cleanup"}
    # Idempotent.
    assert archived_voices_cleanup().deleted == []


@override_settings(ARCHIVED_VOICES_KEEP=0)
def test_cleanup_never_deletes_a_version_used_by_a_pending_reply_or_an_open_run(emulator_ctl):
    voice, (v1, v2, v3) = voice_with_history(name="Ada", archived=2)
    pending = MessageFactory(conversation=ConversationFactory(voice=voice), status=Message.Status.PENDING)
    Message.objects.filter(pk=pending.pk).update(created_at=v1.archived_at.replace(year=v1.archived_at.year - 1))
    other, (o1, o2) = voice_with_history(name="Bea", archived=1)
    RetrainRun.objects.create(voice=other, state=RetrainRun.State.WAITING_FOR_SLOT, old_version=o1)

    result = archived_voices_cleanup()
    assert result.deleted == []
    assert VoiceVersion.objects.filter(state="archived").count() == 3
    with pytest.raises(InvalidState, match="pending reply"):
        version_deletion_request(version=v2, reason="staff", force=True)
    with pytest.raises(InvalidState, match="open retrain run"):
        version_deletion_request(version=o1, reason="staff", force=True)
    with pytest.raises(InvalidState, match="active version"):
        version_deletion_request(version=v3, reason="staff", force=True)

    Message.objects.filter(pk=pending.pk).update(status=Message.Status.READY)
    assert {d["number"] for d in archived_voices_cleanup().deleted} == {1, 2}


def test_cleanup_retries_a_deletion_an_outage_left_pending(emulator_ctl):
    voice, (v1, v2, v3) = voice_with_history(name="Ada", archived=2)
    emulator_ctl.add_fault(path=rf"^/v1/voices/{v1.provider_voice_id}$", method="DELETE", status=503, count=10)
    result = archived_voices_cleanup()
    assert result.deleted == [] and result.failed[0]["number"] == 1
    intent = ProviderVoiceDeletion.objects.get(version=v1)
    assert intent.completed_at is None and intent.last_error
    v1.refresh_from_db()
    assert v1.state == VoiceVersion.State.ARCHIVED  # nothing recorded as deleted that may still exist
    emulator_ctl.clear_faults()
    assert [d["number"] for d in archived_voices_cleanup().deleted] == [1]
    v1.refresh_from_db()
    assert v1.state == VoiceVersion.State.DELETED


def test_quota_api_shows_slots_and_archived_voices_oldest_first(staff_api, alice_api, emulator_ctl, run_tasks):
    voice, (v1, v2, v3) = voice_with_history(name="Ada", archived=2)
    response = staff_api.get("/api/v1/quota/")
    assert response.status_code == 200, response.content
    quota = response.json()
    assert (quota["slots_used"], quota["voice_limit"], quota["slots_free"]) == (3, 30, 27)
    assert [a["number"] for a in quota["archived"]] == [1, 2]
    assert [a["deletable_by_policy"] for a in quota["archived"]] == [True, False]
    assert quota["keep_per_voice"] == 1
    assert alice_api.get("/api/v1/quota/").status_code == 403

    with run_tasks():
        assert staff_api.post("/api/v1/quota/cleanup/").status_code == 202
    assert VoiceVersion.objects.get(pk=v1.pk).state == VoiceVersion.State.DELETED
    with run_tasks():
        response = staff_api.post(f"/api/v1/quota/versions/{v2.pk}/delete/")  # within the keep count: staff may
    assert response.status_code == 202, response.content
    assert VoiceVersion.objects.get(pk=v2.pk).state == VoiceVersion.State.DELETED
    assert staff_api.post(f"/api/v1/quota/versions/{v3.pk}/delete/").status_code == 409  # the active one


def test_staff_may_free_the_slot_of_a_disabled_voice(staff_api, emulator_ctl, run_tasks):
    voice = voice_at_provider(name="Gone")
    active = voice.current_version
    Voice.objects.filter(pk=voice.pk).update(status=Voice.Status.DISABLED)
    options = staff_api.get("/api/v1/quota/").json()["staff_could_delete"]
    assert [o["version_id"] for o in options] == [active.pk]
    with run_tasks():
        assert staff_api.post(f"/api/v1/quota/versions/{active.pk}/delete/").status_code == 202
    assert active.provider_voice_id not in emulator_ctl.voice_ids()


def test_the_quota_page_words_its_counts_in_the_right_number(client, staff, settings, emulator_ctl):
    """Re-checked at 1,366 px: the page said "Keep 1 archived version(s) per voice"."""
    settings.ARCHIVED_VOICES_KEEP = 1
    client.force_login(staff)
    page = client.get("/admin/retraining/retrainrun/quota/").content.decode()
    assert "Keep 1 archived version per voice for rollback." in page
    assert "(s)" not in page
