"""Persona versions, drafts refined from conversations, and per-conversation memory (docs/personas.md).

`Voice.persona` stays the text the reply engine reads; every change to it through a service is a
PersonaVersion, so any earlier text can be restored.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class PersonaVersion(models.Model):
    class Source(models.TextChoices):
        INITIAL = "initial", "Initial"
        MANUAL = "manual", "Edited by hand"
        ACCEPTED = "accepted", "Accepted draft"
        ROLLBACK = "rollback", "Rolled back"
        IMPORTED = "imported", "Imported from a voice kit"

    voice = models.ForeignKey("clones.Voice", on_delete=models.CASCADE, related_name="persona_versions")
    number = models.PositiveIntegerField()
    text = models.TextField()
    source = models.CharField(max_length=16, choices=Source.choices)
    draft = models.ForeignKey(
        "personas.PersonaDraft", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The draft this version accepted.",
    )
    based_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The version a rollback restored.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who, when the author is not a user here (an imported kit names its installation's user).
    created_by_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["voice", "-number"]
        constraints = [models.UniqueConstraint(fields=["voice", "number"], name="personaversion_unique_number")]

    def __str__(self):
        return f"Persona v{self.number} of {self.voice.name} ({self.source})"

    @property
    def author(self) -> str:
        if self.created_by_id:
            return self.created_by.get_username()
        return self.created_by_label or "system"


class PersonaDraft(models.Model):
    """An improved persona proposed from recent conversations, waiting for a person to decide."""

    class Status(models.TextChoices):
        GENERATING = "generating", "Being written"
        PENDING = "pending", "Waiting for a decision"
        ACCEPTED = "accepted", "Accepted"
        DISCARDED = "discarded", "Discarded"
        FAILED = "failed", "Failed"

    OPEN_STATUSES = (Status.GENERATING, Status.PENDING)

    voice = models.ForeignKey("clones.Voice", on_delete=models.CASCADE, related_name="persona_drafts")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.GENERATING, db_index=True)
    base_version = models.ForeignKey(
        PersonaVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The persona version the draft improves; the diff is against its text.",
    )
    base_text = models.TextField()
    text = models.TextField(blank=True)
    notes = models.TextField(blank=True, help_text="What the draft is based on and what it changes.")
    engine = models.CharField(max_length=100, blank=True)
    is_offline = models.BooleanField(default=False)
    stats = models.JSONField(default=dict, blank=True)
    failure_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    accepted_version = models.ForeignKey(
        PersonaVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["voice"], condition=Q(status__in=["generating", "pending"]),
                name="personadraft_one_open_per_voice",
            ),
        ]

    def __str__(self):
        return f"Persona draft #{self.pk} of {self.voice.name} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class ConversationMemory(models.Model):
    """A summary of a long conversation's older messages, which the reply engine receives.

    Covers the conversation's messages up to `covered_until` (the newest ones are sent as they are).
    """

    conversation = models.OneToOneField(
        "conversations.Conversation", on_delete=models.CASCADE, primary_key=True, related_name="memory"
    )
    summary = models.TextField(blank=True)
    covered_until = models.DateTimeField(null=True, blank=True)
    covered_messages = models.PositiveIntegerField(default=0)
    engine = models.CharField(max_length=100, blank=True)
    is_offline = models.BooleanField(default=False)
    # Claim of the refresh work: a duplicate enqueue while one refresh is on its way does nothing.
    refresh_requested_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "conversation memories"

    def __str__(self):
        return f"Memory of {self.conversation_id} ({self.covered_messages} messages)"
