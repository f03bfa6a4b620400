"""`manage.py demo` (what bin/run calls) makes a working admin login and a real demo voice."""

from io import StringIO

import pytest
from django.core.management import call_command

from clones.models import Voice

pytestmark = pytest.mark.django_db


def test_demo_creates_admin_and_a_voice_the_provider_knows(client, emulator_ctl, run_tasks, settings):
    settings.DEBUG = True  # the well-known demo password only in development
    out = StringIO()
    with run_tasks():
        call_command("demo", stdout=out)
    assert "Demo login: admin / voiceclone-demo" in out.getvalue()
    voice = Voice.objects.get(name="Ada (demo)")
    assert voice.status == Voice.Status.READY
    assert voice.current_version.number == 1 and voice.current_version.state == "active"
    assert voice.current_version.provider_voice_id in emulator_ctl.voice_ids()

    assert client.login(username="admin", password="voiceclone-demo")
    assert client.get("/admin/").status_code == 200
    assert client.get(f"/admin/clones/voice/{voice.pk}/change/").status_code == 200

    call_command("demo", stdout=StringIO())  # idempotent: no second voice, no second provider voice
    assert Voice.objects.filter(name="Ada (demo)").count() == 1
    assert len(emulator_ctl.voice_ids()) == 1


def test_schedules_sync_is_idempotent():
    from django_q.models import Schedule

    call_command("schedules_sync", stdout=StringIO())
    call_command("schedules_sync", stdout=StringIO())
    assert Schedule.objects.filter(func="conversations.tasks.messages_pending_sweep").count() == 1


def test_demo_starts_again_after_its_voice_was_revoked_and_ignores_the_creation_rate(
    client, emulator_ctl, run_tasks, settings
):
    """Re-checked on a served stack: once staff revoked the demo voice's consent (a legitimate API call),
    `manage.py demo` — which bin/run runs at every start — failed ("The demo voice could not be created: "),
    and once the admin had created VOICE_CREATE_RATE voices in the hour it failed with a RateLimited
    traceback. The demo's own seeding is not a person's request: it makes a new demo voice instead."""
    settings.DEBUG = True
    settings.VOICE_CREATE_RATE = (1, 3600)
    with run_tasks():
        call_command("demo", stdout=StringIO())
    first = Voice.objects.get(name="Ada (demo)")
    assert client.login(username="admin", password="voiceclone-demo")
    with run_tasks():
        assert client.post(f"/api/v1/voices/{first.pk}/consent/revoke/", {"reason": "trying it out"},
                           content_type="application/json").status_code == 200

    out = StringIO()
    with run_tasks():
        call_command("demo", stdout=out)

    first.refresh_from_db()
    assert first.status == Voice.Status.REVOKED
    again = Voice.objects.exclude(pk=first.pk).get(name="Ada (demo)")
    assert again.status == Voice.Status.READY and again.is_shared
    assert "shared with every user" in out.getvalue()
