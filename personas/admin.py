"""Staff screens for personas: drafts with their diff (accept, edit, discard), versions, memories."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from voiceclone.errors import ApplicationError

from . import services
from .models import ConversationMemory, PersonaDraft, PersonaVersion


def persona_history_html(voice) -> str:
    """The voice's persona versions for its admin page (newest first), each linked; restore is an action
    of the Persona versions list. A read-only field rather than an inline: no formset to submit."""
    versions = PersonaVersion.objects.filter(voice=voice).select_related("created_by").order_by("-number")[:20]
    if not versions:
        return "No recorded changes yet (the persona above is version 1)."
    return format_html_join(
        "", '<div><a href="{}">v{}</a> · {} by {} · {}</div>',
        ((reverse("admin:personas_personaversion_change", args=[v.pk]), v.number, v.get_source_display(), v.author,
          v.created_at.strftime("%Y-%m-%d %H:%M")) for v in versions),
    )


@admin.register(PersonaVersion)
class PersonaVersionAdmin(admin.ModelAdmin):
    list_display = ("voice", "number", "source", "author", "created_at")
    list_filter = ("source",)
    search_fields = ("voice__name", "=voice__id", "text")
    list_select_related = ("voice", "created_by")
    readonly_fields = ("voice", "number", "text", "source", "draft", "based_on", "created_by", "created_by_label",
                       "created_at")
    actions = ["restore"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Make the selected version the voice's persona again (rollback)")
    def restore(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to restore.", messages.ERROR)
            return
        version = queryset.select_related("voice").get()
        try:
            new = services.persona_rollback(voice=version.voice, number=version.number, by=request.user)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, f"{version.voice.name}: persona of version {version.number} restored as "
                                       f"version {new.number}.")


class AcceptDraftForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 14, "cols": 100}), label="Persona to accept")


@admin.register(PersonaDraft)
class PersonaDraftAdmin(admin.ModelAdmin):
    list_display = ("voice", "status", "offline_label", "created_by", "created_at", "decided_by", "decided_at")
    list_filter = ("status", "is_offline")
    search_fields = ("voice__name", "=voice__id")
    list_select_related = ("voice", "created_by", "decided_by")
    readonly_fields = ("voice", "status", "offline_label", "engine", "notes", "stats", "failure_reason", "created_by",
                       "created_at", "decided_by", "decided_at", "accepted_version", "diff", "decide")
    fields = ("voice", "status", "offline_label", "engine", "notes", "decide", "diff", "stats", "failure_reason",
              "created_by", "created_at", "decided_by", "decided_at", "accepted_version")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Written by")
    def offline_label(self, obj):
        return "Offline draft (no language model)" if obj.is_offline else (obj.engine or "-")

    @admin.display(description="Changes against the persona it improves")
    def diff(self, obj):
        if not obj.text:
            return "-"
        lines = services.persona_draft_diff(obj)
        colours = {"added": "#e6ffec", "removed": "#ffebe9", "same": "transparent"}
        marks = {"added": "+ ", "removed": "- ", "same": "  "}
        rows = format_html_join(
            "", '<div style="background:{}">{}{}</div>', ((colours[kind], marks[kind], line) for kind, line in lines)
        )
        return format_html('<pre style="white-space:pre-wrap">{}</pre>', rows)

    @admin.display(description="Decision")
    def decide(self, obj):
        if obj.status != PersonaDraft.Status.PENDING:
            return "-"
        url = reverse("admin:personas_personadraft_decide", args=[obj.pk])
        return format_html('<a class="button" href="{}">Accept, edit or discard…</a>', url)

    def get_urls(self):
        return [
            path("<int:draft_id>/decide/", self.admin_site.admin_view(self.decide_view),
                 name="personas_personadraft_decide"),
        ] + super().get_urls()

    def decide_view(self, request, draft_id):
        draft = get_object_or_404(PersonaDraft.objects.select_related("voice"), pk=draft_id)
        form = AcceptDraftForm(request.POST or None, initial={"text": draft.text})
        back = reverse("admin:personas_personadraft_change", args=[draft.pk])
        if request.method == "POST":
            try:
                if "discard" in request.POST:
                    services.persona_draft_discard(draft=draft, by=request.user)
                    self.message_user(request, "Draft discarded; the persona is unchanged.")
                    return HttpResponseRedirect(back)
                if form.is_valid():
                    version = services.persona_draft_accept(draft=draft, by=request.user, text=form.cleaned_data["text"])
                    self.message_user(request, f"{draft.voice.name}: persona version {version.number} accepted.")
                    return HttpResponseRedirect(back)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
        context = {
            **self.admin_site.each_context(request), "title": f"Persona draft for {draft.voice.name}",
            "draft": draft, "form": form, "diff": self.diff(draft), "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/personas/personadraft/decide.html", context)


@admin.register(ConversationMemory)
class ConversationMemoryAdmin(admin.ModelAdmin):
    list_display = ("conversation", "covered_messages", "is_offline", "updated_at")
    list_filter = ("is_offline",)
    readonly_fields = ("conversation", "summary", "covered_until", "covered_messages", "engine", "is_offline",
                       "updated_at")
    exclude = ("refresh_requested_at",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
