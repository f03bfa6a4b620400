from functools import cached_property

from django.core.validators import RegexValidator
from django.urls import reverse
from rest_framework import serializers

from conversations.models import Conversation, Message
from voiceclone import replies
from voiceclone.fields import OneFileField
from voiceclone.validators import plain_text_line


class ConversationOutputSerializer(serializers.ModelSerializer):
    voice_name = serializers.CharField(source="voice.name", read_only=True)

    class Meta:
        model = Conversation
        fields = ["id", "voice", "voice_name", "title", "is_archived", "created_at", "updated_at"]


class ConversationCreateInputSerializer(serializers.Serializer):
    voice = serializers.UUIDField()
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="",
                                  validators=[plain_text_line])


class ConversationUpdateInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, validators=[plain_text_line])
    is_archived = serializers.BooleanField(required=False)


_PK_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
_DATETIME = serializers.DateTimeField()


class MessageOutputSerializer(serializers.ModelSerializer):
    audio_url = serializers.SerializerMethodField()
    stream_url = serializers.SerializerMethodField(
        help_text="A reply's audio while it is spoken (`GET …/stream/`); null for your own messages and failed replies.")
    audio_sha256 = serializers.CharField(
        read_only=True, allow_null=True,
        help_text="SHA-256 (hex) of the reply's audio (the bytes streamed are the bytes stored); given by "
                  "`GET /messages/{id}/` and the stream's `X-Audio-SHA256`, null in message lists.")
    voice_version = serializers.IntegerField(source="voice_version.number", read_only=True, default=None)
    is_ai_generated = serializers.SerializerMethodField()
    reply_engine_label = serializers.SerializerMethodField()
    is_retrying = serializers.BooleanField(
        read_only=True,
        help_text="A pending reply whose earlier attempt was interrupted (e.g. its worker stopped) and is being "
                  "produced again; it stays `pending` until it is `ready` or `failed`.",
    )

    class Meta:
        model = Message
        fields = [
            "id", "conversation", "role", "status", "is_retrying", "text", "input_kind", "failure_code",
            "failure_reason",
            "audio_url", "stream_url", "audio_sha256", "voice_version", "is_ai_generated", "reply_engine",
            "reply_engine_label",
            "stt_ms", "reply_ms", "tts_ms", "total_ms", "created_at", "completed_at",
        ]

    def get_audio_url(self, message) -> str | None:
        has_audio = message.clip_id is not None and message.status == Message.Status.READY
        if message.role == Message.Role.USER:
            has_audio = bool(message.user_audio)
        if not has_audio:
            return None
        return self._audio_url_pattern.replace(_PK_PLACEHOLDER, str(message.pk))

    @cached_property
    def _audio_url_pattern(self) -> str:
        # One reverse() and one absolute URI per serializer, not per message: a list serializer reuses
        # this child for every row (issue 13: a reverse() per row was a fifth of the list's CPU).
        url = reverse("api:message-audio", kwargs={"pk": _PK_PLACEHOLDER})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url

    def get_stream_url(self, message) -> str | None:
        if message.role != Message.Role.ASSISTANT or message.status == Message.Status.FAILED:
            return None
        return self._stream_url_pattern.replace(_PK_PLACEHOLDER, str(message.pk))

    @cached_property
    def _stream_url_pattern(self) -> str:
        url = reverse("api:message-stream", kwargs={"pk": _PK_PLACEHOLDER})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url

    @staticmethod
    def _audio_sha256(message) -> str | None:
        # Where the clip row is loaded (a message, a turn); lists join no clip (issue 13) and say null.
        if not message.clip_id or not Message.clip.is_cached(message):
            return None
        return message.clip.sha256 or None

    def get_is_ai_generated(self, message) -> bool:
        return message.role == Message.Role.ASSISTANT

    def to_representation(self, message):
        # The messages list's hot path (issue 13: ≈1 ms a row went to DRF's per-field dispatch). The common
        # fields are written out directly with the values their declared fields give (the schema still comes
        # from those); any other field, e.g. one added later, takes DRF's own path, in the declared order.
        version = message.voice_version
        known = {
            "id": str(message.pk),
            "conversation": message.conversation_id,
            "role": str(message.role),
            "status": str(message.status),
            "text": message.text,
            "input_kind": str(message.input_kind),
            "failure_code": message.failure_code,
            "failure_reason": message.failure_reason,
            "audio_url": self.get_audio_url(message),
            "stream_url": self.get_stream_url(message),
            "audio_sha256": self._audio_sha256(message),
            "voice_version": version.number if version is not None else None,
            "is_ai_generated": self.get_is_ai_generated(message),
            "reply_engine": message.reply_engine,
            "reply_engine_label": self.get_reply_engine_label(message),
            "stt_ms": message.stt_ms,
            "reply_ms": message.reply_ms,
            "tts_ms": message.tts_ms,
            "total_ms": message.total_ms,
            "created_at": _DATETIME.to_representation(message.created_at),
            "completed_at": _DATETIME.to_representation(message.completed_at) if message.completed_at else None,
        }
        result = {}
        for name, field in self._output_plan:
            if field is None:
                result[name] = known[name]
                continue
            attribute = field.get_attribute(message)
            result[name] = None if attribute is None else field.to_representation(attribute)
        return result

    _KNOWN = frozenset({
        "id", "conversation", "role", "status", "text", "input_kind", "failure_code", "failure_reason", "audio_url",
        "stream_url", "audio_sha256", "voice_version", "is_ai_generated", "reply_engine", "reply_engine_label",
        "stt_ms", "reply_ms", "tts_ms", "total_ms", "created_at", "completed_at",
    })

    @cached_property
    def _output_plan(self) -> list:
        """The readable fields in declared order, once per serializer (a list serializer's child serves every
        row): (name, None) for a field written directly, (name, field) for DRF's own path."""
        return [(f.field_name, None if f.field_name in self._KNOWN else f) for f in self._readable_fields]

    def get_reply_engine_label(self, message) -> str:
        return replies.engine_label(message.reply_engine) if message.reply_engine else ""


class MessageTextInputSerializer(serializers.Serializer):
    """A typed message (`application/json`)."""

    # Python's str.strip() also drops U+001C–U+001F, which JSON Schema's `\s` does not match; DRF refuses NUL
    # characters, so the pattern says so too.
    text = serializers.CharField(max_length=2000,
                                 validators=[RegexValidator(r"^[^\x00]*[^\s\x00\x1c-\x1f][^\x00]*$")],
                                 help_text="What you say; at least one character that is not a space.")


class MessageAudioInputSerializer(serializers.Serializer):
    """A spoken message (`multipart/form-data`): the recording is transcribed, then answered."""

    audio = OneFileField(help_text="A recording (WAV, MP3, OGG, WebM or M4A), at most UPLOAD_MAX_BYTES.")


class TurnOutputSerializer(serializers.Serializer):
    user_message = MessageOutputSerializer()
    assistant_message = MessageOutputSerializer()
