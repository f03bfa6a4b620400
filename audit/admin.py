"""The audit log in the admin: filterable, searchable, and read-only (no add, change or delete)."""

from auditlog.admin import LogEntryAdmin as AuditlogLogEntryAdmin
from auditlog.filters import CIDFilter, ResourceTypeFilter
from auditlog.models import LogEntry
from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered

# Distinct event names are read from the newest entries only, so the filter never scans the whole log.
EVENT_LOOKUP_WINDOW = 10_000


class EventFilter(admin.SimpleListFilter):
    title = "event"
    parameter_name = "event"

    def lookups(self, request, model_admin):
        recent = LogEntry.objects.order_by("-id").values("id")[:EVENT_LOOKUP_WINDOW]
        names = (
            LogEntry.objects.filter(id__in=recent).exclude(additional_data__event=None)
            .values_list("additional_data__event", flat=True).distinct()
        )
        return [(name, name) for name in sorted({n for n in names if isinstance(n, str)})]

    def queryset(self, request, queryset):
        return queryset.filter(additional_data__event=self.value()) if self.value() else queryset


class ViaFilter(admin.SimpleListFilter):
    title = "through"
    parameter_name = "via"
    CHOICES = (("admin", "Admin"), ("api", "API"), ("page", "Pages"), ("task", "Background task"),
               ("system", "System (command, shell)"))

    def lookups(self, request, model_admin):
        return self.CHOICES

    def queryset(self, request, queryset):
        return queryset.filter(additional_data__via=self.value()) if self.value() else queryset


class ActorKindFilter(admin.SimpleListFilter):
    title = "actor"
    parameter_name = "actor_kind"

    def lookups(self, request, model_admin):
        return (("staff", "Staff"), ("user", "Owners and other users"), ("system", "System"))

    def queryset(self, request, queryset):
        value = self.value()
        if value == "system":
            return queryset.filter(actor__isnull=True)
        if value == "staff":
            return queryset.filter(actor__is_staff=True)
        if value == "user":
            return queryset.filter(actor__isnull=False, actor__is_staff=False)
        return queryset


class VoiceIdFilter(admin.SimpleListFilter):
    """`?voice=<uuid>`: every entry about a voice, its versions, clips, runs, consent and persona."""

    title = "voice"
    parameter_name = "voice"

    def lookups(self, request, model_admin):
        return []

    def has_output(self):
        return False

    def queryset(self, request, queryset):
        return queryset.filter(additional_data__voice=self.value()) if self.value() else queryset


try:
    admin.site.unregister(LogEntry)
except NotRegistered:
    pass


@admin.register(LogEntry)
class AuditLogEntryAdmin(AuditlogLogEntryAdmin):
    list_display = ["created", "event", "resource_url", "action", "msg_short", "user_url", "via"]
    list_filter = ["action", EventFilter, ActorKindFilter, ViaFilter, ResourceTypeFilter, VoiceIdFilter, CIDFilter]
    search_fields = ["object_repr", "object_pk", "actor__username", "actor_email"]
    fieldsets = [
        (None, {"fields": ["created", "user_url", "resource_url", "event", "via", "cid", "remote_addr"]}),
        ("Changes", {"fields": ["action", "msg", "details"]}),
    ]
    readonly_fields = ["created", "resource_url", "action", "user_url", "msg", "event", "via", "details", "cid",
                       "remote_addr"]
    show_full_result_count = False

    @admin.display(description="Event")
    def event(self, obj):
        return (obj.additional_data or {}).get("event") or obj.get_action_display()

    @admin.display(description="Through")
    def via(self, obj):
        data = obj.additional_data or {}
        return data.get("task") or data.get("via") or "-"

    @admin.display(description="Details")
    def details(self, obj):
        import json

        from django.utils.html import format_html

        return format_html("<pre>{}</pre>", json.dumps(obj.additional_data or {}, indent=2, sort_keys=True))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
