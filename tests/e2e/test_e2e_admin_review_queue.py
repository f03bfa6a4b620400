"""The keyboard-driven clip review queue in a real browser: play, approve, reject with a reason, skip, undo."""

from pathlib import Path

import pytest

from clones.models import ClipSample
from tests.factories import ClipSampleFactory, VoiceFactory

if not Path("/usr/bin/chromium").exists():
    pytest.skip("/usr/bin/chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.e2e


def test_staff_reviews_the_queue_with_the_keyboard(page, login, staff, assert_no_js_errors):
    voice = VoiceFactory(name="Ada")
    ClipSampleFactory(voice=voice, source="original", duration_s=60, review_status="approved", text="")
    first = ClipSampleFactory(voice=voice, text="A clean, lively answer!")
    second = ClipSampleFactory(voice=voice, quality_flags=["noisy"], quality_score=89, snr_db=14.5,
                               text="A bit of hiss in this one.")
    third = ClipSampleFactory(voice=voice, analysed_at=None, quality_score=None, text="Unheard so far.")
    login("staff")

    page.goto(f"/admin/clones/clipsample/queue/?voice={voice.pk}")

    expect(page.locator("#queue-position")).to_have_text("1 / 3")
    expect(page.locator("#queue-text")).to_have_text("A clean, lively answer!")
    expect(page.locator("#queue-audio")).to_have_attribute("src", f"/admin/clones/clipsample/{first.pk}/audio/")
    page.wait_for_function("document.getElementById('queue-waveform').naturalWidth > 0")
    page.wait_for_function("document.getElementById('queue-audio').readyState >= 1")  # the MP3 loads

    page.keyboard.press("a")
    expect(page.locator(f"#queue-row-{first.pk} .queue-decision")).to_have_text("approved")
    expect(page.locator("#queue-position")).to_have_text("2 / 3")

    page.keyboard.press("r")
    expect(page.locator("#queue-reasons")).to_be_visible()
    page.keyboard.press("5")  # noise
    expect(page.locator(f"#queue-row-{second.pk} .queue-decision")).to_contain_text("rejected (noise:")
    expect(page.locator("#queue-position")).to_have_text("3 / 3")

    page.keyboard.press("s")
    expect(page.locator("#queue-done")).to_be_visible()

    page.keyboard.press("u")  # undo the rejection
    expect(page.locator(f"#queue-row-{second.pk} .queue-decision")).to_have_text("pending")
    expect(page.locator("#queue-position")).to_have_text("2 / 3")

    statuses = dict(ClipSample.objects.filter(pk__in=[first.pk, second.pk, third.pk])
                    .values_list("pk", "review_status"))
    assert statuses == {first.pk: "approved", second.pk: "pending", third.pk: "pending"}
    assert ClipSample.objects.get(pk=first.pk).reviewed_by == staff
