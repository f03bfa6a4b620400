"""A voice's original recordings (issue 14, item 3): list, add with consent, retire, restore, listen.

`/api/v1/voices/{voice_id}/originals/`, for the voice's owner and staff; another user's voice is 404.
Every write goes through `clones.services` (same validation and consent rules as creating a voice).
"""

from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from clones import selectors, services
from clones.models import ClipSample, Voice
from voiceclone.audio_response import audio_response
from voiceclone.openapi import AUDIO_HEADERS, audio_responses
from voiceclone.parsers import JSONParser

from .serializers import ConsentedRecordingsInputSerializer
from .views import consented_upload_kwargs

VOICE_ID = OpenApiParameter("voice_id", str, location="path", description="The voice (UUID).")


class OriginalOutputSerializer(serializers.ModelSerializer):
    is_retired = serializers.BooleanField(read_only=True)
    consent_statement_version = serializers.CharField(source="consent.statement_version", read_only=True,
                                                      allow_null=True, default=None)
    audio_url = serializers.SerializerMethodField()

    class Meta:
        model = ClipSample
        fields = ["id", "original_filename", "duration_s", "sample_rate", "size_bytes", "content_type",
                  "quality_score", "quality_flags", "analysed_at", "is_retired", "retired_at",
                  "consent_statement_version", "audio_url", "created_at"]
        read_only_fields = fields

    def get_audio_url(self, obj) -> str | None:
        request = self.context.get("request")
        if request is None or not obj.file:
            return None
        return request.build_absolute_uri(
            reverse("api:voice-original-audio", kwargs={"voice_id": obj.voice_id, "pk": obj.pk})
        )


class OriginalsAddInputSerializer(ConsentedRecordingsInputSerializer):
    """The consent, its optional recording and 1–VOICE_MAX_SAMPLES recordings (the service counts them)."""


class OriginalsAddedOutputSerializer(serializers.Serializer):
    voice = serializers.UUIDField()
    originals = OriginalOutputSerializer(many=True)


class VoiceOriginalViewSet(viewsets.GenericViewSet):
    """The consented recordings a voice is (re)cloned from."""

    serializer_class = OriginalOutputSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    pagination_class = None
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        try:
            return selectors.originals_for_user(user=self.request.user, voice_id=self.kwargs["voice_id"])
        except (Voice.DoesNotExist, ValueError, KeyError):
            raise Http404("No such voice.") from None

    def _voice(self) -> Voice:
        try:
            return selectors.voice_get_for_user(user=self.request.user, voice_id=self.kwargs["voice_id"])
        except (Voice.DoesNotExist, ValueError):
            raise Http404("No such voice.") from None

    @extend_schema(summary="List a voice's original recordings (retired ones included)", parameters=[VOICE_ID],
                   responses={200: OriginalOutputSerializer(many=True), 404: OpenApiResponse(description="No such voice")})
    def list(self, request, voice_id=None):
        return Response(OriginalOutputSerializer(self.get_queryset(), many=True, context={"request": request}).data)

    @extend_schema(
        summary="Add consented recordings of the speaker to an existing voice",
        description="Same validation and consent rules as creating a voice; one consent record per batch. The "
                    "recordings are analysed in the background and count from the next retrain or re-clone. "
                    "400 `consent_missing` without consent, 409 for a disabled voice.",
        parameters=[VOICE_ID], request={"multipart/form-data": OriginalsAddInputSerializer},
        responses={202: OriginalsAddedOutputSerializer, 400: OpenApiResponse(description="Per-file errors or "
                                                                                         "consent missing"),
                   404: OpenApiResponse(description="No such voice"), 409: OpenApiResponse(description="Disabled")},
    )
    def create(self, request, voice_id=None):
        voice = self._voice()
        serializer = OriginalsAddInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        originals = services.voice_originals_add(
            voice=voice,
            by=request.user,
            **consented_upload_kwargs(request, data),
        )
        rows = self.get_queryset().filter(pk__in=[o.pk for o in originals])
        body = {"voice": voice.pk, "originals": OriginalOutputSerializer(rows, many=True,
                                                                         context={"request": request}).data}
        return Response(body, status=status.HTTP_202_ACCEPTED)

    def _original(self, pk) -> ClipSample:
        try:
            return self.get_queryset().get(pk=int(pk))
        except (ClipSample.DoesNotExist, ValueError, TypeError):
            raise Http404("No such original.") from None

    @extend_schema(summary="Retire an original: kept, but never selected for a retrain again", request=None,
                   parameters=[VOICE_ID], responses={200: OriginalOutputSerializer,
                                                     404: OpenApiResponse(description="Not found")})
    @action(detail=True, methods=["post"])
    def retire(self, request, voice_id=None, pk=None):
        clip = services.original_retire(clip=self._original(pk), by=request.user)
        return Response(OriginalOutputSerializer(clip, context={"request": request}).data)

    @extend_schema(summary="Restore a retired original", request=None, parameters=[VOICE_ID],
                   responses={200: OriginalOutputSerializer, 404: OpenApiResponse(description="Not found")})
    @action(detail=True, methods=["post"])
    def restore(self, request, voice_id=None, pk=None):
        clip = services.original_restore(clip=self._original(pk), by=request.user)
        return Response(OriginalOutputSerializer(clip, context={"request": request}).data)

    @extend_schema(summary="The original recording's audio (owner and staff; HTTP Range supported)",
                   parameters=[VOICE_ID, *AUDIO_HEADERS],
                   responses={**audio_responses("audio/*", "application/octet-stream"),
                              404: OpenApiResponse(description="Not found")})
    @action(detail=True, methods=["get"])
    def audio(self, request, voice_id=None, pk=None):
        clip = self._original(pk)
        services.voice_audio_refuse_if_locked(clip.voice)
        if not clip.file:
            raise Http404("No audio stored.")
        return audio_response(request, name=clip.file.name, content_type=clip.content_type or "audio/mpeg")
