from django.contrib import admin

from .models import Event, Webhook, WebhookDelivery


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "type", "user", "voice", "created_at")
    list_filter = ("type",)
    list_select_related = ("user", "voice")
    raw_id_fields = ("user", "voice", "conversation")


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ("url", "user", "is_active", "created_at")
    raw_id_fields = ("user",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event", "webhook", "status", "attempt_count", "last_status_code", "delivered_at")
    list_filter = ("status",)
    list_select_related = ("event", "webhook")
    raw_id_fields = ("webhook", "event")
