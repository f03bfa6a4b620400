"""The user pages on a phone (375 × 812 CSS px, touch, mobile viewport): nothing scrolls sideways, and on
the chat page the composer and its Send button are on screen, big enough to tap, and a message sent by
tapping gets its spoken reply."""

from pathlib import Path

import pytest

from clones import services as clone_services
from clones.models import Voice
from conversations import services as conversation_services
from conversations.models import Message
from tests.audio import wav_bytes
from tests.e2e.conftest import PASSWORD, new_page

if not Path("/usr/bin/chromium").exists():
    pytest.skip("/usr/bin/chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 812}
# The widest element, if the page is wider than the screen: names what to fix.
OVERFLOW = """(width) => {
  const scroll = document.scrollingElement.scrollWidth;
  let widest = null;
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > width + 1 && (!widest || r.right > widest.right)) {
      widest = {right: Math.round(r.right), tag: el.tagName.toLowerCase(), id: el.id,
                cls: String(el.className && el.className.baseVal !== undefined ? el.className.baseVal : el.className)};
    }
  }
  return {scroll: scroll, inner: window.innerWidth, widest: widest};
}"""
# WCAG 2.5.8 (AA) target size: at least 24 × 24 CSS px.
MIN_TARGET_PX = 24


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, is_mobile=True, has_touch=True,
                                  device_scale_factor=2)
    yield new_page(context)
    context.close()


@pytest.fixture
def chat(alice, emulator_ctl):
    voice = clone_services.voice_create(
        owner=alice, name="Ada with a long name that wraps on a phone",
        persona="You are Ada, a cheerful baker from Leeds.",
        samples=[clone_services.SampleUpload(filename="one.wav", data=wav_bytes(3, seed=1))], consent=True,
    )
    voice.refresh_from_db()
    assert voice.status == Voice.Status.READY, voice.failure_reason
    conversation = conversation_services.conversation_create(
        user=alice, voice=voice, title="A conversation about sourdough starters and proving drawers")
    conversation_services.message_send(
        conversation=conversation, text="Averyveryverylongwordwithoutanyspacesthatmustwrapsomehowonaphone " * 2)
    emulator_ctl.add_fault(path=r"^/v1/text-to-speech/", method="POST", status=503, count=None)
    conversation_services.message_send(conversation=conversation, text="And this reply fails.")
    emulator_ctl.clear_faults()
    return voice, conversation


def overflow(page, name) -> list[str]:
    """[] when the page fits the phone's width; else what sticks out. A mobile browser widens its layout
    viewport to fit content that overflows (innerWidth grows with it), so both are held to the phone's width."""
    measured = page.evaluate(OVERFLOW, PHONE["width"])
    if measured["scroll"] <= measured["inner"] <= PHONE["width"]:
        return []
    return [f"{name}: {measured}"]


def test_user_pages_fit_a_phone_and_the_chat_works_by_touch(phone, chat, alice):
    page = phone
    voice, conversation = chat
    too_wide = []
    for path in ("/signup/", "/login/"):
        page.goto(path)
        too_wide += overflow(page, path)

    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").tap()
    page.wait_for_url("**/voices/")
    for path in ("/voices/", f"/voices/{voice.pk}/", "/voices/new/", "/voices/import/", "/conversations/",
                 "/conversations/new/", f"/conversations/{conversation.pk}/", "/no-such-page/"):
        page.goto(path)
        too_wide += overflow(page, path)
    page.goto("/voices/new/")
    page.get_by_role("button", name="Create voice").tap()
    expect(page.locator(".errorlist").first).to_be_visible()
    too_wide += overflow(page, "create voice with errors")
    assert too_wide == [], "pages wider than the phone:\n" + "\n".join(too_wide)

    page.goto(f"/conversations/{conversation.pk}/")
    box = page.get_by_role("textbox", name="Message")
    send = page.get_by_role("button", name="Send")
    expect(page.locator("#record-button")).to_be_visible()  # chat.js is running
    for control in (box, send):
        control.scroll_into_view_if_needed()
        expect(control).to_be_in_viewport()
        size = control.bounding_box()
        assert size["width"] >= MIN_TARGET_PX and size["height"] >= MIN_TARGET_PX, size
        assert size["x"] >= 0 and size["x"] + size["width"] <= PHONE["width"], size

    box.tap()
    box.fill("What is a proving drawer?")
    send.tap()
    replies = page.locator("li.msg--assistant.msg--ready")
    expect(replies).to_have_count(2)
    expect(replies.last.locator("audio")).to_be_attached()
    expect(page.locator("li.msg--user").last).to_contain_text("What is a proving drawer?")
    expect(box).to_have_value("")
    assert overflow(page, "chat page after a reply") == []
    assert conversation.messages.filter(role=Message.Role.ASSISTANT, status=Message.Status.READY).count() == 2
    assert page.js_errors == [], page.js_errors
