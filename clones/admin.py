"""Staff screens for voices and clips: review clips fast, see what a retrain would use.

The clip changelist stays fast on 100k+ clips: one query for the page (voice joined, run usage as
correlated subqueries evaluated only for the page's rows), no full COUNT(*) for the "x of y" line, and
on PostgreSQL the planner's row estimate instead of COUNT(*) for an unfiltered list. Players load
nothing until pressed (`preload="none"`) and waveform images are cached SVGs loaded lazily.
Every write goes through `clones.services`.
"""

import json
import re

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from voiceclone.errors import ApplicationError
from voiceclone.validators import is_uuid
from voiceclone.wording import counted

from personas.admin import persona_history_html

from . import selectors, services, staff_views
from .models import ClipSample, ConsentRecord, GeneratedAudio, Voice, VoiceVersion

QUALITY_FLAGS = selectors.QUALITY_FLAGS
SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")


def clip_audio_url(clip_id) -> str:
    return reverse("admin:clones_clipsample_audio", args=[clip_id])


def clip_waveform_url(clip_id) -> str:
    return reverse("admin:clones_clipsample_waveform", args=[clip_id])


def audio_player(clip_id, *, css_class="clip-player") -> str:
    return format_html(
        '<audio class="{}" controls preload="none" src="{}"></audio>', css_class, clip_audio_url(clip_id)
    )


# --- Voices -----------------------------------------------------------------------------------------------


class VoiceVersionInline(admin.TabularInline):
    model = VoiceVersion
    fk_name = "voice"
    extra = 0
    fields = ("number", "state", "provider_voice_id", "training_lineage_depth", "created_at", "archived_at",
              "deleted_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True
    ordering = ("number",)

    def has_add_permission(self, request, obj=None):
        return False


class ConsentInline(admin.StackedInline):
    model = ConsentRecord
    extra = 0
    readonly_fields = (
        "given_by", "speaker_name", "statement_version", "statement_text", "method", "statement_file", "phrase",
        "check_status", "transcript", "phrase_wer", "speaker_similarity", "check_detail", "checked_at",
        "accepted_at", "accepted_by", "accept_note",
        "revoked_at", "revoked_by", "revoke_reason", "ip_address", "user_agent", "created_at",
    )
    fields = readonly_fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Voice)
class VoiceAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "status", "current_version", "is_shared", "created_at")
    list_filter = ("status", "is_shared", "created_at")
    search_fields = ("name", "owner__username", "=id")
    list_select_related = ("owner", "current_version")
    raw_id_fields = ("owner",)
    # The version and the status change only through services: promote/rollback (retraining), disable
    # and share (actions below), so an edit here can never point a voice at a version by hand.
    readonly_fields = ("id", "status", "hold_reason", "current_version", "is_shared", "created_at", "updated_at",
                       "clip_counts",
                       "original_samples", "retrain_selection", "audit_log", "persona_history")
    fieldsets = (
        (None, {
            "fields": ("id", "owner", "name", "persona", "language", "status", "failure_reason", "hold_reason",
                       "current_version",
                       "is_shared", "created_at", "updated_at", "audit_log"),
            "description": "Status, current version and sharing change only through actions: promote or roll "
                           "back a retrain run (Retrain runs), and the Share, Stop sharing and Disable actions "
                           "of the voice list.",
        }),
        ("Persona versions", {"fields": ("persona_history",)}),
        ("Clips", {"fields": ("clip_counts", "original_samples")}),
        ("What a retrain would use now", {"fields": ("retrain_selection",)}),
    )
    inlines = [VoiceVersionInline, ConsentInline]
    actions = ["share_voices", "unshare_voices", "disable_voices", "revoke_consent", "hard_delete_voices",
               "export_voice_kit", "draft_persona"]

    @admin.action(description="Share selected voices with every user (chat only)")
    def share_voices(self, request, queryset):
        self._share(request, queryset, is_shared=True)

    @admin.action(description="Stop sharing selected voices")
    def unshare_voices(self, request, queryset):
        self._share(request, queryset, is_shared=False)

    def _share(self, request, queryset, *, is_shared: bool) -> None:
        voices = list(queryset)
        for voice in voices:
            services.voice_share(voice=voice, is_shared=is_shared)
        verb = "shared with every user" if is_shared else "no longer shared"
        self.message_user(request, f"{counted(len(voices), 'voice')} {verb}.", messages.SUCCESS)
        not_ready = [v.name for v in voices if is_shared and v.status != Voice.Status.READY]
        if not_ready:
            self.message_user(
                request, f"Users see a shared voice only while it is ready: {', '.join(not_ready)}.", messages.WARNING
            )

    @admin.action(description="Disable selected voices (they stop speaking)")
    def disable_voices(self, request, queryset):
        voices = list(queryset.exclude(status=Voice.Status.DISABLED))
        for voice in voices:
            services.voice_disable(voice=voice)
        self.message_user(request, f"{counted(len(voices), 'voice')} disabled.", messages.SUCCESS)

    @admin.action(description="Revoke consent (irreversible: provider voices deleted, audio locked, read-only)")
    def revoke_consent(self, request, queryset):
        voices = list(queryset.exclude(status=Voice.Status.REVOKED))
        if request.POST.get("confirm") != "yes":
            return self._confirm_irreversible(
                request, voices, action="revoke_consent", title="Revoke consent", ask_reason=True,
                intro="Revoke the speaker's consent for these voices:",
                consequences=["Open retrain runs are cancelled and pending replies fail.",
                              "Every provider version is deleted (retried until the provider confirms).",
                              "Their audio is no longer served; conversations become read-only.",
                              "The consent records and the audit entries stay."])
        reason = (request.POST.get("reason") or "").strip()[:500] or "revoked by staff in the admin"
        for voice in voices:
            services.consent_revoke(voice=voice, by=request.user, reason=reason)
        self.message_user(request, f"Consent revoked for {counted(len(voices), 'voice')}; their provider voices are being "
                                   "deleted.", messages.SUCCESS)

    @admin.action(description="Hard delete (data-subject request): provider voices, files and rows")
    def hard_delete_voices(self, request, queryset):
        from voiceclone import provider

        if request.POST.get("confirm") != "yes":
            return self._confirm_irreversible(
                request, list(queryset), action="hard_delete_voices", title="Hard delete",
                intro="Erase these voices for a data-subject request:",
                consequences=["Every provider version is deleted now (nothing local is removed if that fails).",
                              "Every file (originals, replies, previews, the users' recordings in their "
                              "conversations, consent recordings) and every row (conversations, messages, clips, "
                              "versions, runs, persona versions, events) is removed.",
                              "The consent records (without the recording) and the audit entries stay."])
        for voice in list(queryset):
            try:
                report = services.voice_hard_delete(voice=voice, by=request.user)
            except provider.ProviderError as exc:
                self.message_user(request, f"{voice.name}: the provider could not delete its voices, nothing was "
                                           f"removed; try again. ({exc.message})", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{report['voice_name']} erased: {counted(len(report['provider_voices_deleted']), 'provider voice')}, "
                f"{counted(report['files_deleted'], 'file')}, rows {report['rows_deleted']}; consent records kept: "
                f"{report['consent_records_kept']}.", messages.SUCCESS,
            )

    def _confirm_irreversible(self, request, voices, *, action, title, intro, consequences, ask_reason=False):
        """The confirmation page of an irreversible action; its form posts the action again with confirm=yes."""
        from django.template.response import TemplateResponse

        if not voices:
            self.message_user(request, "None of the selected voices can take this action.", messages.WARNING)
            return None
        context = {**self.admin_site.each_context(request), "title": title, "intro": intro, "voices": voices,
                   "action": action, "consequences": consequences, "ask_reason": ask_reason,
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/clones/voice/confirm_irreversible.html", context)

    def save_model(self, request, obj, form, change):
        # A persona edited here is a persona version like any other (personas, docs/personas.md).
        if change and "persona" in form.changed_data:
            from personas.services import persona_history_ensure, persona_version_record

            persona_history_ensure(voice=obj)
            super().save_model(request, obj, form, change)
            persona_version_record(voice=obj, text=obj.persona, source="manual", by=request.user)
            return
        super().save_model(request, obj, form, change)

    @admin.display(description="Persona versions")
    def persona_history(self, obj):
        if obj is None or obj._state.adding:
            return "-"
        return persona_history_html(obj)

    @admin.display(description="Audit log")
    def audit_log(self, obj):
        if obj is None or obj._state.adding:
            return "-"
        url = reverse("admin:auditlog_logentry_changelist") + f"?voice={obj.pk}"
        return format_html('<a href="{}">Every recorded action on this voice, its clips, runs and consent</a>', url)

    @admin.action(description="Export the voice kit (zip: originals, approved clips, metadata, manifest)")
    def export_voice_kit(self, request, queryset):
        from kits.services import voice_kit_export
        from voiceclone.errors import ConsentRevoked
        from voiceclone.streaming import streaming_download

        if queryset.count() != 1:
            self.message_user(request, "Select exactly one voice to export.", messages.ERROR)
            return None
        try:
            export = voice_kit_export(voice=queryset.get(), by=request.user)
        except ConsentRevoked as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return None
        return streaming_download(request, iter(export), filename=export.filename, content_type="application/zip",
                                  size=export.size_bytes)

    @admin.action(description="Draft an improved persona from recent conversations")
    def draft_persona(self, request, queryset):
        from personas.services import persona_draft_request

        drafted = 0
        for voice in queryset:
            try:
                persona_draft_request(voice=voice, by=request.user)
                drafted += 1
            except ApplicationError as exc:
                self.message_user(request, f"{voice.name}: {exc.message}", messages.WARNING)
        if drafted:
            self.message_user(request, f"Drafting {counted(drafted, 'persona')}; review them under Persona drafts.")

    class Media:
        css = {"all": ["admin_clones/clips.css"]}
        js = ["admin_clones/clips.js"]

    @admin.display(description="Clip counts")
    def clip_counts(self, obj):
        if obj is None or obj._state.adding:
            return "-"
        rows = obj.clips.order_by().values("source", "review_status").annotate(n=Count("pk"))
        counts = {(r["source"], r["review_status"]): r["n"] for r in rows}
        changelist = reverse("admin:clones_clipsample_changelist")
        table = [
            {
                "source": label,
                "cells": [
                    {"count": counts.get((source, status), 0),
                     "url": f"{changelist}?voice={obj.pk}&source__exact={source}&review_status__exact={status}"}
                    for status in ClipSample.ReviewStatus.values
                ],
                "total": sum(counts.get((source, status), 0) for status in ClipSample.ReviewStatus.values),
            }
            for source, label in ClipSample.Source.choices
        ]
        return mark_safe(render_to_string("admin/clones/voice/clip_counts.html", {
            "statuses": ClipSample.ReviewStatus.labels, "rows": table,
        }))

    @admin.display(description="Original samples")
    def original_samples(self, obj):
        if obj is None or obj._state.adding:
            return "-"
        originals = obj.clips.filter(source=ClipSample.Source.ORIGINAL).order_by("created_at", "id")
        if not originals:
            return "No original samples."
        return format_html_join(
            "",
            '<div class="clip-original"><a href="{}">#{}</a> {} · {} s · {} {}</div>',
            (
                (reverse("admin:clones_clipsample_change", args=[c.pk]), c.pk, c.original_filename or "sample",
                 f"{c.duration_s:.1f}" if c.duration_s else "?", c.content_type, audio_player(c.pk))
                for c in originals
            ),
        )

    @admin.display(description="Retrain selection")
    def retrain_selection(self, obj):
        # A link, not the selection itself: at 100,000 clips the selection is the heaviest read of a voice,
        # and this page is opened to rename a voice or read its consent too (issue 13).
        if obj is None or obj._state.adding:
            return "-"
        return format_html(
            '<a href="{}">Show the clips a retrain of this voice would use now</a> (computed when opened)',
            reverse("admin:clones_voice_retrain_selection", args=[obj.pk]),
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<uuid:voice_id>/retrain-selection/", wrap(self.retrain_selection_view),
                 name="clones_voice_retrain_selection"),
            *super().get_urls(),
        ]

    def retrain_selection_view(self, request, voice_id):
        voice = get_object_or_404(Voice, pk=voice_id)
        if not self.has_view_permission(request, voice):
            raise PermissionDenied
        selection = services.select_clips_for_retrain(voice=voice)
        clips = ClipSample.objects.in_bulk(selection.clip_ids)
        rows = [
            {
                "chosen": chosen,
                "clip": clips.get(chosen.clip_id),
                "url": reverse("admin:clones_clipsample_change", args=[chosen.clip_id]),
                "player": audio_player(chosen.clip_id),
            }
            for chosen in selection.clips
        ]
        selection_html = mark_safe(render_to_string("admin/clones/voice/retrain_selection.html", {
            "selection": selection,
            "rows": rows,
            "excluded": [(reason.replace("_", " "), n) for reason, n in selection.excluded.items() if n],
            "limits": selection.limits,
        }))
        context = {
            **self.admin_site.each_context(request),
            "title": f"What a retrain of {voice.name} would use now",
            "opts": self.model._meta,
            "voice": voice,
            "selection": selection,
            "selection_html": selection_html,
        }
        return TemplateResponse(request, "admin/clones/voice/retrain_selection_page.html", context)


@admin.register(VoiceVersion)
class VoiceVersionAdmin(admin.ModelAdmin):
    list_display = ("voice", "number", "state", "provider_voice_id", "created_at", "archived_at")
    list_filter = ("state",)
    search_fields = ("provider_voice_id", "voice__name")
    list_select_related = ("voice",)
    raw_id_fields = ("voice", "created_by_run")


@admin.register(ConsentRecord)
class ConsentRecordAdmin(admin.ModelAdmin):
    """Evidence: never edited or deleted here; it outlives the voice (docs/consent.md). Staff listen to a
    recording whose check failed and may accept it (audited); that releases a voice held for it."""

    list_display = ("voice_name", "speaker_name", "given_by", "method", "check_status", "phrase_wer",
                    "speaker_similarity", "accepted_at", "revoked_at", "created_at", "recording")
    list_filter = ("method", "check_status", ("accepted_at", admin.EmptyFieldListFilter),
                   ("revoked_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("voice_name", "speaker_name", "=voice_ref", "given_by__username")
    list_select_related = ("voice", "given_by")
    raw_id_fields = ("voice", "given_by", "revoked_by", "accepted_by")
    actions = ["check_again", "accept_consent"]

    def get_readonly_fields(self, request, obj=None):
        return ["recording", *(f.name for f in self.model._meta.fields)]

    @admin.display(description="Listen")
    def recording(self, obj):
        if not obj.statement_file:
            return "-"
        return format_html('<audio controls preload="none" src="{}"></audio>',
                           reverse("admin:clones_consentrecord_recording", args=[obj.pk]))

    def get_urls(self):
        return [
            path("<int:record_id>/recording/", self.admin_site.admin_view(staff_views.consent_recording_audio),
                 name="clones_consentrecord_recording"),
            *super().get_urls(),
        ]

    @admin.action(description="Accept the consent recording (I listened: it is the speaker reading the phrase)")
    def accept_consent(self, request, queryset):
        done, refused = 0, []
        for record in queryset.select_related("voice"):
            try:
                services.consent_accept(record=record, by=request.user,
                                        note="Accepted in the admin after listening to the recording.")
                done += 1
            except ApplicationError as exc:
                refused.append(f"{record}: {exc.message}")
        if done:
            self.message_user(request, f"{counted(done, 'consent recording')} accepted; voices held for them are released.",
                              messages.SUCCESS)
        for line in refused[:10]:
            self.message_user(request, line, messages.WARNING)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Check the consent recording again (speech recognition and speaker)")
    def check_again(self, request, queryset):
        done = 0
        for record in queryset.exclude(statement_file=""):
            services.consent_recheck(record=record)
            done += 1
        self.message_user(request, f"{counted(done, 'recording')} will be checked again.", messages.SUCCESS)


# --- Clips: filters ---------------------------------------------------------------------------------------


class VoiceFilter(admin.SimpleListFilter):
    title = "voice"
    parameter_name = "voice"
    max_choices = 200

    def lookups(self, request, model_admin):
        choices = [(str(pk), name) for pk, name in Voice.objects.order_by("name", "id").values_list("id", "name")[
            : self.max_choices]]
        value = self.value()
        if value and value not in {pk for pk, _ in choices}:
            name = Voice.objects.filter(pk=value).values_list("name", flat=True).first() if is_uuid(value) else None
            choices.append((value, name or value))
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not is_uuid(value):
            return queryset.none()
        return queryset.filter(voice_id=value)


class QualityFlagFilter(admin.SimpleListFilter):
    title = "quality flag"
    parameter_name = "flag"

    def lookups(self, request, model_admin):
        return [("none", "No flags"), ("any", "Any flag")] + [(f, f.replace("_", " ")) for f in QUALITY_FLAGS]

    def queryset(self, request, queryset):
        value = self.value()
        return selectors.clip_filter(queryset, {"flag": value}) if value else queryset


class UsedFilter(admin.SimpleListFilter):
    title = "used in a promoted retrain"
    parameter_name = "used"

    def lookups(self, request, model_admin):
        return [("yes", "Used"), ("no", "Unused")]

    def queryset(self, request, queryset):
        value = self.value()
        if value in ("yes", "no"):
            return selectors.clip_filter(queryset, {"used": value == "yes"})
        return queryset


class AnalysedFilter(admin.SimpleListFilter):
    title = "analysed"
    parameter_name = "analysed"

    def lookups(self, request, model_admin):
        return [("yes", "Analysed"), ("no", "Not analysed")]

    def queryset(self, request, queryset):
        value = self.value()
        if value in ("yes", "no"):
            return queryset.filter(analysed_at__isnull=value == "no")
        return queryset


class EstimatedCountPaginator(Paginator):
    """COUNT(*) over a large PostgreSQL table reads every matching row (1.4 s for a flag filter at a million
    clips, issue 13). When the planner expects more than ESTIMATE_ABOVE rows, its estimate stands in for
    the count: close enough for the page links, and the page itself reads only its 50 rows. Smaller
    results, and other databases, are counted exactly. See docs/scale.md."""

    ESTIMATE_ABOVE = 10_000

    @cached_property
    def count(self):
        estimate = planner_row_estimate(self.object_list)
        if estimate is not None and estimate > self.ESTIMATE_ABOVE:
            return estimate
        return super().count


def planner_row_estimate(queryset) -> int | None:
    """PostgreSQL's estimate of the rows `queryset` returns (EXPLAIN, nothing executed); None elsewhere."""
    if connection.vendor != "postgresql" or not hasattr(queryset, "query"):
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


# --- Clips: the admin -------------------------------------------------------------------------------------


class RejectForm(forms.Form):
    reason_code = forms.ChoiceField(
        label="Reason", required=False,
        choices=[("", "(write one below)")] + list(services.REJECT_REASON_CODES.items()),
    )
    reason = forms.CharField(label="Details", required=False, max_length=200)

    def clean(self):
        data = super().clean()
        code, text = data.get("reason_code"), (data.get("reason") or "").strip()
        if not code and not text:
            raise ValidationError("Pick a reason or write one.")
        label = services.REJECT_REASON_CODES.get(code)
        data["full_reason"] = f"{code}: {label}" + (f" — {text}" if text else "") if code else text
        return data


class ClipReviewForm(forms.ModelForm):
    class Meta:
        model = ClipSample
        fields = ("review_status", "review_reason")

    def clean(self):
        data = super().clean()
        if data.get("review_status") == ClipSample.ReviewStatus.REJECTED and not (data.get("review_reason") or "").strip():
            self.add_error("review_reason", "Say why the clip is rejected.")
        return data


@admin.register(ClipSample)
class ClipSampleAdmin(admin.ModelAdmin):
    # Fits a 1,366 px screen (tests/e2e/test_e2e_admin_clip_list.py measures it): the player and its
    # waveform share a cell, the source sits under the voice and the run count under the status, the
    # text wraps, and this page hides the admin's navigation sidebar (the filters stay).
    list_display = (
        "id", "clip_audio", "voice_and_source", "text_excerpt", "duration", "score", "flags", "status_and_runs",
        "created",
    )
    list_display_links = ("id",)
    list_filter = (VoiceFilter, "source", "review_status", QualityFlagFilter, UsedFilter, AnalysedFilter,
                   "created_at")
    search_fields = ("text",)
    list_select_related = ("voice",)
    list_per_page = 50
    list_max_show_all = 200
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ["approve_clips", "reject_clips", "mark_pending", "reanalyse_clips"]
    change_list_template = "admin/clones/clipsample/change_list.html"
    form = ClipReviewForm
    fieldsets = (
        ("Listen", {"fields": ("large_player", "large_waveform")}),
        ("Review", {"fields": ("review_status", "review_reason", "reviewed_by", "reviewed_at")}),
        ("Clip", {"fields": ("voice_link", "source", "version", "text", "conversation_link", "created_at",
                             "file", "original_filename", "content_type", "size_bytes", "sha256", "lineage_depth",
                             "provider_request_id", "character_cost", "runs")}),
        ("Quality", {"fields": ("quality_score", "quality_flags", "analysed_at", "duration_s", "sample_rate",
                                "loudness_lufs", "peak_dbfs", "clipping_ratio", "leading_silence_s",
                                "trailing_silence_s", "speech_ratio", "snr_db")}),
        ("Prosody", {"fields": ("pitch_median_hz", "pitch_range_st", "energy_range_db", "speaking_rate_cps")}),
    )

    class Media:
        css = {"all": ["admin_clones/clips.css"]}
        js = ["admin_clones/clips.js"]

    # The pipeline creates clips and every spoken reply is kept: no adding or deleting here.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        review = ("review_status", "review_reason")
        fields = [f for fieldset in self.fieldsets for f in fieldset[1]["fields"]]
        if obj is not None and obj.source == ClipSample.Source.GENERATED:
            return [f for f in fields if f not in review]
        return fields

    def get_queryset(self, request):
        return selectors.clip_queryset_with_usage(super().get_queryset(request), with_is_used=False)

    def get_search_results(self, request, queryset, search_term):
        # A content hash finds its clip through the sha256 index; any other term searches the text
        # (on PostgreSQL through the trigram index `clip_text_upper_trgm`, docs/scale.md). Django's
        # own search would OR an `UPPER(sha256)` comparison into every text search, which no index serves.
        term = search_term.strip()
        if SHA256_RE.fullmatch(term):
            return queryset.filter(sha256=term.lower()), False
        return super().get_search_results(request, queryset, search_term)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:clip_id>/audio/", wrap(staff_views.clip_audio), name="clones_clipsample_audio"),
            path("<int:clip_id>/waveform.svg", wrap(staff_views.clip_waveform), name="clones_clipsample_waveform"),
            path("queue/", wrap(self.review_queue_view), name="clones_clipsample_queue"),
            path("queue/<int:clip_id>/review/", wrap(self.queue_review_view), name="clones_clipsample_queue_review"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        # The navigation sidebar would take a quarter of a laptop screen from the clip table.
        return super().changelist_view(request, {"is_nav_sidebar_enabled": False, **(extra_context or {})})

    # -- changelist columns --

    @admin.display(description="Clip")
    def clip_audio(self, obj):
        if not obj.file:
            return "-"
        return format_html(
            '{}<img class="clip-waveform" src="{}" loading="lazy" width="150" height="24" alt="">',
            audio_player(obj.pk), clip_waveform_url(obj.pk),
        )

    @admin.display(description="Voice", ordering="voice__name")
    def voice_and_source(self, obj):
        return format_html('{}<span class="clip-sub">{}</span>', obj.voice.name, obj.source)

    @admin.display(description="Text")
    def text_excerpt(self, obj):
        return format_html('<span title="{}">{}</span>', obj.text, Truncator(obj.text).chars(70)) if obj.text else "-"

    @admin.display(description="Duration", ordering="duration_s")
    def duration(self, obj):
        return f"{obj.duration_s:.1f} s" if obj.duration_s is not None else "-"

    @admin.display(description="Score", ordering="quality_score")
    def score(self, obj):
        if obj.quality_score is None:
            return "-"
        level = "good" if obj.quality_score >= 85 else ("fair" if obj.quality_score >= 60 else "poor")
        return format_html('<span class="clip-score clip-score-{}">{}</span>', level, f"{obj.quality_score:.0f}")

    @admin.display(description="Flags")
    def flags(self, obj):
        if obj.analysed_at is None:
            return "not analysed"
        return ", ".join(f.replace("_", " ") for f in obj.quality_flags) or "—"

    @admin.display(description="Review", ordering="review_status")
    def status_and_runs(self, obj):
        runs = obj.used_in_runs
        used = f"in {runs} run{'s' if runs != 1 else ''}" if runs else "in no run"
        return format_html('{}<span class="clip-sub">{}</span>', obj.get_review_status_display(), used)

    @admin.display(description="Created", ordering="created_at")
    def created(self, obj):
        local = timezone.localtime(obj.created_at)
        return format_html('<time datetime="{}" title="{}">{}</time>', obj.created_at.isoformat(),
                           date_format(local, "DATETIME_FORMAT"), date_format(local, "j M H:i"))

    # -- detail page --

    @admin.display(description="Audio")
    def large_player(self, obj):
        return audio_player(obj.pk, css_class="clip-player clip-player-large") if obj.file else "-"

    @admin.display(description="Waveform")
    def large_waveform(self, obj):
        if not obj.file:
            return "-"
        return format_html('<img class="clip-waveform-large" src="{}" alt="waveform of clip {}">',
                           clip_waveform_url(obj.pk), obj.pk)

    @admin.display(description="Voice")
    def voice_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:clones_voice_change", args=[obj.voice_id]), obj.voice)

    @admin.display(description="Conversation")
    def conversation_link(self, obj):
        message = getattr(obj, "message", None) if obj.source == ClipSample.Source.GENERATED else None
        if message is None:
            return "-"
        return format_html("conversation {} · message {}", message.conversation_id, message.pk)

    @admin.display(description="Retrain runs")
    def runs(self, obj):
        uses = obj.run_uses.select_related("run").order_by("run_id")
        if not uses:
            return "none"
        return format_html_join(", ", "run #{} ({}, {})", ((u.run_id, u.run.state, u.role) for u in uses))

    def save_model(self, request, obj, form, change):
        if not change or not {"review_status", "review_reason"} & set(form.changed_data):
            return
        try:
            services.clip_review(
                clip=obj, reviewer=request.user, status=form.cleaned_data["review_status"],
                reason=form.cleaned_data.get("review_reason", ""),
            )
        except (ApplicationError, ValidationError) as exc:
            self.message_user(request, _error_text(exc), messages.ERROR)

    # -- actions --

    def _bulk_review(self, request, queryset, status, reason=""):
        try:
            result = services.clips_bulk_review(queryset=queryset, reviewer=request.user, status=status, reason=reason)
        except ValidationError as exc:
            self.message_user(request, _error_text(exc), messages.ERROR)
            return
        label = ClipSample.ReviewStatus(status).label.lower()
        self.message_user(request, f"{counted(result.updated, 'clip')} marked {label}.", messages.SUCCESS)
        if result.skipped_ids:
            self.message_user(
                request, f"{counted(len(result.skipped_ids), 'clip')} skipped: only generated clips are reviewed.",
                messages.WARNING,
            )

    @admin.action(description="Approve selected clips")
    def approve_clips(self, request, queryset):
        self._bulk_review(request, queryset, ClipSample.ReviewStatus.APPROVED)

    @admin.action(description="Reject selected clips (with a reason)…")
    def reject_clips(self, request, queryset):
        if "apply" in request.POST:
            form = RejectForm(request.POST)
            if form.is_valid():
                self._bulk_review(request, queryset, ClipSample.ReviewStatus.REJECTED, form.cleaned_data["full_reason"])
                return None
        else:
            form = RejectForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "Reject clips",
            "opts": self.model._meta,
            "form": form,
            "count": queryset.count(),
            "sample": list(queryset.order_by("-created_at", "-id")[:20]),
            "selected_ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "query_string": request.GET.urlencode(),
        }
        return TemplateResponse(request, "admin/clones/clipsample/reject_confirmation.html", context)

    @admin.action(description="Set selected clips back to pending")
    def mark_pending(self, request, queryset):
        self._bulk_review(request, queryset, ClipSample.ReviewStatus.PENDING)

    @admin.action(description="Re-analyse selected clips")
    def reanalyse_clips(self, request, queryset):
        count = services.clips_reanalyse(clip_ids=queryset.order_by().values_list("pk", flat=True))
        self.message_user(request, f"Re-analysis queued for {counted(count, 'clip')}.", messages.SUCCESS)

    # -- the review queue (keyboard-driven) --

    def review_queue_view(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        voice = None
        voice_id = request.GET.get("voice") or ""
        if voice_id:
            if not is_uuid(voice_id):
                return HttpResponseRedirect(reverse("admin:clones_clipsample_queue"))
            voice = get_object_or_404(Voice, pk=voice_id)
        clips = selectors.clip_review_queue(voice=voice, limit=50)
        items = [_queue_item(clip) for clip in clips]
        pending_voices = selectors.clip_pending_voices(limit=50)
        context = {
            **self.admin_site.each_context(request),
            "title": "Clip review queue",
            "opts": self.model._meta,
            "items": items,
            "voice": voice,
            "pending_voices": pending_voices,
            "reason_codes": list(services.REJECT_REASON_CODES.items()),
            "queue_data": {
                "items": items,
                "reasons": [{"code": c, "label": label} for c, label in services.REJECT_REASON_CODES.items()],
            },
        }
        return TemplateResponse(request, "admin/clones/clipsample/review_queue.html", context)

    def queue_review_view(self, request, clip_id):
        if request.method != "POST":
            return JsonResponse({"detail": "POST only."}, status=405)
        if not self.has_change_permission(request):
            raise PermissionDenied
        clip = get_object_or_404(ClipSample, pk=clip_id)
        try:
            clip = services.clip_review(
                clip=clip, reviewer=request.user, status=request.POST.get("status", ""),
                reason=request.POST.get("reason", ""),
            )
        except (ApplicationError, ValidationError) as exc:
            return JsonResponse({"detail": _error_text(exc)}, status=400)
        return JsonResponse({"id": clip.pk, "review_status": clip.review_status, "review_reason": clip.review_reason})


def _queue_item(clip: ClipSample) -> dict:
    message = getattr(clip, "message", None)
    return {
        "id": clip.pk,
        "voice": clip.voice.name,
        "voice_id": str(clip.voice_id),
        "text": clip.text,
        "duration_s": clip.duration_s,
        "quality_score": clip.quality_score,
        "flags": clip.quality_flags,
        "metrics": {
            "loudness LUFS": clip.loudness_lufs, "peak dBFS": clip.peak_dbfs, "clipping": clip.clipping_ratio,
            "speech ratio": clip.speech_ratio, "SNR dB": clip.snr_db, "lead silence s": clip.leading_silence_s,
            "tail silence s": clip.trailing_silence_s, "pitch Hz": clip.pitch_median_hz,
            "rate char/s": clip.speaking_rate_cps, "lineage": clip.lineage_depth,
        },
        "conversation_id": str(message.conversation_id) if message else None,
        "created_at": clip.created_at.isoformat(),
        "reason": getattr(clip, "queue_reason", ""),
        "audio_url": clip_audio_url(clip.pk),
        "waveform_url": clip_waveform_url(clip.pk),
        "change_url": reverse("admin:clones_clipsample_change", args=[clip.pk]),
        "review_url": reverse("admin:clones_clipsample_queue_review", args=[clip.pk]),
    }


def _error_text(exc) -> str:
    if isinstance(exc, ApplicationError):
        return exc.message
    return " ".join(exc.messages)


@admin.register(GeneratedAudio)
class GeneratedAudioAdmin(admin.ModelAdmin):
    list_display = ("sha256", "clip", "created_at")
    search_fields = ("=sha256",)
    raw_id_fields = ("clip",)
    list_select_related = ("clip__voice",)
    show_full_result_count = False


from . import admin_originals  # noqa: E402,F401  (the originals screen, issue 14)
