"""`GET /api/v1/conversations/{id}/export/`: the conversation's transcript and audio, for its owner."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.views import APIView

from conversations import selectors
from conversations.export import conversation_export
from conversations.models import Conversation
from voiceclone.openapi import zip_download
from voiceclone.streaming import streaming_download


class ConversationExportView(APIView):
    @extend_schema(
        summary="Export a conversation: transcript (JSON and text) and one audio file of the whole conversation",
        description="A zip of transcript.json, transcript.txt and conversation.mp3 (the user's recordings and the "
                    "clone's replies in order; typed turns are noted in the transcript). Owner only.",
        responses={**zip_download("The export."),
                   404: OpenApiResponse(description="No such conversation, or not yours")},
    )
    def get(self, request, pk):
        try:
            conversation = selectors.conversation_list_for_user(user=request.user).get(pk=pk, user=request.user)
        except Conversation.DoesNotExist:
            raise NotFound() from None
        export = conversation_export(conversation=conversation, by=request.user)
        return streaming_download(request, iter(export), filename=export.filename, content_type="application/zip",
                                  size=export.size_bytes)
