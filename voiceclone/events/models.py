"""The event outbox: written in the same transaction as the change it describes."""

from django.conf import settings
from django.db import models


class Event(models.Model):
    """Something a client may want to know: a reply is ready, a voice changed version, a run moved.

    `id` is the feed cursor (`GET /api/v1/events/?after=<id>`). `user` is the audience: the owner of
    the voice or conversation the event is about.
    """

    class Type(models.TextChoices):
        MESSAGE_PENDING = "message.pending", "Message pending"
        MESSAGE_TEXT_READY = "message.text_ready", "Message text ready"
        MESSAGE_AUDIO_STREAMING = "message.audio_streaming", "Message audio streaming"
        MESSAGE_READY = "message.ready", "Message ready"
        MESSAGE_FAILED = "message.failed", "Message failed"
        VOICE_READY = "voice.ready", "Voice ready"
        VOICE_FAILED = "voice.failed", "Voice failed"
        VOICE_CONSENT_REVOKED = "voice.consent_revoked", "Voice consent revoked"
        VOICE_VERSION_PROMOTED = "voice.version_promoted", "Voice version promoted"
        VOICE_VERSION_ROLLED_BACK = "voice.version_rolled_back", "Voice version rolled back"
        RETRAIN_PROPOSED = "retrain.proposed", "Retrain proposed"
        RETRAIN_APPROVED = "retrain.approved", "Retrain approved"
        RETRAIN_WAITING = "retrain.waiting_for_slot", "Retrain waiting for a slot"
        RETRAIN_CANDIDATE = "retrain.candidate", "Retrain candidate ready"
        RETRAIN_PROMOTED = "retrain.promoted", "Retrain promoted"
        RETRAIN_REJECTED = "retrain.rejected", "Retrain rejected"
        RETRAIN_CANCELLED = "retrain.cancelled", "Retrain cancelled"
        RETRAIN_FAILED = "retrain.failed", "Retrain failed"
        RETRAIN_GATE_EVALUATED = "retrain.gate_evaluated", "Retrain fidelity gate evaluated"
        RETRAIN_GATE_OVERRIDDEN = "retrain.gate_overridden", "Retrain fidelity gate overridden"
        VOICE_DRIFT_DETECTED = "voice.drift_detected", "Voice drift detected"

    # Steps of a turn in progress: they feed the conversation's live stream (SSE); webhooks get them only
    # when they name them, so a catch-all webhook still gets one delivery per finished reply.
    PROGRESS_TYPES = frozenset({Type.MESSAGE_PENDING, Type.MESSAGE_TEXT_READY, Type.MESSAGE_AUDIO_STREAMING})

    type = models.CharField(max_length=64, choices=Type.choices, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="events")
    voice = models.ForeignKey("clones.Voice", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        "conversations.Conversation", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["user", "id"], name="event_user_id_idx")]

    def __str__(self):
        return f"{self.type} #{self.pk}"


class Webhook(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=128)
    event_types = models.JSONField(default=list, blank=True, help_text="Empty means every type.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.url

    def wants(self, event_type: str) -> bool:
        """An empty `event_types` subscribes to every type but a turn's progress steps (Event.PROGRESS_TYPES)."""
        if event_type in Event.PROGRESS_TYPES:
            return event_type in self.event_types
        return not self.event_types or event_type in self.event_types


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [models.UniqueConstraint(fields=["webhook", "event"], name="delivery_unique_per_event")]

    def __str__(self):
        return f"{self.event} → {self.webhook} ({self.status})"
