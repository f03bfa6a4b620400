"""The chat page in a real browser: text and voice turns, polled replies, audio, AI disclosure."""

import re
import uuid
from pathlib import Path

import pytest

from clones import services as clone_services
from clones.models import Voice
from conversations import services as conversation_services
from conversations.models import Message
from tests.audio import wav_bytes
from voiceclone.events.services import event_emit

if not Path("/usr/bin/chromium").exists():
    pytest.skip("/usr/bin/chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.e2e

DISCLOSURE = "Replies are AI-generated speech in a cloned voice."


def assert_plays_mp3(page, reply):
    """The reply's <audio> plays from an authorised view answering 200 audio/mpeg: the stored clip
    (`…/audio`), or, for a reply the page heard while it was spoken, the stream endpoint it was fed from
    (`data-stream-url`; the same bytes)."""
    audio = reply.locator("audio")
    url = audio.get_attribute("data-stream-url")
    if url:
        assert re.search(r"/api/v1/messages/[0-9a-f-]+/stream/$", url), url
    else:
        expect(audio).to_have_attribute("src", re.compile(r"/api/v1/messages/[0-9a-f-]+/audio/?$"))
        url = audio.get_attribute("src")
    response = page.request.get(url)
    assert response.status == 200
    assert response.headers["content-type"] == "audio/mpeg"
    assert len(response.body()) > 1000


@pytest.fixture
def alice_conversation(alice, emulator_ctl):
    """A ready voice and a conversation, made through the services.

    live_server uses a transactional database, so on-commit callbacks (the provider task, in
    django-q2 sync mode) run for real when the service's transaction commits.
    """
    voice = clone_services.voice_create(
        owner=alice,
        name="Ada",
        persona="You are Ada, a cheerful baker from Leeds.",
        samples=[
            clone_services.SampleUpload(filename="one.wav", data=wav_bytes(3, seed=1)),
            clone_services.SampleUpload(filename="two.wav", data=wav_bytes(3, seed=2)),
        ],
        consent=True,
    )
    voice.refresh_from_db()
    assert voice.status == Voice.Status.READY, voice.failure_reason
    return conversation_services.conversation_create(user=alice, voice=voice, title="Browser chat")


def test_text_and_voice_turns_in_the_browser(page, login, alice_conversation, assert_no_js_errors):
    login("alice")
    page.goto(f"/conversations/{alice_conversation.pk}/")
    expect(page.get_by_text(DISCLOSURE)).to_be_visible()
    page.evaluate("window.__samePage = true")  # survives only if the page never reloads

    # Text turn.
    page.get_by_role("textbox", name="Message").fill("Hello Ada, what are you baking today?")
    page.get_by_role("button", name="Send").click()
    replies = page.locator("li.msg--assistant")
    ready = page.locator("li.msg--assistant.msg--ready")
    expect(ready).to_have_count(1)
    first = ready.first
    expect(first.locator(".tag--ai")).to_have_text("AI-generated")
    expect(first.locator(".msg__engine")).to_contain_text("Offline responder")
    assert_plays_mp3(page, first)
    expect(page.get_by_role("textbox", name="Message")).to_have_value("")
    expect(page.locator("li.msg--user").first).to_contain_text("Hello Ada, what are you baking today?")

    # Voice turn with chromium's fake microphone.
    record = page.get_by_role("button", name="Record")
    expect(record).to_be_visible()
    record.click()
    stop = page.get_by_role("button", name="Stop and send")
    expect(stop).to_be_visible()
    # Record for at least a second (the timer says so): wait on the page, not on the clock.
    expect(page.locator("#record-timer")).to_have_text(re.compile(r"^0:0[1-9]$"))
    stop.click()

    try:
        expect(replies).to_have_count(2)
    except AssertionError:
        # The server refused the recording: show exactly what it said (chat.js puts it in #chat-status).
        pytest.fail(f"voice message not accepted: {page.locator('#chat-status').inner_text()!r}")
    second = replies.nth(1)
    expect(second).not_to_have_class(re.compile(r"msg--pending"), timeout=30_000)
    if "msg--failed" in (second.get_attribute("class") or ""):
        pytest.fail(f"voice turn failed: {second.locator('.msg__error').inner_text()}")
    assert_plays_mp3(page, second)
    expect(second.locator(".tag--ai")).to_have_text("AI-generated")

    user_voice_message = page.locator("li.msg--user").nth(1)
    expect(user_voice_message.locator(".tag")).to_have_text("voice message")
    expect(page.get_by_text(DISCLOSURE)).to_be_visible()
    assert page.evaluate("window.__samePage") is True

    stored = Message.objects.filter(conversation=alice_conversation).order_by("created_at")
    assert [m.role for m in stored] == ["user", "assistant", "user", "assistant"]
    assert stored[2].input_kind == Message.InputKind.AUDIO
    assert all(m.status == Message.Status.READY for m in stored if m.role == "assistant")
    recording = stored[2]
    assert recording.user_audio.name and recording.user_audio_content_type.startswith("audio/")
    # chat.js refreshes the voice message with its transcript once the reply is ready.
    assert recording.text
    expect(user_voice_message.locator(".msg__text")).to_have_text(recording.text)


def test_failed_reply_shows_reason_and_retry_in_place(page, login, alice_conversation, emulator_ctl,
                                                      assert_no_js_errors):
    emulator_ctl.add_fault(path=r"^/v1/text-to-speech/", method="POST", status=503, count=None)
    login("alice")
    page.goto(f"/conversations/{alice_conversation.pk}/")
    page.get_by_role("textbox", name="Message").fill("Are you there?")
    page.get_by_role("button", name="Send").click()

    failed = page.locator("li.msg--assistant.msg--failed")
    expect(failed).to_have_count(1)
    expect(failed.locator(".msg__error")).to_contain_text("Speech synthesis failed")
    page.evaluate("window.__samePage = true")

    emulator_ctl.clear_faults()
    failed.get_by_role("button", name="Retry").click()
    ready = page.locator("li.msg--assistant.msg--ready")
    expect(ready).to_have_count(1)
    assert_plays_mp3(page, ready.first)
    assert page.evaluate("window.__samePage") is True


def test_voice_version_event_is_announced(page, login, alice, alice_conversation, assert_no_js_errors):
    login("alice")
    page.goto(f"/conversations/{alice_conversation.pk}/")
    expect(page.get_by_text(DISCLOSURE)).to_be_visible()
    page.evaluate("window.__samePage = true")

    # Written straight to the outbox: the retraining promotion that emits it in production is
    # another service; what this page owns is reading the feed and telling the user.
    event_emit(type="voice.version_promoted", user=alice, voice=alice_conversation.voice, payload={"version": 2})
    event_emit(type="voice.version_promoted", user=alice, payload={"voice_id": str(uuid.uuid4()), "version": 7})

    expect(page.get_by_text("Voice updated to version 2")).to_be_visible()
    expect(page.locator("#voice-version")).to_have_text("2")
    expect(page.get_by_text("Voice updated to version 7")).to_have_count(0)
    assert page.evaluate("window.__samePage") is True
