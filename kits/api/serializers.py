from rest_framework import serializers

from clones.api.serializers import VoiceOutputSerializer
from kits.models import VoiceKitImport
from voiceclone.fields import OneFileField


class KitImportInputSerializer(serializers.Serializer):
    kit = OneFileField(help_text="A voice kit zip exported by voiceclone (this or another installation).")
    consent = serializers.BooleanField(
        help_text="Must be true: the speaker in the kit's originals consents to the consent statement "
                  "(GET /api/v1/voices/consent-statement/); the voice is cloned again from them."
    )
    speaker_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="",
                                 help_text="A new name for the voice; default: the kit's.")


class KitImportOutputSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True)

    class Meta:
        model = VoiceKitImport
        fields = ["id", "status", "kit_sha256", "kit_bytes", "source_voice_id", "source_installation",
                  "clips_total", "clips_done", "progress", "rejected", "error", "created_at", "finished_at"]


class KitImportedOutputSerializer(serializers.Serializer):
    voice = VoiceOutputSerializer()
    kit_import = KitImportOutputSerializer()
