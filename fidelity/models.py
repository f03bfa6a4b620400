"""Perceptual fingerprints of generated audio (the lineage guard, docs/fidelity.md)."""

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
