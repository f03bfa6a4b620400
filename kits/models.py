"""Voice kit imports: where an imported voice came from, and which kit clip became which clip here."""

from django.conf import settings
from django.db import models


class VoiceKitImport(models.Model):
    """One import of a voice kit (docs/voice-kits.md): the new voice, the kit's manifest and progress.

    The request validates the kit and creates the voice through the normal consented creation path;
    a background task then stores the kit's approved clips (`clips_done` of `clips_total`).
    """

    class Status(models.TextChoices):
        IMPORTING = "importing", "Importing clips"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    voice = models.OneToOneField("clones.Voice", on_delete=models.CASCADE, related_name="kit_import")
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IMPORTING, db_index=True)
    # The kit as uploaded (kept in storage until the clips are imported) and its checksum.
    kit_file = models.CharField(max_length=500, blank=True)
    kit_sha256 = models.CharField(max_length=64)
    kit_bytes = models.PositiveBigIntegerField(default=0)
    source_voice_id = models.CharField(max_length=64, blank=True)
    source_installation = models.CharField(max_length=300, blank=True)
    # The kit's manifest as imported: its versions, runs (lineage) and consent hashes stay readable here.
    manifest = models.JSONField(default=dict)
    clips_total = models.PositiveIntegerField(default=0)
    clips_done = models.PositiveIntegerField(default=0)
    # Clips whose audio did not decode: [{"id": kit id, "reason": ...}]; they are not imported.
    rejected = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Kit import of {self.voice.name} ({self.status})"

    @property
    def progress(self) -> float:
        return 1.0 if not self.clips_total else round(self.clips_done / self.clips_total, 3)


class ImportedClip(models.Model):
    """A clip that came from a kit: its id in the kit and the facts that have no column on ClipSample."""

    kit_import = models.ForeignKey(VoiceKitImport, on_delete=models.CASCADE, related_name="clips")
    kit_id = models.CharField(max_length=64)
    clip = models.OneToOneField("clones.ClipSample", on_delete=models.CASCADE, related_name="kit_origin")
    # The number of the version that spoke it, in the installation the kit came from.
    source_version = models.PositiveIntegerField(null=True, blank=True)
    reviewed_by_label = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kit_import", "kit_id"], name="importedclip_unique_kit_id")]

    def __str__(self):
        return f"{self.kit_id} → clip {self.clip_id}"
