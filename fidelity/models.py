"""Fidelity rows: perceptual fingerprints of generated audio (the lineage guard), the promotion gate's
reports and probes, and the drift monitor's time series (docs/fidelity.md)."""

from django.conf import settings
from django.db import models


class AudioFingerprint(models.Model):
    """The landmark fingerprint of one generated audio (a reply or a preview), see fidelity.fingerprint."""

    generated_audio = models.OneToOneField(
        "clones.GeneratedAudio", on_delete=models.CASCADE, related_name="fingerprint"
    )
    duration_s = models.FloatField()
    landmark_count = models.PositiveIntegerField()
    # fidelity.fingerprint.FINGERPRINT_VERSION: landmarks of different versions never match each other.
    version = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"fingerprint of {self.generated_audio_id} ({self.landmark_count} landmarks)"


class FingerprintLandmark(models.Model):
    """One landmark of a fingerprint: a 21-bit hash at an anchor frame.

    The primary key (hash, fingerprint, anchor_frame) is the lookup index: an upload's hashes find the clips
    that share them by index range scans, whatever the number of stored clips, and the count per clip
    comes from the index alone. A clip has about 80 landmarks per second of audio.
    """

    pk = models.CompositePrimaryKey("hash", "fingerprint", "anchor_frame")
    hash = models.IntegerField()
    fingerprint = models.ForeignKey(AudioFingerprint, on_delete=models.CASCADE, related_name="landmarks")
    anchor_frame = models.IntegerField()

    def __str__(self):
        return f"{self.hash}@{self.anchor_frame}"


# --- the promotion gate (issue 10 item 3, fidelity.gate) -------------------------------------------------


class GateReport(models.Model):
    """The fidelity gate's report on one retrain run's candidate: probe set rendered by the candidate and the
    active version, scored against the voice's originals. `promote` refuses a `fail` (and a `pending`) unless
    staff override with a written reason (recorded here and in the audit log)."""

    class Verdict(models.TextChoices):
        PENDING = "pending", "Pending"
        PASS = "pass", "Pass"
        FAIL = "fail", "Fail"

    run = models.OneToOneField("retraining.RetrainRun", on_delete=models.CASCADE, related_name="fidelity_report")
    verdict = models.CharField(max_length=8, choices=Verdict.choices, default=Verdict.PENDING, db_index=True)
    # [{"code", "message"}]: why it failed (or, pending, what it waits for).
    reasons = models.JSONField(default=list, blank=True)
    similarity = models.FloatField(null=True, blank=True, help_text="Candidate probes vs the originals (0–1).")
    active_similarity = models.FloatField(null=True, blank=True, help_text="Active version's probes vs the originals.")
    wer = models.FloatField(null=True, blank=True, help_text="Candidate: speech-to-text round-trip word error rate.")
    active_wer = models.FloatField(null=True, blank=True)
    # Everything behind the numbers: prosody per side and of the originals, components, thresholds used.
    metrics = models.JSONField(default=dict, blank=True)
    probe_set_version = models.PositiveSmallIntegerField(default=1)
    character_cost = models.PositiveIntegerField(default=0, help_text="TTS characters the provider reported.")
    error = models.TextField(blank=True, help_text="Why the report is still pending (e.g. a provider failure).")
    computed_at = models.DateTimeField(null=True, blank=True)
    # Lease of the evaluation task (a conditional update claims it; an expired lease may be taken over).
    claimed_at = models.DateTimeField(null=True, blank=True)
    override_reason = models.TextField(blank=True)
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    overridden_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"fidelity gate of run {self.run_id}: {self.verdict}"

    @property
    def is_overridden(self) -> bool:
        return self.overridden_at is not None


class GateProbe(models.Model):
    """One probe sentence rendered by one side (candidate or active version) for a gate report: intent
    (row), provider call, outcome (clip, transcript, features), so a retried task never pays twice."""

    class Side(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active"

    report = models.ForeignKey(GateReport, on_delete=models.CASCADE, related_name="probes")
    side = models.CharField(max_length=10, choices=Side.choices)
    index = models.PositiveSmallIntegerField()
    version = models.ForeignKey("clones.VoiceVersion", on_delete=models.CASCADE, related_name="fidelity_probes")
    text = models.TextField()
    clip = models.ForeignKey("clones.ClipSample", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    transcript = models.TextField(blank=True)
    is_transcribed = models.BooleanField(default=False)
    # fidelity.features.VoiceFeatures.as_dict() and fidelity.prosody.Prosody of the rendered audio.
    features = models.JSONField(default=dict, blank=True)
    prosody = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["report", "side", "index"]
        constraints = [models.UniqueConstraint(fields=["report", "side", "index"], name="gateprobe_unique")]

    def __str__(self):
        return f"probe {self.index} ({self.side}) of report {self.report_id}"


# --- the drift monitor (issue 10 item 4, fidelity.drift) -------------------------------------------------


class DriftPoint(models.Model):
    """One drift check of a live voice: a sample of its recent stored replies scored against its originals
    and its version's baseline (the version's gate probes, else its earliest replies). The time series of a
    voice, across versions, is its DriftPoints in order."""

    voice = models.ForeignKey("clones.Voice", on_delete=models.CASCADE, related_name="drift_points")
    version = models.ForeignKey("clones.VoiceVersion", on_delete=models.CASCADE, related_name="drift_points")
    measured_at = models.DateTimeField(db_index=True)
    similarity = models.FloatField(help_text="Recent replies vs the voice's originals (0–1).")
    baseline_similarity = models.FloatField(help_text="Recent replies vs the version's baseline (0–1).")
    # The version's own similarity to the originals when its baseline was taken: the band is around it.
    baseline_originals_similarity = models.FloatField()
    baseline_source = models.CharField(max_length=16)  # "probes" | "replies"
    is_out_of_band = models.BooleanField(default=False, db_index=True)
    reasons = models.JSONField(default=list, blank=True)
    clip_ids = models.JSONField(default=list, blank=True)
    # With baseline_source "replies": the replies that are the version's baseline, fixed by the version's first
    # check and reused by every later one (later replies never join it, so a drift cannot hide in it).
    baseline_clip_ids = models.JSONField(default=list, blank=True)
    components = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["voice", "measured_at", "pk"]
        indexes = [models.Index(fields=["voice", "-measured_at"], name="driftpoint_voice_time_idx")]

    def __str__(self):
        state = "out of band" if self.is_out_of_band else "in band"
        return f"drift of {self.voice_id} v{self.version_id} at {self.measured_at:%Y-%m-%d %H:%M}: {state}"
