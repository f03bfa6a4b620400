import uuid

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from clones import selectors, services
from clones.models import Voice
from retraining.api.serializers import VoiceRollbackInputSerializer
from voiceclone.openapi import PROVIDER_ERRORS
from voiceclone.parsers import JSONParser

from .serializers import (
    ConsentStatementSerializer,
    VoiceCreatedOutputSerializer,
    VoiceCreateInputSerializer,
    VoiceOutputSerializer,
    VoiceUpdateInputSerializer,
    VoiceVersionOutputSerializer,
)


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


@extend_schema_view(
    list=extend_schema(summary="List voices: your own and those shared with every user (staff see all)"),
    retrieve=extend_schema(summary="Get a voice",
                           description="A disabled (deleted) voice still answers, with `status: disabled`: "
                                       "its conversations and stored replies are kept and refer to it."),
    destroy=extend_schema(
        summary="Disable a voice (soft delete)",
        description="The voice stops answering and cannot be changed; it stays readable with `status: disabled` "
                    "(its conversations, stored replies and clips are kept), and a repeated DELETE answers 204 "
                    "again. Its provider voices are freed by the cleanup.",
        responses={204: None},
    ),
)
class VoiceViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    serializer_class = VoiceOutputSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"
    staff_only_actions = ("rollback",)  # the schema says so (voiceclone.openapi)

    # Reading is open to every voice the user can chat with (their own and shared ones); every other
    # action needs a voice the user manages.
    READ_ACTIONS = ("list", "retrieve")

    def get_queryset(self):
        if self.action in self.READ_ACTIONS:
            return selectors.voice_list_visible_for_user(user=self.request.user)
        return selectors.voice_list_for_user(user=self.request.user)

    def get_object(self):
        try:
            return super().get_object()
        except Http404:
            # A shared voice the caller can see but not manage: say so rather than pretend it is gone.
            lookup = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
            if self.action not in self.READ_ACTIONS and _is_uuid(lookup) and selectors.voice_list_visible_for_user(
                user=self.request.user
            ).filter(pk=lookup).exists():
                raise PermissionDenied("This voice is shared with you for chatting only; its owner and staff manage it.")
            raise

    @extend_schema(
        summary="Create a voice clone from consented recordings",
        request={"multipart/form-data": VoiceCreateInputSerializer},
        responses={202: VoiceCreatedOutputSerializer,
                   400: OpenApiResponse(description="Per-field errors (`errors.samples` names each refused file), "
                                                    "or `consent_missing`")},
    )
    def create(self, request):
        serializer = VoiceCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        voice = services.voice_create(
            owner=request.user,
            name=data["name"],
            persona=data["persona"],
            language=data.get("language") or "en",
            samples=[services.SampleUpload.from_uploaded_file(f) for f in data["samples"]],
            consent=data["consent"],
            speaker_name=data.get("speaker_name", ""),
            ip_address=client_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
        )
        return Response({"id": voice.pk, "status": voice.status}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="Rename a voice or change its persona", request=VoiceUpdateInputSerializer)
    def partial_update(self, request, pk=None):
        voice = self.get_object()
        serializer = VoiceUpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        voice = services.voice_update(voice=voice, by=request.user, **serializer.validated_data)
        return Response(self.get_serializer(voice).data)

    @extend_schema(summary="Rename a voice or change its persona", request=VoiceUpdateInputSerializer)
    def update(self, request, pk=None):
        return self.partial_update(request, pk)

    def perform_destroy(self, instance: Voice):
        services.voice_disable(voice=instance)

    @extend_schema(summary="Retry creating a voice whose creation failed", request=None,
                   responses={202: VoiceOutputSerializer,
                              409: OpenApiResponse(description="Only a voice whose creation failed can be retried")})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        voice = services.voice_retry(voice=self.get_object())
        return Response(self.get_serializer(voice).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="List the provider versions behind a voice",
                   responses={200: VoiceVersionOutputSerializer(many=True),
                              403: OpenApiResponse(description="A voice shared with you: only its owner and staff "
                                                               "see its versions")})
    @action(detail=True, methods=["get"])
    def versions(self, request, pk=None):
        voice = self.get_object()
        return Response(VoiceVersionOutputSerializer(voice.versions.order_by("number"), many=True).data)

    @extend_schema(summary="The consent statement a speaker agrees to", responses=ConsentStatementSerializer)
    @action(detail=False, methods=["get"], url_path="consent-statement")
    def consent_statement(self, request):
        return Response({"version": settings.CONSENT_STATEMENT_VERSION, "text": services.CONSENT_STATEMENT})

    @extend_schema(
        summary="Re-activate an archived version of the voice (staff); the voice id never changes",
        description="The version must still exist at the provider (checked first). Writes a "
                    "`voice.version_rolled_back` event. 409 when the version is not archived or is gone.",
        request=VoiceRollbackInputSerializer,
        responses={200: VoiceOutputSerializer, 403: OpenApiResponse(description="Staff only"),
                   409: OpenApiResponse(description="The version cannot be re-activated"), **PROVIDER_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        from retraining.services import voice_version_rollback

        voice = self.get_object()
        if not request.user.is_staff:
            raise PermissionDenied("Rolling a voice back is for staff.")
        serializer = VoiceRollbackInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        voice_version_rollback(voice=voice, number=serializer.validated_data["version"], by=request.user)
        voice = self.get_queryset().get(pk=voice.pk)
        return Response(self.get_serializer(voice).data)
