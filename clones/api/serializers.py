from django.conf import settings
from rest_framework import serializers

from clones.models import Voice, VoiceVersion
from voiceclone.fields import OneFileField
from voiceclone.validators import plain_text_line, plain_text_multiline


class VoiceVersionSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = VoiceVersion
        fields = ["number", "created_at"]


class VoiceVersionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = VoiceVersion
        fields = ["number", "state", "created_at", "archived_at", "deleted_at"]


class VoiceOutputSerializer(serializers.ModelSerializer):
    """A voice as its owner, staff, or (for a shared voice) any user sees it. Needs the request in the
    context: `is_owner` and `owner` depend on who asks."""

    current_version = VoiceVersionSummarySerializer(read_only=True)
    owner = serializers.SerializerMethodField(
        help_text="The owner's username; null on a shared voice you do not own (owners stay private)."
    )
    is_shared = serializers.BooleanField(
        read_only=True, help_text="Shared by staff with every user: anyone can start a conversation with it."
    )
    is_owner = serializers.SerializerMethodField(
        help_text="You own this voice. False on a shared voice: you can chat with it, not change it."
    )

    class Meta:
        model = Voice
        fields = [
            "id", "name", "persona", "language", "status", "failure_reason", "hold_reason", "current_version",
            "owner", "is_shared", "is_owner", "created_at", "updated_at",
        ]

    def _user(self):
        request = self.context.get("request")
        return getattr(request, "user", None)

    def get_is_owner(self, obj) -> bool:
        user = self._user()
        return bool(user is not None and obj.owner_id == user.pk)

    def get_owner(self, obj) -> str | None:
        user = self._user()
        if user is not None and (user.is_staff or obj.owner_id == user.pk):
            return obj.owner.username
        return None


class ConsentedRecordingsInputSerializer(serializers.Serializer):
    """What every upload of a speaker's recordings carries: their consent and, optionally, its recording.
    Creating a voice (below) and adding originals (`clones.api.originals`) take these fields."""

    consent = serializers.BooleanField(
        help_text="Must be true: the speaker consents to the consent statement (GET /api/v1/voices/consent-statement/)."
    )
    speaker_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="",
                                         validators=[plain_text_line])
    samples = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        min_length=1,
        help_text="1–25 recordings of the speaker (WAV, MP3, OGG, WebM or M4A), repeated field.",
    )
    consent_recording = OneFileField(required=False, allow_empty_file=True, help_text=(
        "The speaker reading the consent phrase (GET /api/v1/voices/consent-phrase/), with `consent_token`. "
        "Optional unless the installation sets CONSENT_RECORDING_REQUIRED=true."))
    consent_token = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000,
                                          help_text="The `token` that came with the consent phrase the recording reads.")


class VoiceCreateInputSerializer(ConsentedRecordingsInputSerializer):
    name = serializers.CharField(max_length=100, validators=[plain_text_line])
    persona = serializers.CharField(max_length=4000, validators=[plain_text_multiline])
    language = serializers.CharField(max_length=16, required=False, allow_blank=True, default="en")

    def validate_samples(self, value):
        if len(value) > settings.VOICE_MAX_SAMPLES:
            raise serializers.ValidationError(f"Upload at most {settings.VOICE_MAX_SAMPLES} recordings.")
        return value


class VoiceUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, validators=[plain_text_line])
    persona = serializers.CharField(max_length=4000, required=False, validators=[plain_text_multiline])


class VoiceCreatedOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()


class ConsentStatementSerializer(serializers.Serializer):
    version = serializers.CharField()
    text = serializers.CharField()



class ConsentPhraseQuerySerializer(serializers.Serializer):
    speaker_name = serializers.CharField(max_length=200, validators=[plain_text_line],
                                         help_text="The person whose voice is cloned.")
    name = serializers.CharField(max_length=100, validators=[plain_text_line], help_text="The voice's name.")


class ConsentPhraseOutputSerializer(serializers.Serializer):
    phrase = serializers.CharField(help_text="What the speaker reads aloud: names, date and a one-time code.")
    token = serializers.CharField(help_text="Send back as `consent_token` with the recording.")
    expires_in_s = serializers.IntegerField()


class ConsentRevokeInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, default="", validators=[plain_text_line],
                                   help_text="Why consent was withdrawn (kept on the consent records); leave out if none.")


class ConsentLinkInputSerializer(serializers.Serializer):
    speaker_name = serializers.CharField(max_length=200, validators=[plain_text_line])


class ConsentLinkOutputSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="Send it to the speaker: no account needed to record consent there.")
    expires_in_s = serializers.IntegerField()


class ConsentRecordOutputSerializer(serializers.ModelSerializer):
    class Meta:
        from clones.models import ConsentRecord

        model = ConsentRecord
        fields = ["id", "speaker_name", "method", "statement_version", "phrase", "check_status", "transcript",
                  "phrase_wer", "speaker_similarity", "check_detail", "checked_at", "accepted_at", "accept_note",
                  "revoked_at", "revoke_reason", "created_at"]
        read_only_fields = fields


class ConsentAcceptInputSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=500, validators=[plain_text_line],
                                 help_text="What the reviewer heard (kept with the acceptance and audited).")


class VoiceHardDeleteOutputSerializer(serializers.Serializer):
    voice = serializers.UUIDField()
    voice_name = serializers.CharField()
    provider_voices_deleted = serializers.ListField(child=serializers.CharField())
    files_deleted = serializers.IntegerField()
    rows_deleted = serializers.DictField(child=serializers.IntegerField())
    consent_records_kept = serializers.ListField(child=serializers.IntegerField())
