"""Persona refinement through the API: drafts from conversations, diff, accept/edit/discard, versions, rollback."""

import pytest

from audit.selectors import audit_entries
from clones.models import Voice
from personas.models import PersonaDraft
from tests.kits.helpers import send_text

pytestmark = pytest.mark.django_db
PERSONA = "You are Ada, a cheerful baker from Leeds."


def talk(api, conversation, run_tasks, texts=("Hello Ada!", "How do you bake sourdough bread?",
                                              "What flour is best for sourdough?", "I tried rye flour today.")):
    for text in texts:
        send_text(api, conversation, text, run_tasks)


def draft(api, voice, run_tasks):
    with run_tasks():
        response = api.post(f"/api/v1/voices/{voice}/persona/drafts/")
    assert response.status_code == 202, response.content
    detail = api.get(f"/api/v1/voices/{voice}/persona/drafts/{response.json()['id']}/")
    assert detail.status_code == 200
    return detail.json()


def test_accepting_a_refined_persona_creates_a_version_and_rollback_restores_the_old_text(
    alice_api, alice_voice, alice_conversation, run_tasks
):
    talk(alice_api, alice_conversation, run_tasks)
    proposal = draft(alice_api, alice_voice, run_tasks)
    assert proposal["status"] == "pending" and proposal["is_offline"] is True
    assert proposal["notes"].startswith("Offline draft")
    assert proposal["text"].startswith(PERSONA) and "sourdough" in proposal["text"]
    assert proposal["diff"].startswith("--- persona (current)") and "+What conversations show" in proposal["diff"]
    assert proposal["stats"]["user_messages"] == 4 and "sourdough" in proposal["stats"]["topics"]

    accepted = alice_api.post(f"/api/v1/voices/{alice_voice}/persona/drafts/{proposal['id']}/accept/", {},
                              format="json")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["number"] == 2 and accepted.json()["source"] == "accepted"
    assert Voice.objects.get(pk=alice_voice).persona == proposal["text"]
    versions = alice_api.get(f"/api/v1/voices/{alice_voice}/persona/versions/").json()
    assert [(v["number"], v["source"]) for v in versions] == [(2, "accepted"), (1, "initial")]

    rolled = alice_api.post(f"/api/v1/voices/{alice_voice}/persona/versions/1/rollback/")
    assert rolled.status_code == 200
    assert rolled.json() | {"created_at": None} == {
        "number": 3, "text": PERSONA, "source": "rollback", "created_by": "alice", "created_at": None,
        "restored_version": 1}
    assert Voice.objects.get(pk=alice_voice).persona == PERSONA
    events = set(audit_entries(voice_id=alice_voice).values_list("additional_data__event", flat=True))
    assert {"persona.draft_accepted", "persona.rolled_back"} <= events


def test_the_offline_draft_is_deterministic(alice_api, alice_voice, alice_conversation, run_tasks):
    talk(alice_api, alice_conversation, run_tasks)
    first = draft(alice_api, alice_voice, run_tasks)
    alice_api.post(f"/api/v1/voices/{alice_voice}/persona/drafts/{first['id']}/discard/")
    second = draft(alice_api, alice_voice, run_tasks)
    assert second["text"] == first["text"] and second["id"] != first["id"]


def test_an_edited_acceptance_stores_the_edit(alice_api, alice_voice, alice_conversation, run_tasks):
    talk(alice_api, alice_conversation, run_tasks)
    proposal = draft(alice_api, alice_voice, run_tasks)
    edited = PERSONA + " You always mention your rye loaf."
    response = alice_api.post(f"/api/v1/voices/{alice_voice}/persona/drafts/{proposal['id']}/accept/",
                              {"text": edited}, format="json")
    assert response.status_code == 200 and response.json()["text"] == edited
    entry = audit_entries(voice_id=alice_voice, event="persona.draft_accepted").get()
    assert entry.additional_data["edited"] is True and entry.actor.username == "alice"


def test_discarding_keeps_the_persona_and_one_draft_is_open_at_a_time(alice_api, alice_voice, alice_conversation,
                                                                       run_tasks):
    talk(alice_api, alice_conversation, run_tasks, texts=("Hello!",))
    proposal = draft(alice_api, alice_voice, run_tasks)
    again = alice_api.post(f"/api/v1/voices/{alice_voice}/persona/drafts/")
    assert again.status_code == 409 and again.json()["code"] == "draft_open"
    discarded = alice_api.post(f"/api/v1/voices/{alice_voice}/persona/drafts/{proposal['id']}/discard/")
    assert discarded.json()["status"] == "discarded"
    assert Voice.objects.get(pk=alice_voice).persona == PERSONA
    late = alice_api.post(f"/api/v1/voices/{alice_voice}/persona/drafts/{proposal['id']}/accept/", {}, format="json")
    assert late.status_code == 409 and late.json()["code"] == "draft_not_pending"


def test_a_draft_made_before_a_manual_edit_cannot_silently_undo_it(alice_api, alice_voice, alice_conversation,
                                                                    run_tasks):
    talk(alice_api, alice_conversation, run_tasks, texts=("Hello!",))
    proposal = draft(alice_api, alice_voice, run_tasks)
    alice_api.patch(f"/api/v1/voices/{alice_voice}/", {"persona": PERSONA + " Edited."}, format="json")
    response = alice_api.post(f"/api/v1/voices/{alice_voice}/persona/drafts/{proposal['id']}/accept/", {},
                              format="json")
    assert response.status_code == 409 and response.json()["code"] == "persona_changed"
    versions = alice_api.get(f"/api/v1/voices/{alice_voice}/persona/versions/").json()
    assert [v["source"] for v in versions] == ["manual", "initial"]


def test_the_language_model_writes_the_draft_when_configured(alice_api, alice_voice, alice_conversation, run_tasks,
                                                             fake_llm, settings):
    talk(alice_api, alice_conversation, run_tasks, texts=("How do you bake sourdough?",))
    settings.LLM_BASE_URL = fake_llm.base_url
    improved = "You are Ada, a cheerful baker from Leeds.\n\nPeople ask you about sourdough: explain it simply."
    fake_llm.answer_completion(improved, model="fake-model-2")
    proposal = draft(alice_api, alice_voice, run_tasks)
    assert proposal["is_offline"] is False and proposal["engine"] == "openai-compatible:fake-model-2"
    assert proposal["text"] == improved  # line breaks kept: a persona is written, not spoken
    system, user = fake_llm.last.body["messages"]
    assert "improve the persona" in system["content"]
    assert PERSONA in user["content"] and "How do you bake sourdough?" in user["content"]


def test_a_failing_language_model_fails_the_draft_with_a_reason(alice_api, alice_voice, alice_conversation,
                                                                run_tasks, fake_llm, settings):
    talk(alice_api, alice_conversation, run_tasks, texts=("Hello!",))
    settings.LLM_BASE_URL = fake_llm.base_url
    fake_llm.answer(status=401, json_body={"error": {"message": "bad key"}})
    proposal = draft(alice_api, alice_voice, run_tasks)
    assert proposal["status"] == "failed" and "LLM_API_KEY" in proposal["failure_reason"]
    assert PersonaDraft.objects.get().status == "failed"
    assert alice_api.post(f"/api/v1/voices/{alice_voice}/persona/drafts/{proposal['id']}/discard/").status_code == 200


def test_another_users_persona_is_not_found(bob_api, alice_voice, staff_api):
    assert bob_api.get(f"/api/v1/voices/{alice_voice}/persona/versions/").status_code == 404
    assert bob_api.post(f"/api/v1/voices/{alice_voice}/persona/drafts/").status_code == 404
    assert bob_api.post(f"/api/v1/voices/{alice_voice}/persona/versions/1/rollback/").status_code == 404
    assert staff_api.get(f"/api/v1/voices/{alice_voice}/persona/versions/").status_code == 200
