"""The cost ledger: what each provider call consumed, per voice, user and day (issue 15 item 5)."""

from django.conf import settings
from django.db import models


class UsageEntry(models.Model):
    """One billed provider call. Written by the provider adapter's usage report (never by hand).

    Outlives its voice and user (SET_NULL), keeping the voice's id in `voice_ref`. A reply that reuses a stored
    render calls no provider and writes no entry.
    """

    class Kind(models.TextChoices):
        TTS = "tts", "Text to speech (reply)"
        STT = "stt", "Speech to text"
        PREVIEW = "preview", "Retrain preview"
        PROBE = "probe", "Probe"
        CONSENT_CHECK = "consent_check", "Consent recording check"

    day = models.DateField(db_index=True, help_text="UTC day of the call.")
    created_at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, db_index=True)
    operation = models.CharField(max_length=16, help_text="The provider operation: tts, tts_stream or stt.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    voice = models.ForeignKey("clones.Voice", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    voice_ref = models.UUIDField(null=True, blank=True, db_index=True)
    characters = models.PositiveIntegerField(default=0)
    audio_s = models.FloatField(null=True, blank=True)
    provider_voice_id = models.CharField(max_length=64, blank=True)
    provider_request_id = models.CharField(max_length=64, blank=True)
    model_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "usage entry"
        verbose_name_plural = "usage entries"
        indexes = [
            models.Index(fields=["user", "day"], name="usage_user_day_idx"),
            models.Index(fields=["voice", "day"], name="usage_voice_day_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.characters} chars on {self.day}"
