"""Conversation pages and the chat page (server-rendered parts; the JavaScript runs in tests/e2e)."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from clones.models import Voice
from conversations import services as conversation_services
from conversations.models import Conversation, Message
from tests.served_audio import served

pytestmark = pytest.mark.django_db

DISCLOSURE = "Replies are AI-generated speech in a cloned voice."


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def voice(alice_voice):
    return Voice.objects.get(pk=alice_voice)


@pytest.fixture
def conversation(alice, voice):
    return conversation_services.conversation_create(user=alice, voice=voice, title="Baking chat")


def detail_url(conversation):
    return reverse("conversation-detail", kwargs={"conversation_id": conversation.pk})


def test_create_page_preselects_voice_and_starts_conversation(alice_client, alice, voice):
    page = alice_client.get(f"{reverse('conversation-create')}?voice={voice.pk}")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'value="{voice.pk}"' in html
    assert page.context["form"]["voice"].value() == str(voice.pk)
    assert 'checked' in html

    response = alice_client.post(reverse("conversation-create"), {"voice": str(voice.pk), "title": "First chat"})
    conversation = Conversation.objects.get(user=alice)
    assert response.status_code == 302
    assert response.url == detail_url(conversation)
    assert conversation.voice == voice and conversation.title == "First chat"


def test_create_page_without_ready_voices_shows_call_to_action(alice_client):
    html = alice_client.get(reverse("conversation-create")).content.decode()
    assert "No voice is ready yet" in html
    assert reverse("voice-create") in html


def test_cannot_start_a_conversation_with_someone_elses_voice(client, bob, voice):
    client.force_login(bob)
    response = client.post(reverse("conversation-create"), {"voice": str(voice.pk)})
    assert response.status_code == 400
    assert response.context["form"].errors["voice"]
    assert not Conversation.objects.exists()


def test_chat_page_renders_disclosure_composer_and_api_hooks(alice_client, conversation, voice):
    response = alice_client.get(detail_url(conversation))
    assert response.status_code == 200
    html = response.content.decode()
    assert DISCLOSURE in html
    assert 'id="composer"' in html and 'name="text"' in html
    assert 'id="record-button"' in html
    assert 'role="log"' in html and 'aria-live="polite"' in html
    assert f'data-messages-url="/api/v1/conversations/{conversation.pk}/messages/"' in html
    assert 'data-events-url="/api/v1/events/"' in html
    assert "js/chat.js" in html and "js/recorder.js" in html
    assert '<span id="voice-version">1</span>' in html


def test_text_message_without_javascript_gets_a_spoken_ai_labelled_reply(alice_client, conversation, run_tasks):
    with run_tasks():
        response = alice_client.post(detail_url(conversation), {"text": "Hello Ada, how is the bakery?"})
    assert response.status_code == 302

    reply = Message.objects.get(conversation=conversation, role=Message.Role.ASSISTANT)
    assert reply.status == Message.Status.READY
    html = alice_client.get(detail_url(conversation)).content.decode()
    assert "Hello Ada, how is the bakery?" in html
    assert escape(reply.text) in html
    assert "AI-generated" in html
    assert "Offline responder" in html  # the reply engine label (no LLM configured in tests)
    audio_url = reverse("api:message-audio", kwargs={"pk": reply.pk})
    assert f'src="{audio_url}"' in html

    audio = served(alice_client.get(audio_url))
    assert audio.status == 200
    assert audio.headers["content-type"] == "audio/mpeg"


def test_empty_message_is_a_form_error(alice_client, conversation):
    response = alice_client.post(detail_url(conversation), {"text": "   "})
    assert response.status_code == 400
    assert response.context["form"].errors["text"]
    assert not Message.objects.filter(conversation=conversation).exists()


def test_failed_reply_shows_reason_and_retry_works(alice_client, conversation, emulator_ctl, run_tasks):
    emulator_ctl.add_fault(path=r"^/v1/text-to-speech/", method="POST", status=503, count=None)
    with run_tasks():
        alice_client.post(detail_url(conversation), {"text": "Are you there?"})
    reply = Message.objects.get(conversation=conversation, role=Message.Role.ASSISTANT)
    assert reply.status == Message.Status.FAILED

    html = alice_client.get(detail_url(conversation)).content.decode()
    assert "msg--failed" in html
    assert reply.failure_reason and reply.failure_reason.split(":")[0] in html
    retry_url = reverse(
        "conversation-message-retry", kwargs={"conversation_id": conversation.pk, "message_id": reply.pk}
    )
    assert f'action="{retry_url}"' in html

    emulator_ctl.clear_faults()
    with run_tasks():
        response = alice_client.post(retry_url)
    assert response.status_code == 302
    reply.refresh_from_db()
    assert reply.status == Message.Status.READY


def test_pending_reply_is_rendered_as_speaking_placeholder(alice_client, conversation):
    conversation_services.message_send(conversation=conversation, text="Hi")  # task not run (no commit)
    html = alice_client.get(detail_url(conversation)).content.decode()
    assert "…speaking" in html
    assert 'data-status="pending"' in html


def test_archive_makes_the_conversation_read_only(alice_client, conversation):
    response = alice_client.post(reverse("conversation-archive", kwargs={"conversation_id": conversation.pk}))
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.is_archived

    page = alice_client.get(detail_url(conversation))
    html = page.content.decode()
    assert 'id="composer"' not in html
    assert "archived and read-only" in html
    assert DISCLOSURE in html

    refused = alice_client.post(detail_url(conversation), {"text": "Still there?"}, follow=True)
    assert "archived" in refused.content.decode()
    assert not Message.objects.filter(conversation=conversation).exists()

    active = alice_client.get(reverse("conversation-list")).content.decode()
    archived = alice_client.get(f"{reverse('conversation-list')}?archived=1").content.decode()
    assert "Baking chat" not in active
    assert "Baking chat" in archived

    alice_client.post(reverse("conversation-unarchive", kwargs={"conversation_id": conversation.pk}))
    conversation.refresh_from_db()
    assert not conversation.is_archived


def test_conversation_list_is_paginated_by_20(alice_client, alice, voice):
    for n in range(25):
        conversation_services.conversation_create(user=alice, voice=voice, title=f"Chat {n:02d}")
    first = alice_client.get(reverse("conversation-list"))
    second = alice_client.get(f"{reverse('conversation-list')}?page=2")
    assert len(first.context["conversations"]) == 20
    assert len(second.context["conversations"]) == 5
    assert "Page 1 of 2" in first.content.decode()


def test_foreign_conversation_pages_are_404(client, bob, conversation, run_tasks):
    with run_tasks():
        conversation_services.message_send(conversation=conversation, text="Hi")
    reply = Message.objects.get(conversation=conversation, role=Message.Role.ASSISTANT)
    client.force_login(bob)
    assert client.get(detail_url(conversation)).status_code == 404
    assert client.post(detail_url(conversation), {"text": "Hijack"}).status_code == 404
    assert client.post(reverse("conversation-archive", kwargs={"conversation_id": conversation.pk})).status_code == 404
    retry_url = reverse(
        "conversation-message-retry", kwargs={"conversation_id": conversation.pk, "message_id": reply.pk}
    )
    assert client.post(retry_url).status_code == 404
    assert client.get(reverse("conversation-list")).context["conversations"].__len__() == 0
    conversation.refresh_from_db()
    assert not conversation.is_archived
    assert conversation.messages.count() == 2


def test_voice_detail_lists_its_conversations(alice_client, conversation, voice):
    html = alice_client.get(reverse("voice-detail", kwargs={"voice_id": voice.pk})).content.decode()
    assert "Baking chat" in html
    assert detail_url(conversation) in html
