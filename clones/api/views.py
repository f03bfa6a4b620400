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
from voiceclone.validators import is_uuid

from .serializers import (
    ConsentAcceptInputSerializer,
    ConsentLinkInputSerializer,
    ConsentLinkOutputSerializer,
    ConsentPhraseOutputSerializer,
    ConsentPhraseQuerySerializer,
    ConsentRecordOutputSerializer,
    ConsentRevokeInputSerializer,
    ConsentStatementSerializer,
    VoiceHardDeleteOutputSerializer,
    VoiceCreatedOutputSerializer,
    VoiceCreateInputSerializer,
    VoiceOutputSerializer,
    VoiceUpdateInputSerializer,
    VoiceVersionOutputSerializer,
)


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def consented_upload_kwargs(request, data: dict) -> dict:
    """The recordings, the consent, its optional recording and who gave it (`ConsentedRecordingsInputSerializer`'s
    validated data), as creating a voice and adding originals take them."""
    recording = data.get("consent_recording")
    return {
        "samples": [services.SampleUpload.from_uploaded_file(f) for f in data["samples"]],
        "consent": data["consent"],
        "speaker_name": data.get("speaker_name", ""),
        "ip_address": client_ip(request),
        "user_agent": request.headers.get("User-Agent", ""),
        "consent_recording": services.SampleUpload.from_uploaded_file(recording) if recording else None,
        "consent_token": data.get("consent_token", ""),
    }


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
    staff_only_actions = ("rollback", "erase")  # the schema says so (voiceclone.openapi)

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
            if self.action not in self.READ_ACTIONS and is_uuid(lookup) and selectors.voice_list_visible_for_user(
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
            **consented_upload_kwargs(request, data),
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

    @extend_schema(
        summary="A consent phrase for the speaker to read aloud (names, date, one-time code)",
        description="Record the speaker reading `phrase` and send the recording as `consent_recording` with "
                    "`consent_token` when creating the voice or adding originals. The token expires after "
                    "CONSENT_PHRASE_MAX_AGE_S and is accepted once.",
        parameters=[ConsentPhraseQuerySerializer], responses={200: ConsentPhraseOutputSerializer},
    )
    @action(detail=False, methods=["get"], url_path="consent-phrase")
    def consent_phrase(self, request):
        params = ConsentPhraseQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        phrase = services.consent_phrase_issue(speaker_name=params.validated_data["speaker_name"],
                                               voice_name=params.validated_data["name"])
        return Response({"phrase": phrase.phrase, "token": phrase.token,
                         "expires_in_s": settings.CONSENT_PHRASE_MAX_AGE_S})

    @extend_schema(summary="The voice's consent records, with the checks of their recordings",
                   responses={200: ConsentRecordOutputSerializer(many=True)})
    @action(detail=True, methods=["get"], url_path="consents")
    def consents(self, request, pk=None):
        voice = self.get_object()
        return Response(ConsentRecordOutputSerializer(voice.consents.order_by("created_at", "id"), many=True).data)

    @extend_schema(
        summary="Accept a consent recording whose check failed, after listening to it (staff)",
        description="The record keeps its check and scores and gains `accepted_at` and the reviewer's `note`; an "
                    "audit entry `consent.accepted` is written, and a voice `held` for consent review is released "
                    "(cloned now, or speaking again). 403 for non-staff, 409 `consent_not_reviewable` for a record "
                    "whose check passed, is still running, or that is revoked.",
        request=ConsentAcceptInputSerializer,
        responses={200: ConsentRecordOutputSerializer, 403: OpenApiResponse(description="Staff only")},
    )
    @action(detail=True, methods=["post"], url_path=r"consents/(?P<consent_id>[0-9]+)/accept")
    def consent_accept(self, request, pk=None, consent_id=None):
        voice = self.get_object()
        if not request.user.is_staff:
            raise PermissionDenied("Accepting a consent recording is for staff.")
        record = voice.consents.filter(pk=consent_id).first()
        if record is None:
            raise Http404("No such consent record.")
        serializer = ConsentAcceptInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = services.consent_accept(record=record, by=request.user, note=serializer.validated_data["note"])
        return Response(ConsentRecordOutputSerializer(record).data)

    @extend_schema(
        summary="Revoke the speaker's consent (owner or staff); irreversible",
        description="The voice becomes `revoked`: open retrain runs are cancelled, every provider version is "
                    "deleted in the background (retried until the provider confirms), its audio answers 410 "
                    "(purged with CONSENT_REVOKE_PURGE), its conversations are read-only (409), a "
                    "`voice.consent_revoked` event is written. The consent records and audit entries stay. "
                    "Repeating it answers the revoked voice again.",
        request=ConsentRevokeInputSerializer, responses={200: VoiceOutputSerializer},
    )
    @action(detail=True, methods=["post"], url_path="consent/revoke")
    def consent_revoke(self, request, pk=None):
        voice = self.get_object()
        serializer = ConsentRevokeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.consent_revoke(voice=voice, by=request.user, reason=serializer.validated_data["reason"])
        return Response(self.get_serializer(self.get_queryset().get(pk=voice.pk)).data)

    @extend_schema(
        summary="A signed, expiring link where a remote speaker records their consent (no account needed)",
        request=ConsentLinkInputSerializer, responses={201: ConsentLinkOutputSerializer},
    )
    @action(detail=True, methods=["post"], url_path="consent/link")
    def consent_link(self, request, pk=None):
        from django.urls import reverse

        voice = self.get_object()
        serializer = ConsentLinkInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = services.consent_link_issue(voice=voice, speaker_name=serializer.validated_data["speaker_name"],
                                            by=request.user)
        url = request.build_absolute_uri(reverse("consent-remote", kwargs={"token": token}))
        return Response({"url": url, "expires_in_s": settings.CONSENT_LINK_MAX_AGE_S}, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Erase a voice for a data-subject request (staff): provider voices, files and rows",
        description="Revokes consent first if needed, deletes every provider version now (503 when the provider "
                    "cannot; nothing local is removed then), then every file and row of the voice. The consent "
                    "records and audit entries stay. Answers what was removed.",
        request=None, responses={200: VoiceHardDeleteOutputSerializer, 403: OpenApiResponse(description="Staff only"),
                                 **PROVIDER_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def erase(self, request, pk=None):
        voice = self.get_object()
        if not request.user.is_staff:
            raise PermissionDenied("Erasing a voice is for staff.")
        return Response(services.voice_hard_delete(voice=voice, by=request.user))
