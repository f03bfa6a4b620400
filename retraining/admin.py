"""Staff screens for retraining: runs (approve, listen A/B, promote, reject, cancel, retry, roll back),
an eligibility panel (why voices are not eligible), a quota panel (slots, archived voices holding them,
cleanup). Every write calls `retraining.services`; refusals are shown with `message_user(..., ERROR)`.
Players reuse the clip admin's staff-only audio view (`admin:clones_clipsample_audio`).
"""

import uuid

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.admin.exceptions import NotRegistered
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from clones.models import Voice, VoiceVersion
from fidelity.probes import probe_characters
from voiceclone import provider
from voiceclone.errors import ApplicationError
from voiceclone.wording import counted

from . import selectors, services
from .models import ProviderVoiceDeletion, RetrainRun, RetrainRunClip


def _audio_url(clip_id) -> str:
    return reverse("admin:clones_clipsample_audio", args=[clip_id])


def _count(n: int, noun: str) -> str:
    return f"{n} {noun if n == 1 else noun + 's'}"


def _foreign_or_report(model_admin, request) -> list:
    try:
        return services.foreign_provider_voices()
    except provider.ProviderError as exc:
        model_admin.message_user(request, f"The provider's voices could not be read: {exc}", messages.ERROR)
        return []


def _report_error(model_admin, request, exc) -> None:
    text = exc.message if isinstance(exc, (ApplicationError, provider.ProviderError)) else str(exc)
    model_admin.message_user(request, text, messages.ERROR)


def _gate_context(run) -> dict:
    """The fidelity gate's report for the run page: numbers, reasons, a chart, override, probe players."""
    from fidelity.charts import gate_chart_svg
    from fidelity.gate import gate_fidelity_summary
    from fidelity.models import GateReport

    report = GateReport.objects.filter(run=run).select_related("overridden_by").first()
    probes = []
    if report is not None:
        for probe in report.probes.filter(clip__isnull=False).order_by("index", "side"):
            probes.append({"probe": probe, "audio_url": _audio_url(probe.clip_id)})
    return {
        "gate": report,
        "gate_summary": gate_fidelity_summary(run),
        "gate_metrics": (report.metrics if report else {}) or {},
        "gate_chart": gate_chart_svg(report.metrics) if report and report.metrics else "",
        "gate_probes": probes,
    }


class RetrainRunClipInline(admin.TabularInline):
    model = RetrainRunClip
    extra = 0
    fields = ("position", "clip", "role", "use_s", "upload_sha256")
    readonly_fields = fields
    can_delete = False
    ordering = ("position",)

    def has_add_permission(self, request, obj=None):
        return False


CLEANUP_STARTED = (
    "Cleanup started in the background: archived provider voices beyond the keep count "
    "(ARCHIVED_VOICES_KEEP) are being deleted. See the quota panel."
)


@admin.action(description="Delete archived provider voices beyond the keep count")
def cleanup_archived_voices(model_admin, request, queryset=None):
    """Admin action (runs, voices, versions): the cleanup is account-wide, whatever is selected."""
    services.archived_voices_cleanup_enqueue()
    model_admin.message_user(request, CLEANUP_STARTED, messages.SUCCESS)


# button name -> (label, states in which it shows); `act_view` maps each name to its service
RUN_ACTIONS = {
    "approve": ("Approve", (RetrainRun.State.PROPOSED,)),
    "reject": ("Reject", (RetrainRun.State.PROPOSED, RetrainRun.State.CANDIDATE)),
    "promote": ("Promote", (RetrainRun.State.CANDIDATE,)),
    "cancel": ("Cancel", (RetrainRun.State.PROPOSED, RetrainRun.State.APPROVED, RetrainRun.State.WAITING_FOR_SLOT,
                          RetrainRun.State.RUNNING, RetrainRun.State.CANDIDATE, RetrainRun.State.FAILED)),
    "retry": ("Retry", (RetrainRun.State.FAILED,)),
    "rollback": ("Roll back", (RetrainRun.State.PROMOTED,)),
}


@admin.register(RetrainRun)
class RetrainRunAdmin(admin.ModelAdmin):
    list_display = ("id", "voice", "state", "strategy_label", "clip_count", "total_duration", "cost", "quota",
                    "created_at")
    list_filter = ("state", "strategy")
    list_select_related = ("voice",)
    search_fields = ("voice__name", "=id")
    readonly_fields = (
        "voice", "state", "strategy", "old_version", "new_version", "waiting_reason", "failure_code",
        "failure_message", "proposed_by", "approved_by", "approved_at", "started_at", "finished_at", "finished_by",
        "attempt_count", "create_requested_at", "claimed_at", "created_at", "updated_at",
    )
    exclude = ("eligibility_snapshot", "selection_report", "quota_snapshot", "preview_old_clip", "preview_new_clip",
               "waiting_since")
    inlines = [RetrainRunClipInline]
    actions = ["approve_runs", "cancel_runs", cleanup_archived_voices]
    change_form_template = "admin/retraining/retrainrun/change_form.html"
    change_list_template = "admin/retraining/retrainrun/change_list.html"

    def has_add_permission(self, request):
        return False  # runs are proposed by the scan or from the eligibility panel

    def has_delete_permission(self, request, obj=None):
        return False  # a run is history: cancel it instead

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_clips=Count("run_clips"))

    # --- columns -------------------------------------------------------------------------------------

    @admin.display(description="Strategy")
    def strategy_label(self, obj):
        if obj.is_irreversible:
            return format_html('<strong title="Changes the live provider voice; no rollback">{}</strong>',
                               "edit in place (irreversible)")
        return obj.strategy

    @admin.display(description="Clips", ordering="n_clips")
    def clip_count(self, obj):
        return getattr(obj, "n_clips", None)

    @admin.display(description="Duration")
    def total_duration(self, obj):
        seconds = ((obj.selection_report or {}).get("totals") or {}).get("duration_s")
        return f"{seconds:.0f} s" if seconds is not None else "-"

    @admin.display(description="Cost (characters)")
    def cost(self, obj):
        estimate = (obj.cost_estimate or {}).get("tts_characters")
        if estimate is None:
            return "-"
        return f"≈ {estimate}"

    @admin.display(description="Quota snapshot")
    def quota(self, obj):
        snap = obj.quota_snapshot or {}
        if snap.get("voice_limit") is None:
            return snap.get("provider_error") or "-"
        text = f"{snap.get('slots_used')}/{snap.get('voice_limit')} used"
        if snap.get("will_find_slot") is False:
            text += " · will wait"
        return f"{text} ({snap.get('at', '')})"

    # --- detail page ---------------------------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not str(object_id).isdigit():
            raise Http404("No such run.")  # e.g. a relative asset URL resolved under the page: not a 500
        run = get_object_or_404(RetrainRun.objects.select_related(
            "voice", "old_version", "new_version", "preview_old_clip", "preview_new_clip"), pk=object_id)
        clips = [
            {"row": row, "clip": row.clip, "audio_url": _audio_url(row.clip_id),
             "clip_url": reverse("admin:clones_clipsample_change", args=[row.clip_id])}
            for row in selectors.retrain_run_clips(run=run)
        ]
        plan = None
        if run.state in (RetrainRun.State.PROPOSED, RetrainRun.State.APPROVED, RetrainRun.State.WAITING_FOR_SLOT):
            plan = services.slot_plan(run=run).as_dict()
        context = {
            "run": run,
            "run_clips": clips,
            "preview_old_url": _audio_url(run.preview_old_clip_id) if run.preview_old_clip_id else None,
            "preview_new_url": _audio_url(run.preview_new_clip_id) if run.preview_new_clip_id else None,
            "slot_plan": plan,
            "queue_position": services.queue_position(run),
            "eligibility": run.eligibility_snapshot or {},
            "selection_totals": (run.selection_report or {}).get("totals") or {},
            "selection_excluded": [(services.exclusion_words(k), v) for k, v in
                                   ((run.selection_report or {}).get("excluded") or {}).items() if v],
            "quota_snapshot": run.quota_snapshot or {},
            "cost": services.retrain_run_cost(run),
            **_gate_context(run),
            "retrain_enabled": settings.RETRAIN_ENABLED,
            "disabled_message": services.RETRAINING_DISABLED_MESSAGE,
            "buttons": [
                {"name": name, "label": label,
                 "url": reverse("admin:retraining_retrainrun_act", args=[run.pk, name])}
                for name, (label, states) in RUN_ACTIONS.items() if run.state in states
                and not (name == "rollback" and run.is_irreversible)
            ],
        }
        return super().change_view(request, object_id, form_url, extra_context={**(extra_context or {}), **context})

    def changelist_view(self, request, extra_context=None):
        context = {"retrain_enabled": settings.RETRAIN_ENABLED,
                   "disabled_message": services.RETRAINING_DISABLED_MESSAGE, **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:run_id>/act/<str:name>/", wrap(self.act_view), name="retraining_retrainrun_act"),
            path("eligibility/", wrap(self.eligibility_view), name="retraining_eligibility"),
            path("quota/", wrap(self.quota_view), name="retraining_quota"),
            path("provider-voices/", wrap(self.foreign_voices_view), name="retraining_foreign_voices"),
            *super().get_urls(),
        ]

    def _check(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied

    def act_view(self, request, run_id, name):
        """POST from the detail page's buttons: call the service, report the outcome, come back."""
        self._check(request)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        run = get_object_or_404(RetrainRun, pk=run_id)
        back = HttpResponseRedirect(reverse("admin:retraining_retrainrun_change", args=[run.pk]))
        reason = request.POST.get("reason", "")
        calls = {
            "approve": lambda: services.retrain_run_approve(run=run, by=request.user),
            "reject": lambda: services.retrain_run_reject(run=run, by=request.user, reason=reason),
            "promote": lambda: services.retrain_run_promote(
                run=run, by=request.user, override_reason=request.POST.get("override_reason", "")),
            "cancel": lambda: services.retrain_run_cancel(run=run, by=request.user, reason=reason),
            "retry": lambda: services.retrain_run_retry(run=run, by=request.user),
            "rollback": lambda: services.retrain_run_rollback(run=run, by=request.user),
        }
        if name not in calls:
            self.message_user(request, f"Unknown action {name!r}.", messages.ERROR)
            return back
        try:
            calls[name]()
        except (ApplicationError, provider.ProviderError) as exc:
            _report_error(self, request, exc)
            return back
        done = {
            "approve": "approved; the run starts in the background",
            "reject": "rejected", "promote": "promoted: the voice now speaks with the new version",
            "cancel": "cancelled", "retry": "queued again", "rollback": "rolled back to the previous version",
        }[name]
        self.message_user(request, f"Run #{run.pk} {done}.", messages.SUCCESS)
        return back

    # --- panels --------------------------------------------------------------------------------------

    def eligibility_view(self, request):
        """Why each voice is (not) eligible, in sentences that say what to do, with a scan button, a propose
        button per eligible voice, a re-clone-from-originals button, and each voice's retrain cost."""
        self._check(request)
        if request.method == "POST":
            if request.POST.get("scan"):
                result = services.retrain_scan()
                if result.is_disabled:
                    self.message_user(request, services.RETRAINING_DISABLED_MESSAGE, messages.ERROR)
                else:
                    self.message_user(
                        request, f"Scan: {_count(result.voices_checked, 'voice')} checked, "
                                 f"{_count(len(result.proposed_run_ids), 'run')} proposed.", messages.SUCCESS)
            elif request.POST.get("voice"):
                try:
                    voice = Voice.objects.get(pk=uuid.UUID(request.POST["voice"]))
                except (ValueError, Voice.DoesNotExist):
                    raise Http404("No such voice.") from None
                strategy = request.POST.get("strategy") or RetrainRun.Strategy.RECREATE
                try:
                    run = services.retrain_run_propose(voice=voice, proposed_by=request.user, strategy=strategy)
                except ApplicationError as exc:
                    _report_error(self, request, exc)
                else:
                    self.message_user(request, f"Run #{run.pk} proposed for {voice.name}.", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:retraining_retrainrun_change", args=[run.pk]))
            return HttpResponseRedirect(reverse("admin:retraining_eligibility"))
        rows = services.voices_eligibility()
        reclone = {e.voice_id: e for e in services.voices_eligibility(strategy=RetrainRun.Strategy.ORIGINALS_ONLY)}
        costs = services.retrain_costs_by_voice()
        # The next run's characters: its A/B previews and the fidelity gate's probe set, both versions.
        preview_chars = 2 * len(settings.RETRAIN_PREVIEW_TEXT) + 2 * probe_characters()
        table = [
            {"e": row, "reclone": reclone.get(row.voice_id), "cost": costs.get(row.voice_id),
             "next_characters": preview_chars if row.is_eligible else None}
            for row in rows
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Retraining eligibility",
            "opts": self.model._meta,
            "rows": table,
            "voice_count": len(rows),
            "summary": services.reasons_summary(rows),
            "eligible_count": sum(1 for r in rows if r.is_eligible),
            "allow_edit_in_place": settings.RETRAIN_ALLOW_EDIT_IN_PLACE,
            "retrain_enabled": settings.RETRAIN_ENABLED,
            "disabled_message": services.RETRAINING_DISABLED_MESSAGE,
            "window_days": settings.RETRAIN_WINDOW_DAYS,
        }
        return TemplateResponse(request, "admin/retraining/eligibility.html", context)

    def quota_view(self, request):
        """Slots used/limit, archived voices holding slots (oldest first), waiting runs; cleanup and
        per-version deletion buttons."""
        self._check(request)
        if request.method == "POST":
            if request.POST.get("cleanup"):
                cleanup_archived_voices(self, request)
            elif request.POST.get("version"):
                if not request.POST["version"].isdigit():
                    raise Http404("No such version.")
                versions = VoiceVersion.objects.select_related("voice")
                version = get_object_or_404(versions, pk=int(request.POST["version"]))
                try:
                    services.version_delete_enqueue(version=version, by=request.user)
                except ApplicationError as exc:
                    _report_error(self, request, exc)
                else:
                    self.message_user(
                        request, f"Deleting {version.voice.name} v{version.number} at the provider; runs waiting "
                                 "for a slot resume when it is gone.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:retraining_quota"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Voice slots and cleanup",
            "opts": self.model._meta,
            "quota": services.quota_overview(),
            "holders": services.slot_holders(),
            "deletions": ProviderVoiceDeletion.objects.select_related("version__voice").order_by("-requested_at")[:20],
        }
        return TemplateResponse(request, "admin/retraining/quota.html", context)

    def foreign_voices_view(self, request):
        """Provider voices voiceclone does not own (a previous installation's): adopt one as a voice, or mark
        it deletable so the slot planner may free it when a retrain needs a slot."""
        self._check(request)
        back = HttpResponseRedirect(reverse("admin:retraining_foreign_voices"))
        if request.method == "POST":
            provider_voice_id = request.POST.get("provider_voice_id", "")
            action = request.POST.get("action", "")
            known = {v.provider_voice_id: v for v in _foreign_or_report(self, request)}
            if provider_voice_id not in known:
                self.message_user(request, "That provider voice is not a foreign voice on the account.", messages.ERROR)
                return back
            name = known[provider_voice_id].name
            try:
                if action == "adopt":
                    owner = request.user
                    if request.POST.get("owner"):
                        owner = get_user_model().objects.filter(username=request.POST["owner"]).first()
                        if owner is None:
                            self.message_user(request, f"No user {request.POST['owner']!r}.", messages.ERROR)
                            return back
                    result = services.foreign_voice_adopt(
                        provider_voice_id=provider_voice_id, owner=owner, by=request.user, name=name,
                        originals_confirmed=bool(request.POST.get("originals_confirmed")),
                        speaker_name=request.POST.get("speaker_name", ""),
                        confirmation_note=f"Confirmed in the admin by {request.user.username}.",
                    )
                    self.message_user(
                        request, f"“{name}” adopted as a voice of {owner.username} (version 1), "
                                 f"{_count(len(result.originals_added), 'original')} imported.", messages.SUCCESS)
                    for refusal in result.originals_refused:
                        self.message_user(request, f"Not imported as an original: {refusal}", messages.WARNING)
                    return HttpResponseRedirect(reverse("admin:clones_voice_change", args=[result.voice.pk]))
                if action in ("mark_deletable", "unmark_deletable"):
                    services.foreign_voice_mark_deletable(
                        provider_voice_id=provider_voice_id, name=name, by=request.user,
                        deletable=action == "mark_deletable", note="marked in the admin",
                    )
                    done = ("marked deletable: the slot planner may delete it when a retrain needs a slot"
                            if action == "mark_deletable" else "no longer deletable")
                    self.message_user(request, f"“{name}” {done}.", messages.SUCCESS)
                else:
                    self.message_user(request, f"Unknown action {action!r}.", messages.ERROR)
            except (ApplicationError, provider.ProviderError) as exc:
                _report_error(self, request, exc)
            return back
        context = {
            **self.admin_site.each_context(request),
            "title": "Provider voices voiceclone does not own",
            "opts": self.model._meta,
            "voices": _foreign_or_report(self, request),
        }
        return TemplateResponse(request, "admin/retraining/foreign_voices.html", context)

    # --- bulk actions --------------------------------------------------------------------------------

    def _each_run(self, request, queryset, service, done_verb: str) -> None:
        """Apply `service` to every selected run; refusals are reported per run, successes counted."""
        done = 0
        for run in queryset:
            try:
                service(run=run, by=request.user)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"Run #{run.pk}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{counted(done, 'run')} {done_verb}.", messages.SUCCESS)

    @admin.action(description="Approve selected proposed runs")
    def approve_runs(self, request, queryset):
        self._each_run(request, queryset, services.retrain_run_approve, "approved")

    @admin.action(description="Cancel selected runs")
    def cancel_runs(self, request, queryset):
        self._each_run(request, queryset, services.retrain_run_cancel, "cancelled")


@admin.register(ProviderVoiceDeletion)
class ProviderVoiceDeletionAdmin(admin.ModelAdmin):
    list_display = ("provider_voice_id", "version", "reason", "requested_by", "requested_at", "completed_at",
                    "attempt_count", "last_error")
    list_filter = ("reason",)
    list_select_related = ("version__voice", "requested_by")
    readonly_fields = ("version", "provider_voice_id", "reason", "requested_by", "for_run", "attempt_count",
                       "last_error", "requested_at", "completed_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _attach_cleanup_action() -> None:
    """Offer the cleanup as an action on the voice and version admins too (issue 6 item 7: "admin action on
    versions/voices"). Those admins belong to clones; the action and its service belong here."""
    for model in (Voice, VoiceVersion):
        try:
            model_admin = admin.site.get_model_admin(model)
        except NotRegistered:
            continue
        current = list(model_admin.actions or [])
        if cleanup_archived_voices not in current:
            model_admin.actions = [*current, cleanup_archived_voices]


_attach_cleanup_action()
