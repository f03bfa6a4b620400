"""Conversations with a voice clone and their messages."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    # The stable Voice, never a provider version: promotions happen underneath.
    voice = models.ForeignKey("clones.Voice", on_delete=models.PROTECT, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    is_archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["user", "is_archived", "-updated_at"], name="conv_user_updated_idx")]

    def __str__(self):
        return self.title or f"Conversation with {self.voice.name}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class InputKind(models.TextChoices):
        TEXT = "text", "Text"
        AUDIO = "audio", "Audio"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    text = models.TextField(blank=True)
    input_kind = models.CharField(max_length=8, choices=InputKind.choices, default=InputKind.TEXT)
    # The user's own recording: private to its owner and never a training source.
    user_audio = models.FileField(max_length=500, blank=True)
    user_audio_content_type = models.CharField(max_length=100, blank=True)
    # The user message an assistant message answers.
    in_reply_to = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="reply"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY, db_index=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_reason = models.TextField(blank=True)
    clip = models.OneToOneField(
        "clones.ClipSample", null=True, blank=True, on_delete=models.PROTECT, related_name="message"
    )
    voice_version = models.ForeignKey(
        "clones.VoiceVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )
    reply_engine = models.CharField(max_length=32, blank=True)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    # Lease on the reply work: a worker claims the message with a conditional update, so a
    # re-enqueued duplicate task (sweeper, broker redelivery) stops early instead of racing.
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Which worker process holds the claim (voiceclone.leases.worker_identity): the cluster's sweep hands
    # the reply on as soon as that process is gone, without waiting for the lease to run out.
    claimed_by = models.CharField(max_length=200, blank=True, default="")
    idempotency_key = models.CharField(max_length=128, blank=True)
    stt_ms = models.PositiveIntegerField(null=True, blank=True)
    reply_ms = models.PositiveIntegerField(null=True, blank=True)
    tts_ms = models.PositiveIntegerField(null=True, blank=True)
    total_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="message_conv_created_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="message_unique_idempotency_key",
            ),
            models.CheckConstraint(
                condition=Q(role="assistant") | Q(clip__isnull=True), name="message_only_assistant_has_clip"
            ),
        ]

    def __str__(self):
        return f"{self.role} message {self.id} ({self.status})"

    @property
    def is_retrying(self) -> bool:
        """A pending reply whose earlier attempt stopped: its worker was killed (the heartbeat stopped,
        docs/reliability.md), the database failed it, or the user retried a failed reply."""
        from voiceclone.leases import lease_cutoff

        if self.role != self.Role.ASSISTANT or self.status != self.Status.PENDING:
            return False
        if self.attempt_count >= 2 or (self.attempt_count >= 1 and self.claimed_at is None):
            return True
        return self.claimed_at is not None and self.claimed_at < lease_cutoff()
