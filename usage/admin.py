from django.contrib import admin

from .models import UsageEntry


@admin.register(UsageEntry)
class UsageEntryAdmin(admin.ModelAdmin):
    """The cost ledger: read-only, written by the provider adapter (docs/usage.md)."""

    list_display = ("created_at", "kind", "operation", "user", "voice", "characters", "audio_s", "model_id",
                    "provider_request_id")
    list_filter = ("kind", "operation", "day", "model_id")
    date_hierarchy = "day"
    search_fields = ("user__username", "voice__name", "=voice_ref", "=provider_voice_id", "=provider_request_id")
    list_select_related = ("user", "voice")
    raw_id_fields = ("user", "voice")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
