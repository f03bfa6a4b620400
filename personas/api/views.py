"""Persona API under a voice: versions (and rollback), drafts refined from conversations."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from clones import selectors as clone_selectors
from clones.models import Voice
from personas import selectors, services
from personas.models import PersonaDraft, PersonaVersion

from .serializers import PersonaDraftAcceptInputSerializer, PersonaDraftOutputSerializer, PersonaVersionOutputSerializer


def _voice(request, pk) -> Voice:
    try:
        return clone_selectors.voice_get_for_user(user=request.user, voice_id=pk)
    except Voice.DoesNotExist:
        raise NotFound() from None


def _draft(request, pk, draft_id) -> PersonaDraft:
    try:
        return selectors.persona_drafts_for_voice(voice=_voice(request, pk)).get(pk=draft_id)
    except PersonaDraft.DoesNotExist:
        raise NotFound() from None


class PersonaVersionListView(APIView):
    @extend_schema(summary="Persona versions of a voice, newest first (owner or staff)",
                   responses=PersonaVersionOutputSerializer(many=True))
    def get(self, request, pk):
        voice = _voice(request, pk)
        services.persona_history_ensure(voice=voice)
        return Response(PersonaVersionOutputSerializer(selectors.persona_versions_for_voice(voice=voice), many=True).data)


class PersonaRollbackView(APIView):
    @extend_schema(summary="Make an earlier persona version current again (a new `rollback` version)",
                   request=None, responses={200: PersonaVersionOutputSerializer, 404: OpenApiResponse(description="No such version")})
    def post(self, request, pk, number):
        voice = _voice(request, pk)
        try:
            version = services.persona_rollback(voice=voice, number=number, by=request.user)
        except PersonaVersion.DoesNotExist:
            raise NotFound("No such persona version.") from None
        return Response(PersonaVersionOutputSerializer(version).data)


class PersonaDraftListView(APIView):
    @extend_schema(summary="Persona drafts of a voice, newest first", responses=PersonaDraftOutputSerializer(many=True))
    def get(self, request, pk):
        drafts = selectors.persona_drafts_for_voice(voice=_voice(request, pk))[:50]
        return Response(PersonaDraftOutputSerializer(drafts, many=True).data)

    @extend_schema(
        summary="Draft an improved persona from recent conversations (written in the background)",
        description="The reply engine writes the draft: a language model when one is configured, otherwise a "
                    "deterministic offline draft from conversation statistics (`is_offline`). Poll the draft "
                    "until `status` is `pending`, then accept (optionally edited) or discard it. 409 "
                    "`draft_open` while another draft is open.",
        request=None, responses={202: PersonaDraftOutputSerializer, 409: OpenApiResponse(description="A draft is open")},
    )
    def post(self, request, pk):
        draft = services.persona_draft_request(voice=_voice(request, pk), by=request.user)
        draft.refresh_from_db()
        return Response(PersonaDraftOutputSerializer(draft).data, status=status.HTTP_202_ACCEPTED)


class PersonaDraftDetailView(APIView):
    @extend_schema(summary="A persona draft with its diff", responses=PersonaDraftOutputSerializer)
    def get(self, request, pk, draft_id):
        return Response(PersonaDraftOutputSerializer(_draft(request, pk, draft_id)).data)


class PersonaDraftAcceptView(APIView):
    @extend_schema(summary="Accept a draft (or your edit of it): the persona becomes a new version",
                   request=PersonaDraftAcceptInputSerializer,
                   responses={200: PersonaVersionOutputSerializer, 409: OpenApiResponse(description="Not pending, or the persona changed")})
    def post(self, request, pk, draft_id):
        draft = _draft(request, pk, draft_id)
        serializer = PersonaDraftAcceptInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = services.persona_draft_accept(draft=draft, by=request.user, text=serializer.validated_data.get("text"))
        return Response(PersonaVersionOutputSerializer(version).data)


class PersonaDraftDiscardView(APIView):
    @extend_schema(summary="Discard a draft; the persona stays as it is", request=None,
                   responses={200: PersonaDraftOutputSerializer,
                              409: OpenApiResponse(description="The draft was already decided")})
    def post(self, request, pk, draft_id):
        draft = services.persona_draft_discard(draft=_draft(request, pk, draft_id), by=request.user)
        return Response(PersonaDraftOutputSerializer(draft).data)
