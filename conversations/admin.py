from django.contrib import admin

from .models import Conversation, Message


class MessageInline(admin.TabularInline):
    model = Message
    fk_name = "conversation"
    extra = 0
    fields = ("role", "text", "status", "failure_reason", "voice_version", "clip", "created_at")
    readonly_fields = fields
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("__str__", "user", "voice", "is_archived", "updated_at")
    list_filter = ("is_archived",)
    search_fields = ("title", "user__username", "voice__name")
    list_select_related = ("user", "voice")
    raw_id_fields = ("user", "voice")
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "role", "status", "created_at")
    list_filter = ("role", "status")
    search_fields = ("text",)
    list_select_related = ("conversation",)
    raw_id_fields = ("conversation", "in_reply_to", "clip", "voice_version")
