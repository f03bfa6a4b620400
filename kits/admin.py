"""Staff screens for voice kits: imports (read-only) with their progress and the kit's history."""

import json

from django.contrib import admin
from django.utils.html import format_html

from .models import VoiceKitImport


@admin.register(VoiceKitImport)
class VoiceKitImportAdmin(admin.ModelAdmin):
    list_display = ("voice", "status", "clips_done", "clips_total", "source_installation", "imported_by", "created_at")
    list_filter = ("status",)
    search_fields = ("voice__name", "=voice__id", "kit_sha256", "source_voice_id")
    list_select_related = ("voice", "imported_by")
    fields = ("voice", "status", "imported_by", "kit_sha256", "kit_bytes", "source_voice_id", "source_installation",
              "clips_done", "clips_total", "rejected", "error", "created_at", "finished_at", "kit_history")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="The kit's versions, runs and consent hashes")
    def kit_history(self, obj):
        kept = {key: obj.manifest.get(key) for key in ("versions", "runs", "consent", "imported_from", "counts")}
        return format_html("<pre>{}</pre>", json.dumps(kept, indent=1, sort_keys=True)[:100_000])
