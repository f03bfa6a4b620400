"""The staff clip list fits a 1,366 px laptop screen: every column, including duration, score, flags and
review status, is visible without scrolling sideways (measured: the table's scrollWidth against the width
the page gives it)."""

from pathlib import Path

import pytest

from tests.factories import ClipSampleFactory, VoiceFactory

if not Path("/usr/bin/chromium").exists():
    pytest.skip("/usr/bin/chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.e2e

MEASURE = """() => {
  const table = document.getElementById('result_list');
  const box = table.closest('.results') || table.parentElement;
  const cell = (name) => table.querySelector('tbody tr td.field-' + name + ', tbody tr th.field-' + name);
  const right = box.getBoundingClientRect().right;
  return {
    table: table.scrollWidth, box: box.clientWidth, page: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
    visible: Object.fromEntries(['duration', 'score', 'flags', 'status_and_runs', 'created']
      .map(n => [n, !!cell(n) && cell(n).getBoundingClientRect().right <= Math.min(right, window.innerWidth) + 1])),
  };
}"""


@pytest.mark.parametrize("width", [1366, 1400, 1920])
def test_clip_list_fits_the_screen(browser, live_server, staff, width):
    voice = VoiceFactory(name="A voice with a rather long name for a demo")
    for index in range(6):
        ClipSampleFactory(
            voice=voice, quality_flags=["too_quiet", "long_trailing_silence", "noisy"][: index % 4],
            text="A long reply about sourdough starters, bloomer loaves and the proving drawer " * 3,
        )
    context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto("/admin/login/?next=/admin/clones/clipsample/")
        page.fill("#id_username", "staff")
        page.fill("#id_password", "correct horse battery staple")
        page.click("input[type=submit]")
        expect(page.locator("#result_list tbody tr")).to_have_count(6)

        measured = page.evaluate(MEASURE)
        print(f"\n{width} px window: table {measured['table']} px in {measured['box']} px, "
              f"page {measured['page']} px")

        assert measured["table"] <= measured["box"], measured
        assert measured["page"] <= measured["viewport"], measured
        assert all(measured["visible"].values()), measured
    finally:
        context.close()
