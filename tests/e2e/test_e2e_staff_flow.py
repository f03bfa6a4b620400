"""The staff flow, end to end in Chromium: a voice's replies wait for review; staff filter the clip list to
that voice's pending clips, play one, approve them all with the bulk action, which makes the voice eligible;
they propose a retrain from the eligibility panel, approve it, wait for the candidate, listen to both A/B
previews and promote it. Meanwhile the voice's owner has the chat page open in another browser context:
it announces the new version without a reload.

The run executes inline: the test settings run django-q2 synchronously, so the approve request returns once
the run has finished (its page is then reloaded until it shows a candidate, should that ever change).
"""

from pathlib import Path

import pytest

from clones.models import ClipSample, Voice
from conversations import services as conversation_services
from retraining.models import RetrainRun
from tests.e2e.conftest import PASSWORD, new_page
from tests.retraining.helpers import add_conversations, voice_at_provider

if not Path("/usr/bin/chromium").exists():
    pytest.skip("/usr/bin/chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.e2e

PENDING = ClipSample.ReviewStatus.PENDING
# Resolves once the audio element really plays: the `playing` event fired and its clock moved.
PLAYS = """(audio) => new Promise((resolve, reject) => {
  const done = () => { if (audio.currentTime > 0) resolve(audio.currentTime); else setTimeout(done, 20); };
  audio.addEventListener('playing', done, {once: true});
  audio.addEventListener('error', () => reject(new Error('audio error ' + (audio.error && audio.error.code))),
                         {once: true});
  audio.play().catch(reject);
})"""


def logged_in_page(browser, live_server, username):
    page = new_page(browser.new_context(base_url=live_server.url))
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/voices/")
    return page


def plays(audio) -> float:
    return audio.evaluate(PLAYS)


@pytest.fixture
def voice_awaiting_review(alice, emulator_ctl):
    """Ada: a real provider voice with originals and 20 conversations whose replies are pending review
    (not eligible yet); Bob's voice has pending clips too, which the filter must leave out."""
    voice = voice_at_provider(alice, name="Ada")
    add_conversations(voice, 20, days_spread=5, review_status=PENDING)
    other = voice_at_provider(name="Bob's voice")
    add_conversations(other, 3, review_status=PENDING, start=100)
    return voice


def test_staff_review_retrain_and_promote_while_the_owner_chats(browser, live_server, staff, alice,
                                                                voice_awaiting_review):
    voice = voice_awaiting_review
    conversation = conversation_services.conversation_create(user=alice, voice=voice, title="Waiting for v2")
    owner = logged_in_page(browser, live_server, "alice")
    owner.goto(f"/conversations/{conversation.pk}/")
    expect(owner.locator("#voice-version")).to_have_text("1")

    admin = logged_in_page(browser, live_server, "staff")
    try:
        # The eligibility panel says what is missing: approved clips.
        admin.goto("/admin/retraining/retrainrun/eligibility/")
        ada_row = admin.locator(f"tr[data-voice='{voice.pk}']")
        expect(ada_row).to_have_class("not-eligible")

        # Filter the clip list to Ada's pending clips.
        admin.goto("/admin/clones/clipsample/")
        filters = admin.locator("#changelist-filter")
        filters.get_by_role("link", name="Ada", exact=True).click()
        filters.locator("details[data-filter-title='review status']").get_by_role("link", name="Pending").click()
        rows = admin.locator("#result_list tbody tr")
        expect(rows).to_have_count(20)
        expect(admin.locator("#result_list")).not_to_contain_text("Bob's voice")
        assert "voice=" in admin.url and "review_status__exact=pending" in admin.url

        # Play a clip from the list.
        assert plays(rows.first.locator("audio")) > 0

        # Select them all and approve with the bulk action.
        admin.locator("#action-toggle").check()
        admin.locator("select[name=action]").select_option("approve_clips")
        admin.get_by_role("button", name="Go").click()
        expect(admin.locator("ul.messagelist")).to_contain_text("20")
        expect(rows).to_have_count(0)  # still filtered to pending: none left
        assert voice.clips.filter(review_status=ClipSample.ReviewStatus.APPROVED).count() >= 20

        # Now eligible: propose, approve, wait for the candidate.
        admin.goto("/admin/retraining/retrainrun/eligibility/")
        expect(ada_row).to_have_class("eligible")
        ada_row.get_by_role("button", name="Propose").click()
        expect(admin.locator("ul.messagelist")).to_contain_text("proposed for Ada")
        run = RetrainRun.objects.get(voice=voice)
        assert admin.url.endswith(f"/admin/retraining/retrainrun/{run.pk}/change/")
        admin.get_by_role("button", name="Approve").click()
        expect(admin.locator("ul.messagelist")).to_contain_text("approved")
        for _ in range(30):
            if admin.locator("#retrain-previews audio").count() == 2:
                break
            admin.wait_for_timeout(500)
            admin.reload()
        expect(admin.locator("#retrain-run-panel h2")).to_contain_text("Candidate")

        # Listen to the A/B previews: both play.
        old, new = admin.locator("#retrain-previews audio").nth(0), admin.locator("#retrain-previews audio").nth(1)
        assert plays(old) > 0
        old.evaluate("a => a.pause()")
        assert plays(new) > 0

        admin.get_by_role("button", name="Promote").click()
        expect(admin.locator("ul.messagelist")).to_contain_text("promoted")
        assert Voice.objects.get(pk=voice.pk).current_version.number == 2

        # The owner's open chat page learns of it without a reload.
        expect(owner.get_by_text("Voice updated to version 2")).to_be_visible()
        expect(owner.locator("#voice-version")).to_have_text("2")
        assert owner.js_errors == [] and admin.js_errors == [], (owner.js_errors, admin.js_errors)
    finally:
        admin.context.close()
        owner.context.close()
