"""Staff screens for clone fidelity: drift checks (a list, and a rollback action for a drifting voice), and
on the voice admin (owned by clones, extended here like retraining extends it) a drift badge, a "drifting"
list filter, the similarity-over-time chart across versions with rollback buttons, and a "Check drift now"
action (the scheduled monitor's check of the selected voices, at once)."""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from clones.models import Voice, VoiceVersion
from voiceclone import provider
from voiceclone.errors import ApplicationError

from .charts import drift_chart_svg
from .models import DriftPoint, GateReport


def _latest_point_subquery(field: str):
    return Subquery(
        DriftPoint.objects.filter(voice=OuterRef("pk"), version=OuterRef("current_version"))
        .order_by("-measured_at", "-pk").values(field)[:1]
    )


class DriftingFilter(admin.SimpleListFilter):
    """Voices whose latest drift check (of their current version) is out of its band."""

    title = "drift"
    parameter_name = "drift"

    def lookups(self, request, model_admin):
        return [("drifting", "Drifting (out of band)"), ("in_band", "In band"), ("unchecked", "Not checked yet")]

    def queryset(self, request, queryset):
        annotated = queryset.annotate(drift_out_of_band=_latest_point_subquery("is_out_of_band"))
        if self.value() == "drifting":
            return annotated.filter(drift_out_of_band=True)
        if self.value() == "in_band":
            return annotated.filter(drift_out_of_band=False)
        if self.value() == "unchecked":
            return annotated.filter(drift_out_of_band__isnull=True)
        return queryset


@admin.display(description="Drift")
def drift_badge(voice):
    point = DriftPoint.objects.filter(voice=voice, version_id=voice.current_version_id).order_by(
        "-measured_at", "-pk").first()
    if point is None:
        return "-"
    if point.is_out_of_band:
        return format_html('<strong class="drift-badge" style="color:#fff;background:#ba2121;padding:1px 5px;'
                           'border-radius:3px" title="{}">drifting</strong>',
                           " ".join(r["message"] for r in point.reasons))
    return format_html('<span class="drift-ok" title="similarity {}">in band</span>', round(point.similarity, 2))


@admin.display(description="Similarity over time")
def drift_history(voice):
    """The voice's drift checks across versions (inline SVG), its latest state and rollback buttons."""
    if voice is None or voice.pk is None:
        return "-"
    points = list(DriftPoint.objects.filter(voice=voice).select_related("version").order_by("measured_at", "pk"))
    latest = next((p for p in reversed(points) if p.version_id == voice.current_version_id), None)
    reports = GateReport.objects.filter(run__voice=voice).exclude(similarity=None).select_related(
        "run__new_version").order_by("-computed_at")[:5]
    parts = []
    if latest is not None and latest.is_out_of_band:
        parts.append(format_html(
            '<p class="errornote" id="drift-flag">Drifting since {}: {}</p>', latest.measured_at.strftime("%Y-%m-%d %H:%M"),
            " ".join(r["message"] for r in latest.reasons)))
        archived = VoiceVersion.objects.filter(voice=voice, state=VoiceVersion.State.ARCHIVED).order_by("-number")
        if archived:
            # Buttons of the voice's own change form (nested forms are invalid HTML): `formaction` posts that
            # form, with its CSRF token, to the rollback view instead.
            parts.append(format_html('<div id="drift-rollback">Roll back to an archived version: {}</div>', format_html_join(
                " ", '<button type="submit" formaction="{}" formnovalidate class="button">v{}</button>',
                ((reverse("admin:fidelity_voice_rollback", args=[voice.pk, v.number]), v.number) for v in archived))))
    if points:
        parts.append(drift_chart_svg(points, floor=settings.FIDELITY_DRIFT_MIN_BASELINE_SIMILARITY))
    else:
        parts.append(format_html("<p>No drift check yet (the drift monitor runs every {} minutes).</p>",
                                 settings.FIDELITY_DRIFT_INTERVAL_MIN))
    if reports:
        parts.append(format_html("<p>Promotion gate: {}</p>", format_html_join(
            "; ", "v{}: {} (similarity {}, active {})",
            ((r.run.new_version.number if r.run.new_version else "?", r.verdict, r.similarity, r.active_similarity)
             for r in reports))))
    return format_html("<div id=\"drift-history\">{}</div>", format_html_join("", "{}", ((p,) for p in parts)))


@admin.register(DriftPoint)
class DriftPointAdmin(admin.ModelAdmin):
    list_display = ("voice", "version", "measured_at", "similarity", "baseline_similarity", "baseline_source",
                    "is_out_of_band")
    list_filter = ("is_out_of_band", "baseline_source")
    list_select_related = ("voice", "version")
    readonly_fields = [f.name for f in DriftPoint._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("rollback/<uuid:voice_id>/<int:number>/", wrap(self.rollback_view), name="fidelity_voice_rollback"),
                *super().get_urls()]

    def rollback_view(self, request, voice_id, number):
        """POST from the voice page's drift panel: re-activate an archived version (the existing rollback)."""
        from retraining.services import voice_version_rollback

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("clones.change_voice"):
            raise PermissionDenied
        voice = get_object_or_404(Voice, pk=voice_id)
        try:
            voice_version_rollback(voice=voice, number=number, by=request.user)
        except (ApplicationError, provider.ProviderError) as exc:
            self.message_user(request, getattr(exc, "message", str(exc)), messages.ERROR)
        else:
            self.message_user(request, f"{voice.name} rolled back to version {number}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:clones_voice_change", args=[voice.pk]))


CHECK_NOW_MAX_VOICES = 10


@admin.action(description="Check drift now (score recent replies against originals and baseline)")
def check_drift_now(modeladmin, request, queryset):
    """The drift monitor's check of the selected voices, now rather than at the next scheduled run. No provider
    call (the replies are stored), a second or two per voice: it runs in the request, so staff see the outcome."""
    from .drift import DriftSkipped, voice_drift_check

    voices = list(queryset.filter(status=Voice.Status.READY, current_version__isnull=False)
                  .select_related("owner", "current_version").order_by("name")[: CHECK_NOW_MAX_VOICES + 1])
    if not voices:
        modeladmin.message_user(request, "Only ready voices can be checked for drift.", messages.WARNING)
        return
    if len(voices) > CHECK_NOW_MAX_VOICES:
        modeladmin.message_user(request, f"Select at most {CHECK_NOW_MAX_VOICES} voices at a time; the scheduled "
                                         "monitor checks every voice.", messages.WARNING)
        return
    for voice in voices:
        try:
            point = voice_drift_check(voice=voice)
        except DriftSkipped as exc:
            modeladmin.message_user(request, f"{voice.name}: not checked, {exc.reason}.", messages.WARNING)
            continue
        if point.is_out_of_band:
            modeladmin.message_user(request, f"{voice.name}: drifting. " + " ".join(r["message"] for r in point.reasons),
                                    messages.ERROR)
        else:
            modeladmin.message_user(request, f"{voice.name}: in band (similarity to the originals "
                                             f"{point.similarity:.2f}, to the baseline {point.baseline_similarity:.2f}).",
                                    messages.SUCCESS)


def _extend_voice_admin() -> None:
    """Badge, filter and chart on the voice admin (clones'), added here so fidelity owns its screens."""
    try:
        voice_admin = admin.site.get_model_admin(Voice)
    except NotRegistered:
        return
    if drift_badge not in voice_admin.list_display:
        voice_admin.list_display = (*voice_admin.list_display, drift_badge)
    if DriftingFilter not in voice_admin.list_filter:
        voice_admin.list_filter = (*voice_admin.list_filter, DriftingFilter)
    if "check_drift_now" not in voice_admin.actions and check_drift_now not in voice_admin.actions:
        voice_admin.actions = [*voice_admin.actions, check_drift_now]
    if drift_history not in voice_admin.readonly_fields:
        voice_admin.readonly_fields = (*voice_admin.readonly_fields, drift_history)
        voice_admin.fieldsets = (*voice_admin.fieldsets, ("Fidelity: similarity over time", {"fields": (drift_history,)}))


_extend_voice_admin()
