"""Shared voices: staff share a voice with every user for chatting only.

Others can list it and start conversations with it; they cannot change it, retrain it, or reach its
clips and originals, and every conversation stays private to whoever started it.
"""

from io import StringIO

import pytest
from django.contrib.admin import helpers
from django.core.management import call_command
from django.urls import reverse

from clones.models import ClipSample, Voice
from conversations.models import Conversation, Message
from tests.factories import ClipSampleFactory, UserFactory, VoiceFactory
from tests.served_audio import served

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared_voice(alice, emulator_ctl, make_voice, alice_api):
    """Alice's ready voice (cloned through the emulator), shared with everyone by staff."""
    voice = Voice.objects.get(pk=make_voice(alice_api, name="Ada"))
    voice.is_shared = True
    voice.save()
    return voice


def _send(api, conversation_id, text, run_tasks):
    with run_tasks():
        response = api.post(f"/api/v1/conversations/{conversation_id}/messages/", {"text": text}, format="json")
    return response


# --- listing and chatting ---------------------------------------------------------------------------------


def test_bob_lists_a_shared_voice_without_its_owner(bob_api, shared_voice, alice):
    other = VoiceFactory(owner=alice, name="Private")

    body = bob_api.get("/api/v1/voices/").json()

    listed = {v["id"]: v for v in body["results"]} if isinstance(body, dict) else {v["id"]: v for v in body}
    assert str(shared_voice.pk) in listed
    assert str(other.pk) not in listed
    shown = listed[str(shared_voice.pk)]
    assert shown["is_shared"] is True
    assert shown["is_owner"] is False
    assert shown["owner"] is None  # owners stay private
    assert bob_api.get(f"/api/v1/voices/{shared_voice.pk}/").status_code == 200
    assert bob_api.get(f"/api/v1/voices/{other.pk}/").status_code == 404


def test_owner_sees_ownership_fields(alice_api, shared_voice):
    shown = alice_api.get(f"/api/v1/voices/{shared_voice.pk}/").json()

    assert shown["is_owner"] is True
    assert shown["owner"] == "alice"
    assert shown["is_shared"] is True


def test_bob_chats_with_a_shared_voice(bob_api, bob, shared_voice, run_tasks):
    created = bob_api.post("/api/v1/conversations/", {"voice": str(shared_voice.pk)}, format="json")
    assert created.status_code == 201, created.content

    turn = _send(bob_api, created.json()["id"], "Hello Ada, how does bread rise?", run_tasks)

    assert turn.status_code == 202, turn.content
    reply = Message.objects.get(pk=turn.json()["assistant_message"]["id"])
    assert reply.status == Message.Status.READY, reply.failure_reason
    assert reply.conversation.user == bob and reply.conversation.voice == shared_voice
    audio = served(bob_api.get(f"/api/v1/messages/{reply.pk}/audio/"))
    assert audio.status == 200 and audio.headers["content-type"] == "audio/mpeg"


def test_bob_cannot_start_a_conversation_with_a_private_voice(bob_api, alice):
    private = VoiceFactory(owner=alice)

    response = bob_api.post("/api/v1/conversations/", {"voice": str(private.pk)}, format="json")

    assert response.status_code == 400
    assert not Conversation.objects.filter(voice=private).exists()


# --- chat only: no managing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "suffix", "body"), [
    ("patch", "", {"name": "Mine now"}),
    ("put", "", {"persona": "You are Bob's puppet."}),
    ("delete", "", None),
    ("post", "retry/", None),
    ("get", "versions/", None),
    ("post", "rollback/", {"version": 1}),
])
def test_bob_cannot_manage_a_shared_voice(bob_api, shared_voice, method, suffix, body):
    before = Voice.objects.values().get(pk=shared_voice.pk)

    response = getattr(bob_api, method)(f"/api/v1/voices/{shared_voice.pk}/{suffix}", body, format="json")

    assert response.status_code == 403, response.content
    assert "shared with you for chatting only" in response.json()["detail"]
    assert Voice.objects.values().get(pk=shared_voice.pk) == before


def test_bob_cannot_reach_clips_or_originals_of_a_shared_voice(bob_api, bob, client, shared_voice, staff_api):
    original = ClipSample.objects.filter(voice=shared_voice, source=ClipSample.Source.ORIGINAL).first()
    assert original is not None  # the consented recordings the voice was cloned from

    assert bob_api.get(f"/api/v1/clips/?voice={shared_voice.pk}").status_code == 403
    assert bob_api.get(f"/api/v1/clips/{original.pk}/").status_code in (403, 404)
    assert bob_api.get(f"/api/v1/clips/{original.pk}/audio/").status_code in (403, 404)
    proposal = bob_api.post("/api/v1/retrain-runs/", {"voice": str(shared_voice.pk)}, format="json")
    assert proposal.status_code in (403, 404)
    originals = f"/api/v1/voices/{shared_voice.pk}/originals/"
    assert bob_api.get(originals).status_code == 404
    assert bob_api.get(reverse("api:voice-original-audio", kwargs={"voice_id": shared_voice.pk,
                                                                   "pk": original.pk})).status_code == 404
    assert bob_api.post(originals, {"consent": "true"}, format="multipart").status_code == 404
    client.force_login(bob)
    assert client.get(reverse("admin:clones_clipsample_audio", args=[original.pk])).status_code == 302  # to login
    page = client.get(reverse("voice-detail", kwargs={"voice_id": shared_voice.pk})).content.decode()
    assert 'id="voice-originals"' not in page and original.original_filename not in page
    # Staff still can.
    assert served(staff_api.get(f"/api/v1/clips/{original.pk}/audio/")).status == 200


def test_shared_voice_page_is_read_only_for_bob(client, bob, shared_voice):
    client.force_login(bob)

    page = client.get(reverse("voice-detail", kwargs={"voice_id": shared_voice.pk}))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Start a conversation" in html
    assert "Shared with everyone" in html
    assert reverse("voice-update", kwargs={"voice_id": shared_voice.pk}) not in html
    assert reverse("voice-disable", kwargs={"voice_id": shared_voice.pk}) not in html
    assert shared_voice.persona not in html  # the edit form (with the persona) is the owner's
    for name in ("voice-update", "voice-disable", "voice-retry"):
        response = client.post(reverse(name, kwargs={"voice_id": shared_voice.pk}), {"name": "Taken"})
        assert response.status_code == 404
    assert Voice.objects.get(pk=shared_voice.pk).name == "Ada"


# --- conversations stay private ---------------------------------------------------------------------------


def test_conversation_with_a_shared_voice_is_private_to_its_starter(bob_api, alice_api, alice, shared_voice,
                                                                    run_tasks, client):
    conversation_id = bob_api.post("/api/v1/conversations/", {"voice": str(shared_voice.pk)},
                                   format="json").json()["id"]
    reply_id = _send(bob_api, conversation_id, "A secret about sourdough", run_tasks).json()["assistant_message"]["id"]
    carol_api = _api_for(UserFactory(username="carol"))

    for api in (alice_api, carol_api):  # the voice's owner and a third user alike
        assert api.get(f"/api/v1/conversations/{conversation_id}/").status_code == 404
        assert api.get(f"/api/v1/conversations/{conversation_id}/messages/").status_code == 404
        assert api.get(f"/api/v1/messages/{reply_id}/").status_code == 404
        assert api.get(f"/api/v1/messages/{reply_id}/audio/").status_code == 404
        listed = api.get("/api/v1/conversations/").json()
        assert conversation_id not in str(listed)
    client.force_login(alice)
    assert client.get(reverse("conversation-detail", kwargs={"conversation_id": conversation_id})).status_code == 404


def _api_for(user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return api


def test_unsharing_makes_others_conversations_read_only(bob_api, bob, shared_voice, run_tasks, client):
    conversation_id = bob_api.post("/api/v1/conversations/", {"voice": str(shared_voice.pk)},
                                   format="json").json()["id"]
    assert _send(bob_api, conversation_id, "Hello!", run_tasks).status_code == 202
    shared_voice.is_shared = False
    shared_voice.save()

    response = _send(bob_api, conversation_id, "Still there?", run_tasks)

    assert response.status_code == 409
    assert "no longer shared" in str(response.json())
    client.force_login(bob)
    page = client.get(reverse("conversation-detail", kwargs={"conversation_id": conversation_id})).content.decode()
    assert "no longer shared" in page
    assert 'id="composer"' not in page
    # The history stays readable to bob.
    assert "Hello!" in page


# --- staff share from the admin; the demo voice is shared --------------------------------------------------


def test_staff_share_and_unshare_voices_from_the_admin(client, staff, alice):
    voice = VoiceFactory(owner=alice)
    client.force_login(staff)
    changelist = reverse("admin:clones_voice_changelist")

    response = client.post(changelist, {"action": "share_voices", helpers.ACTION_CHECKBOX_NAME: [str(voice.pk)]},
                           follow=True)
    assert "1 voice shared with every user" in response.content.decode()
    assert Voice.objects.get(pk=voice.pk).is_shared is True

    client.post(changelist, {"action": "unshare_voices", helpers.ACTION_CHECKBOX_NAME: [str(voice.pk)]})
    assert Voice.objects.get(pk=voice.pk).is_shared is False


def test_voice_form_in_the_admin_cannot_change_version_status_or_sharing(client, staff, alice):
    voice = VoiceFactory(owner=alice, name="Ada")
    other_version = VoiceFactory().current_version
    client.force_login(staff)
    url = reverse("admin:clones_voice_change", args=[voice.pk])

    form_html = client.get(url).content.decode()
    assert 'name="current_version"' not in form_html
    assert 'name="status"' not in form_html
    assert 'name="is_shared"' not in form_html
    client.post(url, {
        "owner": alice.pk, "name": "Ada renamed", "persona": voice.persona, "language": "en", "failure_reason": "",
        "status": "disabled", "current_version": other_version.pk, "is_shared": "on",
        "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0",
        "consents-TOTAL_FORMS": "0", "consents-INITIAL_FORMS": "0",
    })

    voice.refresh_from_db()
    assert voice.name == "Ada renamed"  # the form saved...
    assert voice.status == Voice.Status.READY  # ...but not these
    assert voice.current_version_id != other_version.pk
    assert voice.is_shared is False


def test_a_new_signup_sees_the_shared_demo_voice_and_chats(client, emulator_ctl, run_tasks, settings):
    settings.DEBUG = True  # the demo admin and its voice are made without --admin only in development
    with run_tasks():
        call_command("demo", stdout=StringIO())
    demo = Voice.objects.get(name="Ada (demo)")
    assert demo.is_shared

    response = client.post(reverse("signup"), {
        "username": "newcomer", "password1": "a long enough passphrase 42", "password2": "a long enough passphrase 42",
    })
    assert response.status_code == 302
    voices_page = client.get(reverse("voice-list")).content.decode()
    assert "Shared voices" in voices_page and "Ada (demo)" in voices_page

    form_page = client.get(reverse("conversation-create") + f"?voice={demo.pk}").content.decode()
    assert "Ada (demo) (shared)" in form_page
    started = client.post(reverse("conversation-create"), {"voice": str(demo.pk), "title": ""})
    assert started.status_code == 302
    conversation = Conversation.objects.get(user__username="newcomer")
    with run_tasks():
        sent = client.post(reverse("conversation-detail", kwargs={"conversation_id": conversation.pk}),
                           {"text": "Hi Ada! What is your favourite bread?"})
    assert sent.status_code == 302
    reply = conversation.messages.get(role=Message.Role.ASSISTANT)
    assert reply.status == Message.Status.READY, reply.failure_reason
    chat = client.get(sent.url).content.decode()
    assert reply.text in chat.replace("&#x27;", "'")


def test_staff_voice_list_page_keeps_shared_voices_apart(client, staff, alice):
    shared = VoiceFactory(owner=alice, name="Shared Sam", is_shared=True)
    VoiceFactory(owner=alice, name="Private Pat")
    ClipSampleFactory(voice=shared)
    client.force_login(staff)

    html = client.get(reverse("voice-list")).content.decode()

    assert "Shared Sam" in html
    assert "Private Pat" not in html


def test_every_read_of_a_shared_voice_answers_a_documented_status(bob_api, shared_voice):
    """Found by schemathesis against the served schema as a new user, whose voice list holds only the shared
    demo voice: `GET /voices/{id}/consents/` answered 403 (chat only), a status its operation did not list.
    Every read under /voices/{id}/ now answers, for a shared voice, a status its operation documents."""
    schema = bob_api.get("/api/schema/", {"format": "json"}).json()
    checked = 0
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v1/voices/{id}/") or "get" not in operations:
            continue
        url = path.replace("{id}", str(shared_voice.pk))
        url = url.replace("{draft_id}", "1").replace("{number}", "1").replace("{consent_id}", "1")
        response = bob_api.get(url)
        assert str(response.status_code) in operations["get"]["responses"], (path, response.status_code)
        assert response.status_code < 500
        checked += 1
    assert checked >= 8
    consents = schema["paths"]["/api/v1/voices/{id}/consents/"]["get"]["responses"]
    assert "shared with you" in consents["403"]["description"]
    assert bob_api.get(f"/api/v1/voices/{shared_voice.pk}/consents/").json()["code"] == "permission_denied"
