"""Staff screen for voices' original recordings (issue 14, item 3): add consented recordings to an
existing voice, retire (kept, never selected again) and restore. Nothing here deletes a recording.

A proxy of ClipSample (`OriginalSample`) so the originals have their own list, apart from the clip review
screens. Every write goes through `clones.services`.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from voiceclone.errors import ApplicationError

from . import services
from .forms import MultipleFileField, MultipleFileInput
from .models import OriginalSample, Voice


class RetiredFilter(admin.SimpleListFilter):
    title = "retired"
    parameter_name = "retired"

    def lookups(self, request, model_admin):
        return [("no", "In use"), ("yes", "Retired")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(retired_at__isnull=self.value() == "no")
        return queryset


class OriginalsAddAdminForm(forms.Form):
    voice = forms.ModelChoiceField(queryset=Voice.objects.exclude(status=Voice.Status.DISABLED).order_by("name"))
    speaker_name = forms.CharField(max_length=200, required=False)
    samples = MultipleFileField(label="Recordings", widget=MultipleFileInput(attrs={"accept": "audio/*"}))
    consent = forms.BooleanField(
        required=False, label="The speaker consented to the consent statement for these recordings",
    )


@admin.register(OriginalSample)
class OriginalSampleAdmin(admin.ModelAdmin):
    list_display = ("id", "voice", "original_filename", "duration", "in_use", "consent_version", "created_at",
                    "player")
    list_filter = (RetiredFilter, "created_at")
    list_select_related = ("voice", "consent")
    search_fields = ("voice__name", "original_filename", "=id")
    readonly_fields = ("voice", "original_filename", "content_type", "duration_s", "sample_rate", "size_bytes",
                       "sha256", "quality_score", "quality_flags", "analysed_at", "consent", "retired_at",
                       "retired_by", "created_at")
    fields = readonly_fields
    actions = ["retire_originals", "restore_originals"]

    def has_delete_permission(self, request, obj=None):
        return False  # retire instead: the recording is the consent's evidence

    @admin.display(description="Duration")
    def duration(self, obj):
        return f"{obj.duration_s:.1f} s" if obj.duration_s else "-"

    @admin.display(description="In use", boolean=True)
    def in_use(self, obj):
        return obj.retired_at is None

    @admin.display(description="Consent")
    def consent_version(self, obj):
        return obj.consent.statement_version if obj.consent_id else "at creation"

    @admin.display(description="Listen")
    def player(self, obj):
        return format_html('<audio controls preload="none" src="{}"></audio>',
                           reverse("admin:clones_clipsample_audio", args=[obj.pk]))

    def _apply(self, request, queryset, service, verb: str) -> None:
        done = 0
        for clip in queryset:
            try:
                service(clip=clip, by=request.user)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"#{clip.pk}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} recording{'s' if done != 1 else ''} {verb}.", messages.SUCCESS)

    @admin.action(description="Retire selected recordings (kept, never selected for a retrain)")
    def retire_originals(self, request, queryset):
        self._apply(request, queryset, services.original_retire, "retired")

    @admin.action(description="Restore selected recordings")
    def restore_originals(self, request, queryset):
        self._apply(request, queryset, services.original_restore, "restored")

    def add_view(self, request, form_url="", extra_context=None):
        """Add consented recordings to an existing voice (the same service as the owner's page and the API)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        initial = {"voice": request.GET.get("voice")} if request.GET.get("voice") else None
        form = OriginalsAddAdminForm(request.POST or None, request.FILES or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                added = services.voice_originals_add(
                    voice=data["voice"], by=request.user,
                    samples=[services.SampleUpload.from_uploaded_file(f) for f in data["samples"]],
                    consent=data["consent"], speaker_name=data["speaker_name"], via="system",
                    ip_address=request.META.get("REMOTE_ADDR") or None,
                    user_agent=request.headers.get("User-Agent", ""),
                )
            except ApplicationError as exc:
                form.add_error("consent" if exc.code == "consent_missing" else None, exc.message)
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error("samples", message)
            else:
                self.message_user(request, f"{len(added)} recording{'s' if len(added) != 1 else ''} added to "
                                           f"{data['voice'].name}; they are analysed now.", messages.SUCCESS)
                changelist = reverse("admin:clones_originalsample_changelist")
                return HttpResponseRedirect(f"{changelist}?q={data['voice'].name}")
        context = {
            **self.admin_site.each_context(request),
            "title": "Add original recordings",
            "opts": self.model._meta,
            "form": form,
            "consent_statement": services.CONSENT_STATEMENT,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/clones/originalsample/add.html", context)
