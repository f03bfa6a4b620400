from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from .models import Event
from .selectors import event_list_for_user

MAX_EVENTS = 200


class EventOutputSerializer(serializers.ModelSerializer):
    voice = serializers.UUIDField(source="voice_id", allow_null=True)
    conversation = serializers.UUIDField(source="conversation_id", allow_null=True)

    class Meta:
        model = Event
        fields = ["id", "type", "voice", "conversation", "payload", "created_at"]


class EventFeedSerializer(serializers.Serializer):
    results = EventOutputSerializer(many=True)
    cursor = serializers.IntegerField(help_text="Pass as `after` to get only newer events.")
    has_more = serializers.BooleanField()


class EventViewSet(viewsets.ViewSet):
    @extend_schema(
        summary="Events about your voices and conversations, oldest first, after a cursor",
        parameters=[
            OpenApiParameter("after", int, description="Return events with id greater than this (default 0)."),
            OpenApiParameter("type", str, many=True, description="Only these event types (repeatable)."),
            OpenApiParameter("limit", int, description=f"At most this many (default and max {MAX_EVENTS})."),
        ],
        responses=EventFeedSerializer,
    )
    def list(self, request):
        try:
            after = int(request.query_params.get("after") or 0)
            limit = min(int(request.query_params.get("limit") or MAX_EVENTS), MAX_EVENTS)
        except ValueError:
            raise ValidationError({"after": ["Must be an integer event id."]}) from None
        types = request.query_params.getlist("type")
        events = list(event_list_for_user(user=request.user, after=after, types=types)[: limit + 1])
        has_more = len(events) > limit
        events = events[:limit]
        cursor = events[-1].id if events else after
        return Response(
            {"results": EventOutputSerializer(events, many=True).data, "cursor": cursor, "has_more": has_more}
        )
