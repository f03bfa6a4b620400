"""Nothing on any page loads from outside the installation: the API docs render with every request to
another host blocked, and the site's pages and the admin never even try one."""

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.factories import ClipSampleFactory, ConversationFactory, VoiceFactory

if not Path("/usr/bin/chromium").exists():
    pytest.skip("/usr/bin/chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.e2e

LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


@pytest.fixture
def external_requests(page):
    """Blocks (and records) every request to a host other than this machine."""
    attempted = []

    def guard(route):
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS or route.request.url.startswith("data:"):
            route.continue_()
        else:
            attempted.append(route.request.url)
            route.abort("blockedbyclient")

    page.context.route("**/*", guard)
    return attempted


def test_swagger_ui_renders_offline(page, login, alice, external_requests, assert_no_js_errors):
    login("alice")

    page.goto("/api/docs/")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("voiceclone API")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    assert page.locator(".swagger-ui .opblock").count() > 20
    assert page.evaluate("typeof SwaggerUIBundle") == "function"
    assert external_requests == []


def test_redoc_renders_offline(page, login, alice, external_requests, assert_no_js_errors):
    login("alice")

    page.goto("/api/redoc/")

    expect(page.locator("h1").first).to_contain_text("voiceclone API")
    expect(page.get_by_text("Start a conversation with one of your ready voices or a shared one").first).to_be_attached()
    assert external_requests == []


def test_pages_and_admin_request_nothing_from_outside(page, login, staff, external_requests):
    voice = VoiceFactory(owner=staff)
    conversation = ConversationFactory(voice=voice, user=staff)
    ClipSampleFactory(voice=voice)
    paths = [
        "/voices/", f"/voices/{voice.pk}/", "/voices/new/", "/conversations/", f"/conversations/{conversation.pk}/",
        "/conversations/new/", "/admin/", "/admin/clones/clipsample/", "/admin/clones/clipsample/queue/",
        f"/admin/clones/voice/{voice.pk}/change/", "/admin/retraining/retrainrun/quota/", "/api/v1/",
    ]
    page.goto("/signup/")
    login("staff")

    for path in paths:
        response = page.goto(path)
        assert response.status == 200, path
        page.wait_for_load_state("load")

    assert external_requests == []
