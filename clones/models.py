"""Voices (stable identities), their provider versions, consent, and clips in the clone's own voice."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from clones.merit import merit_expression


class Voice(models.Model):
    """The stable identity users, conversations and API clients refer to.

    Provider voice ids live on VoiceVersion: retraining swaps `current_version` and nothing
    that refers to a Voice ever needs to change.
    """

    class Status(models.TextChoices):
        CREATING = "creating", "Creating"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        DISABLED = "disabled", "Disabled"
        # The speaker withdrew consent: provider voices deleted, audio locked or purged, read-only forever.
        REVOKED = "revoked", "Consent revoked"
        # Every consent recording of the voice failed its check: not cloned (or silent) until staff accept
        # one after listening, or a new recording passes (clones.services.consent, docs/consent.md).
        HELD = "held", "Held for consent review"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="voices")
    name = models.CharField(max_length=100)
    persona = models.TextField(help_text="How the clone speaks and who it is; the reply engine's system prompt.")
    language = models.CharField(max_length=16, blank=True, default="en")
    current_version = models.ForeignKey(
        "clones.VoiceVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATING, db_index=True)
    failure_reason = models.TextField(blank=True)
    # Why the voice is `held`: the failed checks of its consent recordings, for the owner and staff.
    hold_reason = models.TextField(blank=True)
    # Lease on the provider creation while `creating` (voiceclone.leases): a worker claims the voice
    # with a conditional update and its heartbeat keeps the claim fresh; a stale claim is taken over.
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Which worker process holds the claim (voiceclone.leases.worker_identity): the cluster's sweep hands
    # the creation on as soon as that process is gone, without waiting for the lease to run out.
    claimed_by = models.CharField(max_length=200, blank=True, default="")
    attempt_count = models.PositiveSmallIntegerField(default=0)
    # Staff share a voice with every signed-up user: they may list it and start conversations with it,
    # never change it, retrain it or hear its clips and originals (clones.selectors decides).
    is_shared = models.BooleanField(
        default=False, help_text="Every user can chat with this voice (only its owner and staff manage it)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="voice_owner_created_idx")]

    def __str__(self):
        return f"{self.name} ({self.get_status_display()})"

    @property
    def is_ready(self) -> bool:
        return self.status == self.Status.READY and self.current_version_id is not None


class VoiceVersion(models.Model):
    """One provider voice behind a Voice. Exactly one is active per voice."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        CANDIDATE = "candidate", "Candidate"
        ARCHIVED = "archived", "Archived"
        DELETED = "deleted", "Deleted at provider"

    voice = models.ForeignKey(Voice, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    provider_voice_id = models.CharField(max_length=64, unique=True)
    state = models.CharField(max_length=16, choices=State.choices, db_index=True)
    created_by_run = models.ForeignKey(
        "retraining.RetrainRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Deepest lineage among the clips this version was trained on: clips it generates get this + 1.
    training_lineage_depth = models.PositiveSmallIntegerField(default=0)
    # Set when the provider voice was made outside voiceclone (a previous installation) and adopted by
    # `import_legacy` or the admin: what it was trained on is unknown.
    adopted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["voice", "number"]
        constraints = [
            models.UniqueConstraint(fields=["voice", "number"], name="voiceversion_unique_number"),
            models.UniqueConstraint(
                fields=["voice"], condition=Q(state="active"), name="voiceversion_one_active_per_voice"
            ),
        ]

    def __str__(self):
        return f"{self.voice.name} v{self.number} ({self.state})"

    @property
    def generated_lineage_depth(self) -> int:
        return self.training_lineage_depth + 1


class ConsentRecord(models.Model):
    """Who consented to their voice being cloned, to what statement, when and how.

    Outlives its voice: revocation keeps it, a hard delete empties `voice` but keeps the row (with the
    voice's id and name copied here) as the record of what was consented to and withdrawn.
    """

    class Method(models.TextChoices):
        CHECKBOX = "checkbox", "Checkbox on the creation form"
        STATEMENT = "statement", "Uploaded signed statement"
        STAFF_CONFIRMED = "staff_confirmed", "Confirmed by staff (adopted from a previous installation)"
        RECORDING = "recording", "Recorded consent phrase"
        REMOTE = "remote", "Recorded consent phrase, through a remote consent link"

    class Check(models.TextChoices):
        NOT_RECORDED = "not_recorded", "No recording"
        PENDING = "pending", "Recording waiting for its check"
        PASSED = "passed", "Phrase and speaker match"
        FAILED = "failed", "Phrase or speaker does not match"
        ERROR = "error", "Check could not run"

    voice = models.ForeignKey(Voice, null=True, blank=True, on_delete=models.SET_NULL, related_name="consents")
    voice_ref = models.UUIDField(null=True, blank=True, db_index=True, help_text="The voice's id, kept after a hard delete.")
    voice_name = models.CharField(max_length=100, blank=True)
    given_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    speaker_name = models.CharField(max_length=200, blank=True)
    statement_version = models.CharField(max_length=32)
    statement_text = models.TextField()
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.CHECKBOX)
    statement_file = models.FileField(upload_to="consents/", blank=True, max_length=500)
    # The generated phrase the speaker read (speaker, voice name, date and a one-time code).
    phrase = models.TextField(blank=True)
    phrase_nonce = models.CharField(max_length=64, blank=True, db_index=True)
    recording_sha256 = models.CharField(max_length=64, blank=True)
    check_status = models.CharField(max_length=16, choices=Check.choices, default=Check.NOT_RECORDED, db_index=True)
    transcript = models.TextField(blank=True)
    phrase_wer = models.FloatField(null=True, blank=True, help_text="Word error rate of the transcript against the phrase.")
    speaker_similarity = models.FloatField(null=True, blank=True, help_text="0–1: sounds like the samples' speaker.")
    check_detail = models.TextField(blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    # When the check task was last handed to the queue: the stuck-work sweep hands it again once this is older
    # than the task timeout and the record is still pending (the task was lost), at most once per timeout.
    check_enqueued_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoke_reason = models.CharField(max_length=500, blank=True)
    # Staff listened to a recording whose check failed (or could not run) and accepted it as consent.
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    accept_note = models.CharField(max_length=500, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["phrase_nonce"], condition=~Q(phrase_nonce=""),
                                    name="consent_phrase_used_once"),
        ]

    def __str__(self):
        return f"Consent for {self.voice_name or self.voice_ref} by {self.given_by} ({self.statement_version})"

    def save(self, *args, **kwargs):
        if self.voice_id and self.voice_ref is None:
            self.voice_ref = self.voice_id
        if self.voice_id and not self.voice_name:
            self.voice_name = self.voice.name[:100]
        super().save(*args, **kwargs)


class ClipSample(models.Model):
    """One audio clip in the clone's own voice. Never the user's voice.

    `original`: a consented upload the clone was created from. `generated`: a stored TTS reply.
    `preview`: an A/B preview rendered for a retrain run (never a training source).
    """

    class Source(models.TextChoices):
        ORIGINAL = "original", "Original (consented upload)"
        GENERATED = "generated", "Generated reply"
        PREVIEW = "preview", "Retrain preview"

    class ReviewStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    voice = models.ForeignKey(Voice, on_delete=models.CASCADE, related_name="clips")
    source = models.CharField(max_length=16, choices=Source.choices)
    version = models.ForeignKey(
        VoiceVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="clips",
        help_text="The version that produced a generated clip.",
    )
    file = models.FileField(max_length=500)
    original_filename = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=100, default="audio/mpeg")
    text = models.TextField(blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    sample_rate = models.PositiveIntegerField(null=True, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, db_index=True)
    # Quality metrics, filled by analysis (clip curation).
    loudness_lufs = models.FloatField(null=True, blank=True)
    peak_dbfs = models.FloatField(null=True, blank=True)
    clipping_ratio = models.FloatField(null=True, blank=True)
    leading_silence_s = models.FloatField(null=True, blank=True)
    trailing_silence_s = models.FloatField(null=True, blank=True)
    speech_ratio = models.FloatField(null=True, blank=True)
    snr_db = models.FloatField(null=True, blank=True)
    quality_score = models.FloatField(null=True, blank=True, db_index=True)
    quality_flags = models.JSONField(default=list, blank=True)
    analysed_at = models.DateTimeField(null=True, blank=True)
    # Prosody, for diversity-aware selection (clip curation): median pitch, its spread, the spread of
    # speech energy, and characters of text per second of speech.
    pitch_median_hz = models.FloatField(null=True, blank=True)
    pitch_range_st = models.FloatField(null=True, blank=True)
    energy_range_db = models.FloatField(null=True, blank=True)
    speaking_rate_cps = models.FloatField(null=True, blank=True)
    lineage_depth = models.PositiveSmallIntegerField(default=0)
    # Imported from a previous installation: which voice generation spoke it is unknown. Never
    # auto-approved; selected only once staff approve it (issue 14).
    is_lineage_unknown = models.BooleanField(default=False)
    # Originals: the consent record of the batch that brought this recording (empty for the originals
    # given at creation, which the voice's first consent record covers).
    consent = models.ForeignKey(
        "clones.ConsentRecord", null=True, blank=True, on_delete=models.PROTECT, related_name="originals"
    )
    # A retired original is kept (and stays playable) but is never selected for a retrain again.
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_status = models.CharField(
        max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.PENDING, db_index=True
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_reason = models.CharField(max_length=255, blank=True)
    provider_request_id = models.CharField(max_length=64, blank=True)
    character_cost = models.PositiveIntegerField(null=True, blank=True)
    # Generated clips: what was rendered (version, text, model, format, settings; conversations.render_reuse).
    # An identical render reuses this clip's audio instead of calling the provider again.
    render_key = models.CharField(max_length=64, blank=True, db_index=True)
    reused_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The clip whose stored audio this one copies (no provider call, no characters).",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["voice", "source", "review_status", "-created_at"], name="clip_voice_src_review_idx"),
            models.Index(fields=["source", "review_status", "-created_at"], name="clip_src_review_idx"),
            # The admin's voice filter with its default ordering, and the review queue per voice.
            models.Index(fields=["voice", "-created_at"], name="clip_voice_created_idx"),
            # The retrain selection's pool of one voice (stored generated clips), covering every column its
            # counts and ranking read, so PostgreSQL answers them from the index alone (docs/scale.md).
            models.Index(
                fields=["voice", "review_status", "created_at"],
                include=["id", "analysed_at", "duration_s", "lineage_depth", "is_lineage_unknown", "quality_score",
                         "size_bytes", "quality_flags"],
                condition=Q(source="generated") & ~Q(sha256="") & ~Q(file=""),
                name="clip_selection_pool_idx",
            ),
            # The selection's ranking (clones.merit): one voice's stored generated clips best first, so
            # PostgreSQL reads the few best candidates in order and stops (LIMIT) instead of sorting the
            # whole pool; the included columns let it apply the per-clip rules from the index alone.
            models.Index(
                F("voice"), merit_expression(F("duration_s")).desc(), F("id"),
                include=["review_status", "created_at", "analysed_at", "duration_s", "lineage_depth",
                         "is_lineage_unknown", "quality_score", "size_bytes", "quality_flags"],
                condition=Q(source="generated") & ~Q(sha256="") & ~Q(file=""),
                name="clip_selection_rank_idx",
            ),
            # The review queue's voices with the most pending clips: a count per voice from this small
            # index alone (an index-only scan), not from the pending rows of the whole table.
            models.Index(
                fields=["voice"],
                condition=Q(source="generated", review_status="pending") & ~Q(sha256="") & ~Q(file=""),
                name="clip_pending_voice_idx",
            ),
        ]
        # PostgreSQL only (migration 0007): `clip_quality_flags_gin` (GIN, jsonb_path_ops) for the flag
        # filter's containment and `clip_text_upper_trgm` (pg_trgm GIN on UPPER(text)) for text search.

    def __str__(self):
        return f"{self.get_source_display()} clip #{self.pk} of {self.voice.name}"

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None


class OriginalSampleManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(source=ClipSample.Source.ORIGINAL)


class OriginalSample(ClipSample):
    """The consented recordings of voices (a view of ClipSample for the admin's originals screen)."""

    objects = OriginalSampleManager()

    class Meta:
        proxy = True
        ordering = ["voice", "created_at", "id"]
        verbose_name = "original recording"
        verbose_name_plural = "original recordings"


class GeneratedAudio(models.Model):
    """Registry of every audio the product generated, by content hash.

    Lets us recognise our own synthetic audio when it is uploaded again as an "original" sample.
    """

    sha256 = models.CharField(max_length=64, unique=True)
    clip = models.ForeignKey(ClipSample, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "generated audio"
        verbose_name_plural = "generated audio"  # uncountable: "audios" reads wrong in the admin

    def __str__(self):
        return self.sha256
