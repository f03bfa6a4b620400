"""Persona refinement on the owner's voice page and in the admin."""

import pytest

from clones.models import Voice
from personas.models import PersonaDraft, PersonaVersion
from tests.kits.helpers import send_text

pytestmark = pytest.mark.django_db


def test_the_owner_drafts_sees_the_diff_edits_and_accepts_on_the_voice_page(client, alice, alice_api, alice_voice,
                                                                            alice_conversation, run_tasks):
    for text in ("Do you bake sourdough?", "Is sourdough hard to bake?"):
        send_text(alice_api, alice_conversation, text, run_tasks)
    client.force_login(alice)
    with run_tasks():
        response = client.post(f"/voices/{alice_voice}/persona/draft/")
    assert response.status_code == 302
    page = client.get(f"/voices/{alice_voice}/").content.decode()
    assert 'id="persona-draft-offline"' in page and "Offline draft" in page
    assert 'class="diff-added">+ What conversations show' in page
    draft = PersonaDraft.objects.get()
    edited = draft.text + "\nAlways offer a recipe."
    client.post(f"/voices/{alice_voice}/persona/drafts/{draft.pk}/accept/", {"text": edited})
    assert Voice.objects.get(pk=alice_voice).persona == edited.strip()
    page = client.get(f"/voices/{alice_voice}/").content.decode()
    assert "Version 2 · Accepted draft by alice" in page and "(current)" in page

    client.post(f"/voices/{alice_voice}/persona/versions/1/restore/")
    assert Voice.objects.get(pk=alice_voice).persona == "You are Ada, a cheerful baker from Leeds."


def test_another_user_cannot_touch_the_persona_pages(client, bob, alice_voice):
    client.force_login(bob)
    assert client.post(f"/voices/{alice_voice}/persona/draft/").status_code == 404
    assert client.post(f"/voices/{alice_voice}/persona/versions/1/restore/").status_code == 404


def test_staff_draft_from_the_voice_admin_and_decide_in_the_draft_admin(client, staff, alice_voice, alice_api,
                                                                       alice_conversation, run_tasks):
    send_text(alice_api, alice_conversation, "Tell me about rye bread, rye is great.", run_tasks)
    client.force_login(staff)
    with run_tasks():
        response = client.post("/admin/clones/voice/", {"action": "draft_persona", "_selected_action": [alice_voice]})
    assert response.status_code == 302
    draft = PersonaDraft.objects.get()
    change = client.get(f"/admin/personas/personadraft/{draft.pk}/change/").content.decode()
    assert "Offline draft (no language model)" in change and "Accept, edit or discard" in change
    decide = f"/admin/personas/personadraft/{draft.pk}/decide/"
    assert client.get(decide).status_code == 200
    response = client.post(decide, {"text": "You are Ada. You bake rye.", "accept": "Accept"})
    assert response.status_code == 302
    version = PersonaVersion.objects.get(voice_id=alice_voice, source="accepted")
    assert version.text == "You are Ada. You bake rye." and version.created_by == staff
    # The version admin restores (rollback) but never edits.
    response = client.post("/admin/personas/personaversion/", {
        "action": "restore", "_selected_action": [PersonaVersion.objects.get(voice_id=alice_voice, number=1).pk]})
    assert response.status_code == 302
    assert Voice.objects.get(pk=alice_voice).persona == "You are Ada, a cheerful baker from Leeds."
    assert client.post(f"/admin/personas/personaversion/{version.pk}/change/", {"text": "x"}).status_code == 403
