"""Voice kit API: export a voice, import a kit as a new voice, follow an import."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from clones import selectors
from clones.api.serializers import VoiceOutputSerializer
from clones.api.views import client_ip
from clones.models import Voice
from kits import services
from kits.models import VoiceKitImport
from voiceclone.openapi import zip_download
from voiceclone.streaming import streaming_download

from .serializers import KitImportedOutputSerializer, KitImportInputSerializer, KitImportOutputSerializer


def _voice(request, pk) -> Voice:
    try:
        return selectors.voice_get_for_user(user=request.user, voice_id=pk)
    except Voice.DoesNotExist:
        raise NotFound() from None


class VoiceKitExportView(APIView):
    @extend_schema(
        summary="Export a voice as a voice kit (zip, streamed; owner or staff)",
        description="Originals, approved clips, metadata.csv (LJSpeech style), manifest.json (voice, persona "
                    "versions, versions, lineage, review, metrics, consent hashes) and SHA256SUMS. "
                    "Content-Length is exact, so clients can show progress. See docs/voice-kits.md.",
        responses={**zip_download("The kit."),
                   404: OpenApiResponse(description="No such voice, or not yours")},
    )
    def get(self, request, pk):
        export = services.voice_kit_export(voice=_voice(request, pk), by=request.user)
        return streaming_download(request, iter(export), filename=export.filename, content_type="application/zip",
                                  size=export.size_bytes)


class VoiceKitImportView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Import a voice kit as a new voice (cloned again from its originals, with consent)",
        description="Validates the whole kit (zip safety, paths, sizes, checksums, manifest schema, metadata, "
                    "audio) and answers 400 with a `code` for the first failed check. The voice is created "
                    "like any other (status `creating`); its clips are imported in the background "
                    "(`kit_import.progress`, GET /api/v1/voices/{id}/import/).",
        request={"multipart/form-data": KitImportInputSerializer},
        responses={202: KitImportedOutputSerializer, 400: OpenApiResponse(description="Invalid kit")},
    )
    def post(self, request):
        serializer = KitImportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = services.voice_kit_import(
            owner=request.user, upload=data["kit"], consent=data["consent"], speaker_name=data["speaker_name"],
            name=data["name"], ip_address=client_ip(request), user_agent=request.headers.get("User-Agent", ""),
        )
        return Response(
            {"voice": VoiceOutputSerializer(result.voice, context={"request": request}).data,
             "kit_import": KitImportOutputSerializer(result.kit_import).data},
            status=status.HTTP_202_ACCEPTED,
        )


class VoiceKitImportStatusView(APIView):
    @extend_schema(summary="The kit import behind a voice: status and clip progress",
                   responses={200: KitImportOutputSerializer, 404: OpenApiResponse(description="Not imported")})
    def get(self, request, pk):
        voice = _voice(request, pk)
        kit_import = VoiceKitImport.objects.filter(voice=voice).first()
        if kit_import is None:
            raise NotFound("This voice was not imported from a kit.")
        return Response(KitImportOutputSerializer(kit_import).data)
