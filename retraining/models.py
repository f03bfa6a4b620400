"""Retrain runs: a state machine from proposal to promotion, behind staff approval."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class RetrainRun(models.Model):
    class State(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        APPROVED = "approved", "Approved"
        RUNNING = "running", "Running"
        WAITING_FOR_SLOT = "waiting_for_slot", "Waiting for a voice slot"
        CANDIDATE = "candidate", "Candidate ready for A/B"
        PROMOTED = "promoted", "Promoted"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"
        ROLLED_BACK = "rolled_back", "Rolled back"

    class Strategy(models.TextChoices):
        RECREATE = "recreate", "Recreate (new provider voice, swapped in on promotion)"
        EDIT_IN_PLACE = "edit_in_place", "Edit in place (irreversible, no rollback)"

    # States in which a run holds the voice: never two of these at once for one voice.
    OPEN_STATES = (State.APPROVED, State.RUNNING, State.WAITING_FOR_SLOT, State.CANDIDATE)

    voice = models.ForeignKey("clones.Voice", on_delete=models.CASCADE, related_name="retrain_runs")
    state = models.CharField(max_length=24, choices=State.choices, default=State.PROPOSED, db_index=True)
    strategy = models.CharField(max_length=16, choices=Strategy.choices, default=Strategy.RECREATE)
    clips = models.ManyToManyField("clones.ClipSample", through="RetrainRunClip", related_name="retrain_runs")
    eligibility_snapshot = models.JSONField(default=dict, blank=True)
    selection_report = models.JSONField(default=dict, blank=True)
    quota_snapshot = models.JSONField(default=dict, blank=True)
    old_version = models.ForeignKey(
        "clones.VoiceVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    new_version = models.ForeignKey(
        "clones.VoiceVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    preview_old_clip = models.ForeignKey(
        "clones.ClipSample", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    preview_new_clip = models.ForeignKey(
        "clones.ClipSample", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    waiting_reason = models.TextField(blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.TextField(blank=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["voice"],
                condition=Q(state__in=["approved", "running", "waiting_for_slot", "candidate"]),
                name="retrainrun_one_open_per_voice",
            ),
        ]

    def __str__(self):
        return f"Retrain run #{self.pk} of {self.voice.name} ({self.state})"

    @property
    def provider_voice_label(self) -> str:
        """The label put on the provider voice this run creates, so a retry can adopt it."""
        return f"voiceclone-run-{self.pk}"


class RetrainRunClip(models.Model):
    class Role(models.TextChoices):
        ORIGINAL = "original", "Original sample"
        GENERATED = "generated", "Generated clip"

    run = models.ForeignKey(RetrainRun, on_delete=models.CASCADE, related_name="run_clips")
    clip = models.ForeignKey("clones.ClipSample", on_delete=models.PROTECT, related_name="run_uses")
    role = models.CharField(max_length=16, choices=Role.choices)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "clip"], name="retrainrunclip_unique")]

    def __str__(self):
        return f"run {self.run_id} uses clip {self.clip_id} as {self.role}"
