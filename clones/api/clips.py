"""Staff review API for clips: list with filters (cursor pagination), detail, review one, review many.

Non-staff callers get 403 on the collection endpoints and 404 on any clip: a clip is never visible
to them here (owners hear their replies through the messages API).
"""

from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from clones import selectors, services
from clones.models import ClipSample
from voiceclone.api import MAX_ID, CreatedCursorPagination, QueryParametersSerializer
from voiceclone.audio_response import audio_response
from voiceclone.openapi import AUDIO_HEADERS, audio_responses

# --- serializers -----------------------------------------------------------------------------------------


class ClipOutputSerializer(serializers.ModelSerializer):
    voice_name = serializers.CharField(source="voice.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True, allow_null=True, default=None)
    reviewed_by = serializers.CharField(source="reviewed_by.username", read_only=True, allow_null=True, default=None)
    conversation_id = serializers.SerializerMethodField()
    message_id = serializers.SerializerMethodField()
    used_in_runs = serializers.IntegerField(read_only=True, help_text="Retrain runs (any state) that include the clip.")
    is_used = serializers.BooleanField(read_only=True, help_text="Part of a promoted retrain run.")
    audio_url = serializers.SerializerMethodField()

    class Meta:
        model = ClipSample
        fields = [
            "id", "voice", "voice_name", "source", "version", "text", "duration_s", "sample_rate", "size_bytes",
            "sha256", "content_type", "loudness_lufs", "peak_dbfs", "clipping_ratio", "leading_silence_s",
            "trailing_silence_s", "speech_ratio", "snr_db", "pitch_median_hz", "pitch_range_st",
            "energy_range_db", "speaking_rate_cps", "quality_score", "quality_flags", "analysed_at",
            "lineage_depth", "review_status", "review_reason", "reviewed_by", "reviewed_at", "conversation_id",
            "message_id", "used_in_runs", "is_used", "provider_request_id", "character_cost", "audio_url",
            "created_at",
        ]
        read_only_fields = fields

    def _message(self, obj):
        return getattr(obj, "message", None) if obj.source == ClipSample.Source.GENERATED else None

    def get_conversation_id(self, obj) -> str | None:
        message = self._message(obj)
        return str(message.conversation_id) if message else None

    def get_message_id(self, obj) -> str | None:
        message = self._message(obj)
        return str(message.pk) if message else None

    def get_audio_url(self, obj) -> str | None:
        request = self.context.get("request")
        if not obj.file or request is None:
            return None
        from django.urls import reverse

        # The router may be included under a namespace (it is: "api"); follow the request's.
        namespace = getattr(getattr(request, "resolver_match", None), "namespace", "")
        name = f"{namespace}:clip-audio" if namespace else "clip-audio"
        return request.build_absolute_uri(reverse(name, args=[obj.pk]))


class ClipFilterInputSerializer(QueryParametersSerializer):
    voice = serializers.UUIDField(required=False)
    source = serializers.ChoiceField(choices=ClipSample.Source.choices, required=False)
    review_status = serializers.ChoiceField(choices=ClipSample.ReviewStatus.choices, required=False)
    flag = serializers.ChoiceField(
        choices=["none", "any", *selectors.QUALITY_FLAGS], required=False,
        help_text="A quality flag, `none` (analysed, no flags) or `any`.",
    )
    used = serializers.BooleanField(required=False, allow_null=True, default=None,
                                    help_text="Part of a promoted retrain run.")
    analysed = serializers.BooleanField(required=False, allow_null=True, default=None)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    min_score = serializers.FloatField(required=False, min_value=0, max_value=100)
    max_score = serializers.FloatField(required=False, min_value=0, max_value=100)
    q = serializers.CharField(required=False, max_length=200, help_text="Search in the clip's text.")


class ClipReviewInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ClipSample.ReviewStatus.choices)
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=255,
        help_text="Required to reject. A reason code (" + ", ".join(services.REJECT_REASON_CODES) + ") or free text.",
    )


class ClipBulkReviewInputSerializer(ClipReviewInputSerializer):
    # Ids are 64-bit: a larger number is a 400, not a database overflow.
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID), min_length=1,
                                max_length=settings.CLIP_BULK_REVIEW_MAX_IDS)


class ClipBulkReviewOutputSerializer(serializers.Serializer):
    updated = serializers.IntegerField()
    skipped_ids = serializers.ListField(child=serializers.IntegerField(),
                                        help_text="Missing clips and clips that are not generated.")


class ClipReanalyseOutputSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Clips queued for analysis (1).")


# --- views -------------------------------------------------------------------------------------------------

_FILTER_PARAMETERS = ClipFilterInputSerializer


@extend_schema_view(
    list=extend_schema(summary="List clips for review (staff)", parameters=[_FILTER_PARAMETERS],
                       responses={200: ClipOutputSerializer(many=True), 403: OpenApiResponse(description="Not staff")}),
    retrieve=extend_schema(summary="Get a clip (staff)", responses={200: ClipOutputSerializer,
                                                                    404: OpenApiResponse(description="Not found")}),
)
class ClipViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ClipOutputSerializer
    pagination_class = CreatedCursorPagination
    lookup_value_regex = r"\d+"
    staff_only = True  # the schema says so (voiceclone.openapi)

    def _require_staff(self):
        if not self.request.user.is_staff:
            raise PermissionDenied("Clip review is for staff.")

    def get_queryset(self):
        if not self.request.user.is_staff:
            return ClipSample.objects.none()  # objects: 404, the same as a missing clip
        filters = {}
        if self.action == "list":
            serializer = ClipFilterInputSerializer(data=self.request.query_params)
            serializer.is_valid(raise_exception=True)
            filters = serializer.validated_data
        return selectors.clip_list_for_staff(filters=filters)

    def list(self, request, *args, **kwargs):
        self._require_staff()
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Review a clip (staff)", request=ClipReviewInputSerializer,
        responses={200: ClipOutputSerializer, 400: OpenApiResponse(description="Invalid decision"),
                   404: OpenApiResponse(description="Not found"),
                   409: OpenApiResponse(description="Not a generated clip (code not_reviewable)")},
    )
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        clip = self.get_object()
        serializer = ClipReviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.clip_review(clip=clip, reviewer=request.user, **serializer.validated_data)
        return Response(self.get_serializer(selectors.clip_get_for_staff(clip_id=clip.pk)).data)

    @extend_schema(
        summary="Review many clips at once (staff)", request=ClipBulkReviewInputSerializer,
        responses={200: ClipBulkReviewOutputSerializer, 400: OpenApiResponse(description="Invalid decision"),
                   403: OpenApiResponse(description="Not staff")},
    )
    @action(detail=False, methods=["post"], url_path="bulk-review")
    def bulk_review(self, request):
        self._require_staff()
        serializer = ClipBulkReviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = services.clips_bulk_review(
            clip_ids=data["ids"], reviewer=request.user, status=data["status"], reason=data["reason"]
        )
        return Response({"updated": result.updated, "skipped_ids": result.skipped_ids})

    @extend_schema(summary="Re-run quality analysis of a clip (staff)", request=None,
                   responses={202: ClipReanalyseOutputSerializer, 404: OpenApiResponse(description="Not found")})
    @action(detail=True, methods=["post"])
    def reanalyse(self, request, pk=None):
        clip = self.get_object()
        with transaction.atomic():
            services.clips_reanalyse(clip_ids=[clip.pk])
        return Response({"queued": 1}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="The clip's audio (staff; HTTP Range supported)", parameters=AUDIO_HEADERS,
                   responses={**audio_responses("audio/*"), 404: OpenApiResponse(description="Not found")})
    @action(detail=True, methods=["get"], url_path="audio", url_name="audio")
    def audio(self, request, pk=None):
        clip = self.get_object()
        services.voice_audio_refuse_if_locked(clip.voice)
        if not clip.file:
            from django.http import Http404

            raise Http404
        return audio_response(request, name=clip.file.name, content_type=clip.content_type or "audio/mpeg")
