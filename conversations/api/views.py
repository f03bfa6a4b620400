from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from clones import selectors as clone_selectors
from clones.models import Voice
from conversations import selectors, services, speech
from conversations.models import Message
from voiceclone.events.sse import BATCH as SSE_BATCH
from voiceclone.events.sse import EventStreamRenderer, event_stream_response, last_event_id
from voiceclone.api import CreatedCursorPagination, QueryParametersSerializer
from voiceclone.parsers import JSONParser
from clones.services import voice_audio_refuse_if_locked
from voiceclone.audio_response import audio_response, reply_stream_response
from voiceclone.openapi import AUDIO_HEADERS, audio_responses

from .serializers import (
    ConversationCreateInputSerializer,
    ConversationOutputSerializer,
    ConversationUpdateInputSerializer,
    MessageAudioInputSerializer,
    MessageOutputSerializer,
    MessageTextInputSerializer,
    TurnOutputSerializer,
)


class MessageCursorPagination(CreatedCursorPagination):
    ordering = "created_at"


IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", {"type": "string", "pattern": "^[A-Za-z0-9._:+/=-]{0,128}$"}, OpenApiParameter.HEADER,
    required=False,
    description="Repeat a POST with the same key to get the original turn instead of a second one, also when the "
                "repeats arrive at once. 1–128 characters: letters, digits and `. _ : + / = -` (e.g. a UUID); "
                "anything else is a 400 `invalid_idempotency_key`. Empty is the same as no key.",
)


class ConversationFilterInputSerializer(QueryParametersSerializer):
    archived = serializers.BooleanField(required=False, default=True,
                                        help_text="Include archived conversations (default true).")


@extend_schema_view(
    list=extend_schema(summary="List conversations", parameters=[ConversationFilterInputSerializer]),
    retrieve=extend_schema(summary="Get a conversation"),
)
class ConversationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ConversationOutputSerializer
    pagination_class = CreatedCursorPagination
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def get_queryset(self):
        include_archived = True
        if self.action == "list":
            filters = ConversationFilterInputSerializer(data=self.request.query_params)
            filters.is_valid(raise_exception=True)
            include_archived = filters.validated_data["archived"]
        return selectors.conversation_list_for_user(user=self.request.user, include_archived=include_archived)

    @extend_schema(summary="Start a conversation with one of your ready voices or a shared one",
                   request=ConversationCreateInputSerializer, responses={201: ConversationOutputSerializer})
    def create(self, request):
        serializer = ConversationCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            voice = clone_selectors.voice_list_visible_for_user(user=request.user).get(
                pk=serializer.validated_data["voice"]
            )
        except Voice.DoesNotExist:
            raise ValidationError({"voice": ["Unknown voice."]}) from None
        conversation = services.conversation_create(
            user=request.user, voice=voice, title=serializer.validated_data["title"]
        )
        return Response(ConversationOutputSerializer(conversation).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Rename or archive a conversation", request=ConversationUpdateInputSerializer)
    def partial_update(self, request, pk=None):
        serializer = ConversationUpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        conversation = services.conversation_update(conversation=self.get_object(), **serializer.validated_data)
        return Response(ConversationOutputSerializer(conversation).data)

    @extend_schema(summary="Archive a conversation", request=None, responses=ConversationOutputSerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        conversation = services.conversation_update(conversation=self.get_object(), is_archived=True)
        return Response(ConversationOutputSerializer(conversation).data)

    @extend_schema(
        summary="Live updates of a conversation (Server-Sent Events), resumable with Last-Event-ID",
        description="`text/event-stream`. Each event of the feed about this conversation (a reply `message.pending`"
                    " → `message.text_ready` → `message.audio_streaming` → `message.ready` / `message.failed`) and "
                    "about its voice's versions (`voice.version_promoted`, `voice.version_rolled_back`) is sent as "
                    "`id: <event id>`, `event: <type>`, `data: <the event as GET /events/ shows it>`. A comment "
                    "line `: heartbeat` comes when nothing happened for `SSE_HEARTBEAT_S`. Reconnect with "
                    "`Last-Event-ID` (EventSource does) or `?last_event_id=` to get everything after that event; "
                    "without either, the stream starts with the next event. Polling `GET /messages/{id}/` and "
                    "`GET /events/` stays available.",
        parameters=[OpenApiParameter("last_event_id", {"type": "string", "pattern": "^[0-9]{0,18}$"},
                                     OpenApiParameter.QUERY, required=False,
                                     description="Resume after this event id (`Last-Event-ID` wins)."),
                    OpenApiParameter("Last-Event-ID", {"type": "string", "pattern": "^[0-9]{0,18}$"},
                                     OpenApiParameter.HEADER, required=False,
                                     description="Resume after this event id (what EventSource sends).")],
        responses={(200, "text/event-stream"): OpenApiResponse(OpenApiTypes.STR, description="The event stream."),
                   400: OpenApiResponse(description="`Last-Event-ID` or `last_event_id` is not an event id")},
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, EventStreamRenderer])
    def events(self, request, pk=None):
        conversation = self.get_object()
        after = last_event_id(request)
        if after is None:
            after = selectors.event_latest_id()
        return event_stream_response(
            request, after=after,
            events_after=lambda cursor: selectors.conversation_events_after(
                conversation=conversation, after=cursor, limit=SSE_BATCH),
        )

    @extend_schema(methods=["GET"], summary="List the messages of a conversation (cursor pagination, oldest first)",
                   responses=MessageOutputSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        summary="Send a message (JSON text or multipart audio); the spoken reply is produced in the background",
        parameters=[IDEMPOTENCY_HEADER],
        request={"application/json": MessageTextInputSerializer, "multipart/form-data": MessageAudioInputSerializer},
        responses={202: TurnOutputSerializer, 400: OpenApiResponse(description="Empty or invalid input"),
                   409: OpenApiResponse(description="Conversation archived or voice not ready")},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=MessageCursorPagination)
    def messages(self, request, pk=None):
        conversation = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.message_list_for_conversation(conversation=conversation))
            data = MessageOutputSerializer(page, many=True, context={"request": request}).data
            return self.get_paginated_response(data)
        if conversation.user_id != request.user.id:
            raise NotFound()  # staff may read any conversation but only its owner talks in it
        # JSON carries text, multipart a recording; text beside a recording is refused, not ignored.
        spoken = request.content_type.startswith("multipart/")
        serializer = (MessageAudioInputSerializer if spoken else MessageTextInputSerializer)(data=request.data)
        serializer.is_valid(raise_exception=True)
        if spoken and request.data.get("text"):
            raise ValidationError({"non_field_errors": ["Send either text or a recording, not both."]})
        audio = serializer.validated_data.get("audio")
        audio_bytes = None
        if audio is not None:
            if audio.size > settings.UPLOAD_MAX_BYTES:
                raise ValidationError({"audio": [
                    f"The recording is larger than {settings.UPLOAD_MAX_BYTES / (1024 * 1024):g} MB."]})
            audio_bytes = audio.read()
        user_message, assistant = services.message_send(
            conversation=conversation,
            text=serializer.validated_data.get("text", ""),
            audio=audio_bytes,
            audio_filename=getattr(audio, "name", "") or "",
            idempotency_key=request.headers.get("Idempotency-Key", ""),
        )
        context = {"request": request}
        return Response(
            {"user_message": MessageOutputSerializer(user_message, context=context).data,
             "assistant_message": MessageOutputSerializer(assistant, context=context).data},
            status=status.HTTP_202_ACCEPTED,
        )


class MessageViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = MessageOutputSerializer
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def get_queryset(self):
        user = self.request.user
        qs = Message.objects.select_related("conversation", "voice_version", "clip")
        return qs if user.is_staff else qs.filter(conversation__user=user)

    @extend_schema(summary="Get a message and its status")
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(summary="Stream a message's audio (the spoken reply, or your own recording)",
                   description="A reply is MP3; your own recording keeps the type it was uploaded with. HTTP Range "
                               "is supported; with S3 storage the answer is a redirect to a presigned URL.",
                   parameters=AUDIO_HEADERS,
                   responses={**audio_responses("audio/*", "application/octet-stream"),
                              404: OpenApiResponse(description="No audio (yet), or not yours")})
    @action(detail=True, methods=["get"], url_path="audio")
    def audio(self, request, pk=None):
        message = self.get_object()
        if message.role == Message.Role.USER:
            if not message.user_audio:
                raise NotFound("This message has no recording.")
            return audio_response(request, name=message.user_audio.name,
                                  content_type=message.user_audio_content_type or "application/octet-stream")
        if message.status != Message.Status.READY or message.clip is None:
            raise NotFound("The reply audio is not ready.")
        voice_audio_refuse_if_locked(message.conversation.voice)
        return audio_response(request, name=message.clip.file.name, content_type=message.clip.content_type,
                              download_name=f"reply-{message.pk}.mp3")

    @extend_schema(
        summary="Listen to a reply while it is spoken: its audio from the first chunk on, then to the end",
        description="`audio/mpeg`, sent as the provider speaks it, so playback can start at the first chunk. A "
                    "pending reply is waited for (up to `REPLY_STREAM_WAIT_S`) until its first audio exists; a "
                    "stored reply is served whole, with `Content-Length` and `X-Audio-SHA256`. Streamed and "
                    "stored bytes are identical (the message's `audio_sha256`). Any number of listeners, each "
                    "from the start; a listener that leaves changes nothing. No `Range`; for seeking use "
                    "`audio/`.",
        responses={(200, "audio/mpeg"): OpenApiResponse(OpenApiTypes.BINARY, description="The reply's MP3 audio."),
                   404: OpenApiResponse(description="No such reply, or not yours"),
                   409: OpenApiResponse(description="`reply_failed`: the reply failed before any audio"),
                   503: OpenApiResponse(description="`reply_not_speaking`: no audio within the wait")},
    )
    @action(detail=True, methods=["get"], url_path="stream")
    def stream(self, request, pk=None):
        message = self.get_object()
        if message.role != Message.Role.ASSISTANT:
            raise NotFound("Only a reply has a spoken stream.")
        voice_audio_refuse_if_locked(message.conversation.voice)  # as audio/: a revoked voice's audio is gone
        return reply_stream_response(request, speech.reply_audio_open(message=message))

    @extend_schema(summary="Retry a failed reply", request=None,
                   responses={202: MessageOutputSerializer,
                              409: OpenApiResponse(description="Only a failed reply can be retried")})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        message = self.get_object()
        if message.conversation.user_id != request.user.id:
            raise NotFound()
        message = services.message_retry(message=message)
        return Response(MessageOutputSerializer(message, context={"request": request}).data,
                        status=status.HTTP_202_ACCEPTED)
