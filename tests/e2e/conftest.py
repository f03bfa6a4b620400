"""Browser fixtures: Playwright driving the system chromium against pytest-django's live_server.

Never `playwright install`: the machine's own /usr/bin/chromium is launched by path.
"""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an asyncio event loop in this thread; Django would otherwise refuse
# ORM calls made from the test body ("You cannot call this from an async context").
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A fake microphone (a generated tone) that needs no permission prompt.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    # Replies are polled with backoff and the events feed every 5 s: allow for both.
    expect.set_options(timeout=40_000)  # generous: a loaded two-core machine is slow, a pass is not
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    context.grant_permissions(["microphone"], origin=live_server.url)
    yield new_page(context)
    context.close()


def new_page(context):
    """A page of `context` with the tests' default timeout, collecting its JavaScript errors: they fail the
    test that caused them (see `assert_no_js_errors`)."""
    page = context.new_page()
    page.set_default_timeout(40_000)
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    return page


@pytest.fixture
def assert_no_js_errors(page):
    yield
    assert page.js_errors == [], f"JavaScript errors on the page: {page.js_errors}"


@pytest.fixture
def login(page):
    """Log in through the real login page."""

    def do_login(username: str, password: str = PASSWORD):
        page.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/voices/")

    return do_login


@pytest.fixture
def wait_until(page):
    """wait_until(condition): let the page run (Playwright dispatches route handlers and events meanwhile)
    until a condition about the test's own state holds, with a generous deadline. For conditions in the
    page itself use expect / wait_for_function."""
    import time

    def wait(condition, *, timeout_s: float = 30.0, step_ms: int = 25):
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout_s} s")
            page.wait_for_timeout(step_ms)

    return wait
