from django.contrib import admin

from .models import RetrainRun, RetrainRunClip


class RetrainRunClipInline(admin.TabularInline):
    model = RetrainRunClip
    extra = 0
    raw_id_fields = ("clip",)


@admin.register(RetrainRun)
class RetrainRunAdmin(admin.ModelAdmin):
    list_display = ("id", "voice", "state", "strategy", "created_at")
    list_filter = ("state", "strategy")
    list_select_related = ("voice",)
    raw_id_fields = (
        "voice", "old_version", "new_version", "preview_old_clip", "preview_new_clip", "proposed_by", "approved_by"
    )
    inlines = [RetrainRunClipInline]
