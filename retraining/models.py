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
        ORIGINALS_ONLY = "originals_only", "Re-clone from the speaker's originals only (no generated clips)"

    # States in which a run holds the voice: never two of these at once for one voice.
    OPEN_STATES = (State.APPROVED, State.RUNNING, State.WAITING_FOR_SLOT, State.CANDIDATE)

    voice = models.ForeignKey("clones.Voice", on_delete=models.CASCADE, related_name="retrain_runs")
    state = models.CharField(max_length=24, choices=State.choices, default=State.PROPOSED, db_index=True)
    strategy = models.CharField(max_length=16, choices=Strategy.choices, default=Strategy.RECREATE)
    clips = models.ManyToManyField("clones.ClipSample", through="RetrainRunClip", related_name="retrain_runs")
    eligibility_snapshot = models.JSONField(default=dict, blank=True)
    selection_report = models.JSONField(default=dict, blank=True)
    quota_snapshot = models.JSONField(default=dict, blank=True)
    # Provider cost estimated at proposal (retraining.services.cost); the actual cost is read from the
    # run's preview clips, whose character cost the provider reported.
    cost_estimate = models.JSONField(default=dict, blank=True)
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
    # Lease of the run task: a worker claims the run with a conditional update; a run left `running`
    # past RETRAIN_RUN_LEASE_S (worker killed) may be claimed again by a retried task.
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Intent recorded before the provider write (create voice / add samples): a retry after a crash
    # looks for what that write may have made before writing again.
    create_requested_at = models.DateTimeField(null=True, blank=True)
    waiting_since = models.DateTimeField(null=True, blank=True)
    finished_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Who promoted, rejected, cancelled or rolled back the run.",
    )
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
            # The scan and a staff proposal may race: one pending proposal per voice.
            models.UniqueConstraint(
                fields=["voice"], condition=Q(state="proposed"), name="retrainrun_one_proposed_per_voice"
            ),
        ]

    def __str__(self):
        return f"Retrain run #{self.pk} of {self.voice.name} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES

    @property
    def is_irreversible(self) -> bool:
        """Edit in place changes the live provider voice: there is no previous version to roll back to."""
        return self.strategy == self.Strategy.EDIT_IN_PLACE

    @property
    def builds_new_version(self) -> bool:
        """Recreate and originals-only runs clone a new provider voice (a slot) swapped in on promotion."""
        return self.strategy != self.Strategy.EDIT_IN_PLACE

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
    # Seconds of the clip the training copy keeps (a long reply's degraded tail is cut).
    use_s = models.FloatField(null=True, blank=True)
    # What was actually uploaded: the training copy's hash and size (the stored clip is never modified).
    upload_sha256 = models.CharField(max_length=64, blank=True)
    upload_bytes = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "clip"], name="retrainrunclip_unique")]

    def __str__(self):
        return f"run {self.run_id} uses clip {self.clip_id} as {self.role}"


class ProviderVoiceDeletion(models.Model):
    """Intent, then outcome, of deleting one version's provider voice (freeing its slot).

    The row is written and committed before the provider call, so a crash in between leaves a pending
    deletion that cleanup retries, and a rollback never re-activates a version whose provider voice is
    being deleted. `completed_at` set = the provider voice is gone and the version is `deleted`.
    """

    class Reason(models.TextChoices):
        CLEANUP = "cleanup", "Archived beyond the keep count (cleanup)"
        FREE_SLOT = "free_slot", "Freed a slot for a retrain run"
        STAFF = "staff", "Deleted by staff"
        DISCARDED_CANDIDATE = "discarded_candidate", "Candidate of a rejected or cancelled run"
        RECONCILE = "reconcile", "Reconciliation"
        # Never withdrawn: retried by the cleanup until the provider confirms (docs/consent.md).
        CONSENT_REVOKED = "consent_revoked", "Consent revoked"

    version = models.OneToOneField("clones.VoiceVersion", on_delete=models.CASCADE, related_name="provider_deletion")
    provider_voice_id = models.CharField(max_length=64)
    reason = models.CharField(max_length=24, choices=Reason.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    for_run = models.ForeignKey(RetrainRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    attempt_count = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # A failed attempt that stays pending is due again at this time (backoff; the stuck-work sweep hands it to
    # the queue), so a revoked consent's provider voice is not left until the next hourly cleanup.
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self):
        state = "done" if self.completed_at else "pending"
        return f"delete {self.provider_voice_id} ({self.reason}, {state})"


class ForeignProviderVoice(models.Model):
    """A custom voice on the provider account that voiceclone did not create and no version owns.

    Typically left by a previous installation (issue 14). Staff decide what happens to each: adopt it as a
    voice (`adopted_voice` set; from then on a VoiceVersion owns it) or mark it deletable, which lets the
    slot planner delete it when a retrain needs a slot (intent `deletion_requested_at`, then `deleted_at`,
    the same intent → call → outcome protocol as ProviderVoiceDeletion). Unmarked foreign voices are
    never touched.
    """

    provider_voice_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)
    is_deletable = models.BooleanField(default=False, db_index=True)
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    marked_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)
    adopted_voice = models.ForeignKey(
        "clones.Voice", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deletion_requested_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["marked_at", "pk"]

    def __str__(self):
        return f"{self.name or 'foreign voice'} ({self.provider_voice_id})"

    @property
    def status(self) -> str:
        if self.deleted_at is not None:
            return "deleted"
        if self.adopted_voice_id is not None:
            return "adopted"
        return "deletable" if self.is_deletable else "foreign"
