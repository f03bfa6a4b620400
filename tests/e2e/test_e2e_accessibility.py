"""Every page of the product passes axe-core (4.12.1, bundled by axe-playwright-python) with no serious or
critical violation: the user pages in each state people see them (empty and full lists, a form with its
errors, a chat with a failed reply, the 404 page), every model the admin registers (its changelist and, when
a row exists, its change form: `admin.site._registry`, so a new model is covered without touching this
file), the admin's own screens (review queue, eligibility, quota, provider voices, a candidate run with its
A/B players) and the API docs.

On failure the test prints each page's violations (rule, impact, the offending elements and how to fix).
"""

import io
import uuid
from pathlib import Path

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_q.models import OrmQ, Schedule, Task
from django_q.signing import SignedPackage

from clones import services as clone_services
from clones.models import Voice
from conversations import services as conversation_services
from conversations.models import Message
from fidelity.models import DriftPoint
from kits import services as kit_services
from personas import services as persona_services
from retraining import services as retrain_services
from retraining.models import RetrainRun
from tests.audio import wav_bytes
from tests.e2e.conftest import PASSWORD
from tests.factories import UserFactory
from tests.retraining.helpers import add_versions, retrainable_voice
from voiceclone.events import services as event_services

if not Path("/usr/bin/chromium").exists():
    pytest.skip("/usr/bin/chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

from axe_playwright_python.sync_playwright import Axe  # noqa: E402
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.e2e

BLOCKING = ("serious", "critical")

# Third-party pages we serve but do not write. Each entry: (path prefix, rule id) -> why it is accepted.
# Anything not listed here fails the test, on those pages too.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("api docs (Swagger UI)", "nested-interactive"): (
        "swagger-ui renders each operation's summary as a <button> that contains the operation's own "
        "controls (copy link, lock icon); the markup comes from swagger-ui-bundle.js (drf-spectacular-sidecar), "
        "not from a template of ours. Its colours, language and landmark are ours and are fixed."
    ),
}


class Audit:
    """Runs axe on the page as it is now and keeps the results per page."""

    def __init__(self, page):
        self.page = page
        self.axe = Axe()
        self.results: dict[str, list[dict]] = {}

    def check(self, name: str) -> None:
        response = self.axe.run(self.page, options={"resultTypes": ["violations"]}).response
        self.results[name] = [
            {"id": v["id"], "impact": v["impact"], "help": v["help"], "helpUrl": v["helpUrl"],
             "nodes": [(", ".join(map(str, n["target"])), n.get("failureSummary", "")) for n in v["nodes"]]}
            for v in response["violations"]
        ]

    def visit(self, name: str, path: str, *, ready: str | None = None, status: int = 200) -> None:
        response = self.page.goto(path)
        assert response is not None and response.status == status, (name, path, response and response.status)
        if ready:
            expect(self.page.locator(ready).first).to_be_visible()
        self.check(name)

    def blocking(self) -> dict[str, list[dict]]:
        found = {}
        for name, violations in self.results.items():
            bad = [v for v in violations if v["impact"] in BLOCKING and not any(
                name.startswith(prefix) and v["id"] == rule for prefix, rule in EXCEPTIONS)]
            if bad:
                found[name] = bad
        return found

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for violations in self.results.values():
            for v in violations:
                counts[v["impact"]] = counts.get(v["impact"], 0) + len(v["nodes"])
        lines = [f"axe-core: {len(self.results)} pages checked; violating elements by impact: "
                 + (", ".join(f"{k} {n}" for k, n in sorted(counts.items())) or "none")]
        for name, violations in self.results.items():
            for v in violations:
                lines.append(f"  {name}: {v['id']} ({v['impact']}, {len(v['nodes'])}) {v['help']}")
                for target, summary in v["nodes"][:5]:
                    lines.append(f"      {target}: {' '.join(summary.split())[:300]}")
        return "\n".join(lines)


def log_in(page, username):
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/voices/")


def log_out(page):
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()


@pytest.fixture
def product(alice, staff, emulator_ctl):
    """One of every kind of row, made through services as the product makes them."""
    ada = clone_services.voice_create(
        owner=alice, name="Ada", persona="You are Ada, a cheerful baker from Leeds.",
        samples=[clone_services.SampleUpload(filename="one.wav", data=wav_bytes(3, seed=1))], consent=True,
    )
    ada.refresh_from_db()
    assert ada.status == Voice.Status.READY, ada.failure_reason
    conversation = conversation_services.conversation_create(user=alice, voice=ada, title="Bread")
    conversation_services.message_send(conversation=conversation, text="How does bread rise?")
    emulator_ctl.add_fault(path=r"^/v1/text-to-speech/", method="POST", status=503, count=None)
    conversation_services.message_send(conversation=conversation, text="And sourdough?")
    emulator_ctl.clear_faults()
    assert conversation.messages.filter(role=Message.Role.ASSISTANT, status=Message.Status.FAILED).exists()
    assert conversation.messages.filter(role=Message.Role.ASSISTANT, status=Message.Status.READY).exists()
    persona_services.persona_draft_request(voice=ada, by=alice)
    persona_services.conversation_memory_refresh(conversation_id=conversation.pk)
    event_services.webhook_create(user=alice, url="https://hooks.example.com/voiceclone")
    kit = b"".join(kit_services.voice_kit_export(voice=ada, by=alice))
    kit_services.voice_kit_import(owner=alice, upload=io.BytesIO(kit), consent=True, name="Ada again")
    Group.objects.create(name="Reviewers")
    Token.objects.get_or_create(user=alice)
    # An archived version of Ada deleted at the provider by staff (a provider-voice deletion row).
    (archived,) = add_versions(ada, ["archived"])
    retrain_services.version_delete_enqueue(version=archived, by=staff)
    # django-q2's own screens: a schedule, a failed task and a queued one (the test cluster is synchronous).
    Schedule.objects.create(name="Nightly example", func="retraining.tasks.retrain_scan", schedule_type=Schedule.DAILY)
    now = timezone.now()
    Task.objects.create(id=uuid.uuid4().hex, name="failed-example", func="retraining.tasks.retrain_scan",
                        started=now, stopped=now, success=False, result="ProviderUnavailable: example")
    # A drift measurement of Ada (a plain record: what the drift monitor writes).
    DriftPoint.objects.create(voice=ada, version=ada.current_version, measured_at=now, similarity=0.97,
                              baseline_similarity=0.98, baseline_originals_similarity=0.97, baseline_source="replies")
    OrmQ.objects.create(key="voiceclone", lock=now, payload=SignedPackage.dumps(
        {"id": uuid.uuid4().hex, "name": "queued-example", "func": "retraining.tasks.retrain_scan", "args": (),
         "kwargs": {}, "started": now}))

    # A voice with enough approved clips for a retrain, and a run that became a candidate (A/B previews).
    bea = retrainable_voice(alice, name="Bea")
    run = retrain_services.retrain_run_propose(voice=bea, proposed_by=staff)
    retrain_services.retrain_run_approve(run=run, by=staff)
    run.refresh_from_db()
    assert run.state == RetrainRun.State.CANDIDATE, (run.state, run.failure_message)
    return {"voice": ada, "conversation": conversation, "run": run}


def admin_pages(product, without_rows: list[str]):
    """(name, path, selector to wait for) for every registered model's changelist and first change form,
    and the admin's own screens. Models with no row to open are appended to `without_rows`."""
    pages = [("admin index", reverse("admin:index"), "#content")]
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label):
        opts = model._meta
        label = f"admin {opts.label}"
        pages.append((f"{label} changelist", reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
                      "#content"))
        obj = model_admin.get_queryset(_staff_request(product)).order_by("pk").first()
        if obj is None:
            without_rows.append(opts.label)
        else:
            try:
                url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            except NoReverseMatch:
                continue
            pages.append((f"{label} change form", url, "#content"))
    run = product["run"]
    pages += [
        ("admin candidate run", reverse("admin:retraining_retrainrun_change", args=[run.pk]), "audio"),
        ("admin review queue", reverse("admin:clones_clipsample_queue"), "#content"),
        ("admin eligibility", reverse("admin:retraining_eligibility"), "#content"),
        ("admin quota", reverse("admin:retraining_quota"), "#content"),
        ("admin provider voices", reverse("admin:retraining_foreign_voices"), "#content"),
    ]
    return pages


def _staff_request(product):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = product["run"].approved_by
    return request


def test_every_page_has_no_serious_or_critical_axe_violation(page, product, staff):
    audit = Audit(page)
    voice, conversation = product["voice"], product["conversation"]

    # Signed out: sign-up (blank and refused), log-in, 404.
    audit.visit("signup", "/signup/", ready="form")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator(".errorlist").first).to_be_visible()
    audit.check("signup with errors")
    audit.visit("login", "/login/", ready="form")
    audit.visit("404 page", "/no-such-page/", status=404)

    # A new user: no voices, no conversations; then log out.
    UserFactory(username="newcomer")
    log_in(page, "newcomer")
    audit.check("voice list, empty")
    audit.visit("conversation list, empty", "/conversations/")
    log_out(page)
    audit.check("logged out")

    # Alice: her voices, the create form (blank and refused), the chat with a failed reply.
    log_in(page, "alice")
    audit.check("voice list")
    audit.visit("voice detail", f"/voices/{voice.pk}/", ready="h1")
    audit.visit("voice disable", f"/voices/{voice.pk}/disable/", ready="form")
    audit.visit("voice import", "/voices/import/", ready="form")
    audit.visit("create voice", "/voices/new/", ready="form")
    page.get_by_role("button", name="Create voice").click()
    expect(page.locator(".errorlist").first).to_be_visible()
    audit.check("create voice with errors")
    audit.visit("conversation list", "/conversations/")
    audit.visit("new conversation", "/conversations/new/", ready="form")
    audit.visit("chat page", f"/conversations/{conversation.pk}/", ready="#record-button")
    expect(page.locator(".msg--failed, li.msg[data-status=failed]").first).to_be_visible()
    log_out(page)

    # Staff: every admin page, then the API docs.
    log_in(page, "staff")
    without_rows: list[str] = []
    for name, path, ready in admin_pages(product, without_rows):
        audit.visit(name, path, ready=ready)
    audit.visit("api docs (Swagger UI)", "/api/docs/", ready=".swagger-ui .opblock")
    audit.visit("api docs (Redoc)", "/api/redoc/", ready="h1")

    print("\n" + audit.summary())
    print(f"registered models: {len(admin.site._registry)}; changelist only (no row to open): "
          f"{', '.join(without_rows) or 'none'}")
    blocking = audit.blocking()
    assert not blocking, "serious or critical axe violations:\n" + audit.summary()
