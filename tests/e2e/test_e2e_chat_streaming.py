"""The chat page hears a reply while it is still being generated, told by Server-Sent Events, on the
stack bin/run starts (uvicorn + a django-q2 cluster), in Chromium.

The emulator (in this process) renders the reply part by part and holds the second part until the
page's audio element is playing: so the reply plays while it is still being generated, by arrangement
rather than by timing. The page must learn everything from its event stream: no polling request.
"""

import re
from pathlib import Path

import pytest

from tests.live import LiveStack
from tests.streaming import held_speech, live_conversation  # noqa: F401 - held_speech is a fixture

if not Path("/usr/bin/chromium").exists():
    pytest.skip("/usr/bin/chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

PASSWORD = "correct horse battery staple"
PLAYING = """() => { const a = document.querySelector("li.msg--assistant audio[data-streaming]");
                     return !!a && !a.paused && a.currentTime > 0; }"""


@pytest.fixture(scope="module")
def live(tmp_path_factory, emulator):
    stack = LiveStack(tmp_path_factory.mktemp("chat-streaming"), provider_url=emulator.url, cluster=True).start()
    yield stack
    stack.stop()


def test_the_page_plays_a_reply_still_being_generated_via_sse_without_polling(browser, live, held_speech):
    made = live_conversation(live, "streamer", seed=9)
    context = browser.new_context(base_url=live.urls[0])
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors, requests = [], []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append((request.method, request.url)))
    try:
        page.goto("/login/")
        page.get_by_label("Username").fill("streamer")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/voices/")
        page.goto(f"/conversations/{made['conversation']}/")
        expect(page.locator("#chat")).to_have_attribute("data-live", "open")

        page.get_by_role("textbox", name="Message").fill("Tell me a story about your bread, please.")
        page.get_by_role("button", name="Send").click()
        # The reply plays while its second part is still held at the provider.
        page.wait_for_function(PLAYING)
        reply = page.locator("li.msg--assistant").last
        assert reply.get_attribute("data-status") == "pending"
        held_speech.set()

        expect(reply).to_have_attribute("data-status", "ready")
        expect(reply.locator(".msg__text")).not_to_have_text("")
        # The audio element that was playing is the one kept: no restart, no second download.
        expect(reply.locator("audio")).to_have_attribute("data-streaming", "true")
        expect(reply.locator("audio")).to_have_attribute("data-stream-url",
                                                          re.compile(r"/api/v1/messages/[0-9a-f-]+/stream/$"))
    finally:
        context.close()

    assert errors == []
    message_gets = [u for m, u in requests if m == "GET" and re.search(r"/api/v1/messages/[0-9a-f-]+/$", u)]
    assert len(message_gets) <= 1, message_gets  # one read of the finished reply, after its ready event
    assert not [u for _, u in requests if "/api/v1/events/" in u], "the events feed was polled"
    assert len([u for _, u in requests if u.endswith("/stream/")]) == 1  # one download of the reply's audio
