"""The audit log: who did what to voices, clips, runs, consent and webhooks, with before/after; visible and
filterable in the admin, never editable there; no audit work in the chat turn."""

import pytest
from auditlog.context import disable_auditlog
from auditlog.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.selectors import audit_entries, audit_entries_for_object
from audit.services import audit_record
from clones.models import ClipSample, Voice
from conversations import tasks as conversation_tasks
from conversations.models import Message
from tests.factories import ClipSampleFactory, VoiceFactory
from tests.kits.helpers import send_text

pytestmark = pytest.mark.django_db


def test_a_staff_review_through_the_api_is_logged_with_actor_and_before_after(staff_api, staff):
    clip = ClipSampleFactory()
    response = staff_api.post(f"/api/v1/clips/{clip.pk}/review/", {"status": "rejected", "reason": "noise"},
                              format="json")
    assert response.status_code == 200, response.content
    entry = audit_entries_for_object(clip).get()
    assert entry.actor == staff and entry.action == LogEntry.Action.UPDATE
    assert entry.changes["review_status"] == ["pending", "rejected"]
    assert entry.changes["review_reason"][0] == "" and entry.changes["review_reason"][1].startswith("noise")
    assert entry.additional_data | {"voice": None} == {
        "voice": None, "via": "api", "actor": "staff", "actor_is_staff": True}
    assert entry.additional_data["voice"] == str(clip.voice_id)


def test_bulk_review_records_every_clip(staff_api, staff):
    clips = [ClipSampleFactory() for _ in range(3)]
    staff_api.post("/api/v1/clips/bulk-review/", {"ids": [c.pk for c in clips], "status": "approved"}, format="json")
    entries = audit_entries(event="clip.reviewed")
    assert sorted(int(e.object_pk) for e in entries) == sorted(c.pk for c in clips)
    assert {(e.actor_id, tuple(e.changes["review_status"])) for e in entries} == {(staff.pk, ("pending", "approved"))}


def test_owner_actions_name_the_owner_and_tasks_the_system(alice, alice_api, alice_voice):
    created = audit_entries(voice_id=alice_voice).filter(content_type__model="voice")
    by_owner = created.get(action=LogEntry.Action.CREATE)
    assert by_owner.actor == alice and by_owner.additional_data["via"] == "api"
    ready = created.get(action=LogEntry.Action.UPDATE, changes__status=["creating", "ready"])
    assert ready.actor is None
    assert ready.additional_data["actor"] == "system"
    assert ready.additional_data["task"] == "clones.tasks.voice_provider_create"
    consent = audit_entries(voice_id=alice_voice).get(content_type__model="consentrecord")
    assert consent.actor == alice and "ip_address" not in consent.changes

    alice_api.patch(f"/api/v1/voices/{alice_voice}/", {"name": "Ada Two"}, format="json")
    renamed = created.filter(action=LogEntry.Action.UPDATE, actor=alice).get()
    assert renamed.changes == {"name": ["Ada", "Ada Two"]}


def test_webhook_secrets_are_masked(alice_api):
    response = alice_api.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9/hook"}, format="json")
    assert response.status_code == 201, response.content
    entry = LogEntry.objects.get(content_type__model="webhook")
    secret = entry.changes["secret"][1]
    assert "*" in secret and response.json()["secret"] not in secret


def test_the_helper_records_a_domain_action_for_other_services(staff):
    voice = VoiceFactory()
    entry = audit_record(actor=staff, action="run.promoted", obj=voice, changes={"version": [1, 2]},
                         data={"run": 12})
    assert entry.additional_data | {"via": None} == {
        "event": "run.promoted", "run": 12, "voice": str(voice.pk), "actor": "staff", "actor_is_staff": True,
        "via": None}
    assert entry.changes == {"version": [1, 2]}
    with pytest.raises(ValueError):
        audit_record(actor=staff, action="", obj=voice)


def test_the_chat_turn_does_no_audit_work(alice_api, alice_voice, alice_conversation, run_tasks):
    """Tracked models' saves that touch no tracked field cost no extra query and write no entry."""

    def turn(text):
        before = LogEntry.objects.count()
        send_text(alice_api, alice_conversation, text, run_tasks)
        assert LogEntry.objects.count() == before
        reply = Message.objects.filter(role="assistant").latest("created_at")
        Message.objects.filter(pk=reply.pk).update(status="pending", clip=None, text="")
        return reply.pk

    def queries(message_id):
        with CaptureQueriesContext(connection) as ctx:
            conversation_tasks.message_reply_generate(message_id)
        return [q["sql"] for q in ctx.captured_queries]

    first = turn("Hello!")
    tracked = queries(first)
    with disable_auditlog():
        untracked = queries(turn("Hello again!"))
    assert not any("auditlog_logentry" in sql for sql in tracked)
    assert len(tracked) == len(untracked)


def test_clip_analysis_does_no_audit_work(alice_voice):
    from clones.tasks import clip_analyse

    clip = ClipSample.objects.filter(voice_id=alice_voice).first()
    with CaptureQueriesContext(connection) as tracked:
        clip_analyse(clip.pk)
    with disable_auditlog(), CaptureQueriesContext(connection) as untracked:
        clip_analyse(clip.pk)
    assert len(tracked.captured_queries) == len(untracked.captured_queries)
    assert not any("auditlog_logentry" in q["sql"] for q in tracked.captured_queries)


class TestAdmin:
    URL = "/admin/auditlog/logentry/"

    def test_the_log_is_listed_and_filterable(self, client, staff, alice_voice):
        client.force_login(staff)
        response = client.get(self.URL)
        assert response.status_code == 200
        assert b"Ada" in response.content
        for query in (f"?voice={alice_voice}", "?actor_kind=system", "?actor_kind=user", "?via=task",
                      "?event=clip.reviewed", "?action__exact=1", "?q=Ada"):
            assert client.get(self.URL + query).status_code == 200, query
        system_only = client.get(f"{self.URL}?actor_kind=system&voice={alice_voice}")
        rows = system_only.context["cl"].result_list
        assert rows and all(entry.actor_id is None for entry in rows)

    def test_the_log_cannot_be_added_changed_or_deleted_in_the_admin(self, client, staff, alice_voice):
        client.force_login(staff)
        entry = LogEntry.objects.first()
        assert client.get(self.URL + "add/").status_code == 403
        assert client.post(f"{self.URL}{entry.pk}/change/", {"object_repr": "forged"}).status_code == 403
        assert client.post(f"{self.URL}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
        assert client.post(self.URL, {"action": "delete_selected", "_selected_action": [entry.pk]}).status_code in (200, 302)
        assert LogEntry.objects.filter(pk=entry.pk, object_repr=entry.object_repr).exists()
        assert client.get(f"{self.URL}{entry.pk}/change/").status_code == 200  # viewing is allowed

    def test_staff_without_superuser_cannot_edit_the_log_even_with_every_permission(self, client, alice_voice):
        from django.contrib.auth.models import Permission

        from tests.factories import UserFactory

        clerk = UserFactory(username="clerk", is_staff=True, is_superuser=False)
        clerk.user_permissions.set(Permission.objects.filter(content_type__app_label="auditlog"))
        client.force_login(clerk)
        entry = LogEntry.objects.first()
        assert client.get(f"{self.URL}{entry.pk}/change/").status_code == 200  # viewing is allowed
        assert client.get(self.URL + "add/").status_code == 403
        assert client.post(f"{self.URL}{entry.pk}/change/", {"object_repr": "forged"}).status_code == 403
        assert client.post(f"{self.URL}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
        client.post(self.URL, {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"})
        assert LogEntry.objects.filter(pk=entry.pk, object_repr=entry.object_repr).exists()

    def test_a_voice_page_links_to_its_audit_log(self, client, staff, alice_voice):
        client.force_login(staff)
        response = client.get(f"/admin/clones/voice/{alice_voice}/change/")
        assert f"/admin/auditlog/logentry/?voice={alice_voice}" in response.content.decode()


def test_admin_actions_name_the_staff_member(client, staff):
    voice = VoiceFactory()
    client.force_login(staff)
    response = client.post(f"/admin/clones/voice/{voice.pk}/change/", {
        "owner": voice.owner_id, "name": voice.name, "persona": "You are new.", "language": "en", "status": "ready",
        "failure_reason": "", "current_version": voice.current_version_id,
        **{f"{prefix}-{key}": value for prefix in ("versions", "consents")
           for key, value in (("TOTAL_FORMS", 0), ("INITIAL_FORMS", 0), ("MIN_NUM_FORMS", 0), ("MAX_NUM_FORMS", 0))},
    })
    assert response.status_code == 302, response.content[:2000]
    entry = audit_entries_for_object(Voice.objects.get(pk=voice.pk)).get(actor=staff)
    assert entry.actor == staff and entry.additional_data["via"] == "admin"
    assert entry.changes["persona"][1] == "You are new."
    assert list(voice.persona_versions.values_list("source", flat=True).order_by("number")) == ["initial", "manual"]
