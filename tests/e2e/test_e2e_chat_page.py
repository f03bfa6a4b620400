"""The chat page as people expect it, in a real browser: one reply plays at a time (only the newest
autoplays), typing while a message is sending loses nothing, and times read the same on every page.

Every wait is on a condition in the page (a reply playing, a request held by the test), never on the
clock: the machine running these may be slow.
"""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from clones import services as clone_services
from clones.models import Voice
from conversations import services as conversation_services
from conversations.models import Message
from tests.audio import wav_bytes

if not __import__("pathlib").Path("/usr/bin/chromium").exists():
    pytest.skip("/usr/bin/chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.e2e

# Counts, at every "playing" event, how many <audio> elements are sounding: the page must keep it at 1.
AUDIO_PROBE = """
window.__audioProbe = {maxPlaying: 0, playingEvents: 0};
document.addEventListener("playing", function () {
  var sounding = Array.prototype.filter.call(document.querySelectorAll("audio"), function (a) {
    return !a.paused && !a.ended;
  }).length;
  window.__audioProbe.playingEvents += 1;
  window.__audioProbe.maxPlaying = Math.max(window.__audioProbe.maxPlaying, sounding);
}, true);
"""
REPLY_AUDIO = "li.msg--assistant.msg--ready audio"
MESSAGE_DETAIL = re.compile(r"/api/v1/messages/(?P<id>[0-9a-f-]{36})/$")
SEND = re.compile(r"/api/v1/conversations/[0-9a-f-]{36}/messages/$")


@pytest.fixture
def conversation(alice, emulator_ctl):
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
    return conversation_services.conversation_create(user=alice, voice=voice, title="Playback")


def send(page, text):
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def playing(page, nth):
    """JS condition: the nth ready reply's audio is sounding (time advancing)."""
    return page.wait_for_function(
        "([selector, n]) => { const a = document.querySelectorAll(selector)[n];"
        " return !!a && !a.paused && a.currentTime > 0; }",
        arg=[REPLY_AUDIO, nth],
    )


class HeldRequests:
    """Holds matching requests until the test releases them (page.route)."""

    def __init__(self, page, pattern, method):
        self.held = []
        self.hold = True
        self.pass_ids = set()

        def handler(route):
            match = pattern.search(route.request.url)
            request_id = match.group("id") if match and "id" in pattern.groupindex else None
            if route.request.method != method or not self.hold or (request_id and request_id in self.pass_ids):
                route.continue_()
            else:
                self.held.append((route, request_id))

        page.route(lambda url: bool(pattern.search(url)), handler)

    def release(self, request_id=None):
        keep = []
        for route, held_id in self.held:
            if request_id is None or held_id == request_id:
                route.continue_()
            else:
                keep.append((route, held_id))
        self.held = keep


def test_one_reply_plays_at_a_time_and_only_the_newest_autoplays(page, login, conversation, assert_no_js_errors):
    page.add_init_script(AUDIO_PROBE)
    login("alice")
    page.goto(f"/conversations/{conversation.pk}/")

    send(page, "Tell me how bread rises, slowly and in detail please.")
    playing(page, 0)

    # A second message while the first reply still plays: its reply takes over.
    send(page, "And what about sourdough starters, how do they work?")
    playing(page, 1)
    first, second = page.locator(REPLY_AUDIO).nth(0), page.locator(REPLY_AUDIO).nth(1)
    assert first.evaluate("a => a.paused") is True

    # Pressing play on an older reply pauses the one sounding now.
    first.evaluate("a => a.play()")
    page.wait_for_function(f"() => document.querySelectorAll('{REPLY_AUDIO}')[1].paused")
    assert first.evaluate("a => !a.paused") is True

    probe = page.evaluate("window.__audioProbe")
    assert probe["playingEvents"] >= 3
    assert probe["maxPlaying"] == 1, probe


def test_an_older_reply_arriving_after_the_newest_does_not_autoplay(page, login, conversation, assert_no_js_errors):
    page.add_init_script(AUDIO_PROBE)
    # The polling fallback (no EventSource): holding the polls then decides in which order the replies
    # arrive. With the event stream they would arrive whenever the worker finishes them, and the first
    # reply may rightly autoplay while it is still the newest (before the second message is sent).
    page.add_init_script("delete window.EventSource;")
    login("alice")
    page.goto(f"/conversations/{conversation.pk}/")
    # Hold every reply poll, so the test decides in which order the replies arrive.
    polls = HeldRequests(page, MESSAGE_DETAIL, "GET")

    send(page, "First question: what flour do you like?")
    send(page, "Second question: rye or spelt?")
    pending = page.locator("li.msg--assistant.msg--pending")
    expect(pending).to_have_count(2)
    older_id, newer_id = (pending.nth(i).get_attribute("data-message-id") for i in (0, 1))

    polls.pass_ids.add(newer_id)
    polls.release(newer_id)
    playing(page, 0)  # the newest reply arrived first and plays
    expect(page.locator(f"#msg-{newer_id} audio")).to_be_attached()

    polls.hold = False
    polls.release()
    older = page.locator(f"#msg-{older_id}.msg--ready audio")
    expect(older).to_be_attached()
    # The older reply is there to be played, but it did not start by itself nor stop the newest.
    page.wait_for_function(f"() => document.querySelector('#msg-{older_id} audio').readyState >= 1")
    assert older.evaluate("a => a.paused && a.played.length === 0") is True
    assert page.locator(f"#msg-{newer_id} audio").evaluate("a => a.played.length > 0") is True
    assert page.evaluate("window.__audioProbe.maxPlaying") == 1


def test_typing_while_a_message_is_sending_loses_nothing(page, login, conversation, wait_until,
                                                        assert_no_js_errors):
    login("alice")
    page.goto(f"/conversations/{conversation.pk}/")
    sends = HeldRequests(page, SEND, "POST")
    box = page.get_by_role("textbox", name="Message")

    send(page, "Message A")
    wait_until(lambda: len(sends.held) == 1)
    expect(box).to_have_value("")  # cleared at once: nothing typed later can be erased
    expect(page.locator("li.msg--sending")).to_contain_text("Message A")
    assert page.locator("#chat").get_attribute("data-outbox") == "1"

    box.press_sequentially("Mes")
    sends.release()  # the send completes in the middle of typing
    expect(page.locator("li.msg--user:not(.msg--sending)")).to_have_count(1)
    box.press_sequentially("sage B typed")
    expect(box).to_have_value("Message B typed")

    # Sending B while C is typed and B is still in flight: B queues behind nothing, C waits its turn.
    box.press("Enter")
    wait_until(lambda: len(sends.held) == 1)
    send(page, "Message C")
    expect(page.locator("#chat")).to_have_attribute("data-outbox", "2")
    expect(page.locator("li.msg[data-status=queued]")).to_contain_text("Message C")
    box.press_sequentially("draft D")
    sends.hold = False
    sends.release()

    expect(page.locator("#chat")).to_have_attribute("data-outbox", "0")
    expect(page.locator("li.msg--assistant")).to_have_count(3)
    expect(box).to_have_value("draft D")
    users = page.locator("li.msg--user .msg__text")
    expect(users).to_have_text(["Message A", "Message B typed", "Message C"])
    stored = list(Message.objects.filter(conversation=conversation, role="user").order_by("created_at")
                  .values_list("text", flat=True))
    assert stored == ["Message A", "Message B typed", "Message C"]


def test_a_message_that_cannot_be_sent_stays_with_send_again(page, login, conversation, assert_no_js_errors):
    login("alice")
    page.goto(f"/conversations/{conversation.pk}/")
    refuse = lambda route: route.abort("connectionrefused")  # noqa: E731
    page.route(lambda url: bool(SEND.search(url)), refuse)

    send(page, "Are you there?")
    unsent = page.locator("li.msg--unsent")
    expect(unsent).to_contain_text("Are you there?")
    expect(unsent).to_contain_text("Could not reach the server")

    page.unroute_all()
    unsent.get_by_role("button", name="Send again").click()
    expect(page.locator("li.msg--assistant.msg--ready")).to_have_count(1)
    expect(page.locator("li.msg--unsent")).to_have_count(0)
    assert Message.objects.filter(conversation=conversation, role="user").count() == 1


def test_times_are_local_and_alike_on_chat_and_voice_pages(browser, live_server, conversation):
    context = browser.new_context(base_url=live_server.url, timezone_id="America/New_York", locale="en-US")
    page = context.new_page()
    try:
        page.goto("/login/")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("correct horse battery staple")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/voices/")
        conversation_services.message_send(conversation=conversation, text="What time is it?")
        message = conversation.messages.filter(role="user").get()
        voice = conversation.voice
        zone = ZoneInfo("America/New_York")

        def expected_time(instant: datetime) -> str:
            local = instant.astimezone(zone)
            return f"{local.strftime('%I').lstrip('0')}:{local:%M} {local:%p}"

        page.goto(f"/conversations/{conversation.pk}/")
        chat_time = page.locator(f"#msg-{message.pk} time")
        expect(chat_time).to_have_text(expected_time(message.created_at))

        page.goto(f"/voices/{voice.pk}/")
        created = page.locator(".facts time")
        expect(created).to_contain_text(expected_time(voice.created_at))
        listed = page.locator("section[aria-labelledby=conversations-heading] time")
        expect(listed).to_contain_text(expected_time(conversation.messages.latest("created_at").conversation.updated_at))
    finally:
        context.close()


def test_logout_says_so_and_pages_have_a_favicon(page, login, alice):
    login("alice")
    icon = page.locator("link[rel=icon]")
    href = icon.get_attribute("href")
    assert href.endswith(".svg")
    response = page.request.get(href)
    assert response.status == 200 and response.headers["content-type"].startswith("image/svg+xml")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login/")
    expect(page.get_by_role("status")).to_contain_text("You are logged out")
