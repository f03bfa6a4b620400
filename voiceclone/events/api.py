"""Events feed and webhooks API: `GET /api/v1/events/?after=`, `/api/v1/webhooks/` (the caller's own)."""

from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    extend_schema_view,
)
from rest_framework import serializers, viewsets
from rest_framework import status as http_status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from voiceclone.api import MAX_ID, QueryParametersSerializer

from . import services
from .models import Event, Webhook, WebhookDelivery
from .selectors import (
    event_list_for_user,
    webhook_deliveries_for_user,
    webhook_get_for_user,
    webhook_list_for_user,
)

MAX_EVENTS = 200


class EventOutputSerializer(serializers.ModelSerializer):
    voice = serializers.UUIDField(source="voice_id", allow_null=True)
    conversation = serializers.UUIDField(source="conversation_id", allow_null=True)

    class Meta:
        model = Event
        fields = ["id", "type", "voice", "conversation", "payload", "created_at"]


# One object, although it answers the `list` action (drf-spectacular would document an array).
@extend_schema_serializer(many=False)
class EventFeedSerializer(serializers.Serializer):
    results = EventOutputSerializer(many=True)
    cursor = serializers.IntegerField(help_text="Pass as `after` to get only newer events.")
    has_more = serializers.BooleanField()


class EventFeedInputSerializer(QueryParametersSerializer):
    after = serializers.IntegerField(required=False, default=0, min_value=0, max_value=MAX_ID,
                                     help_text="Return events with id greater than this (default 0).")
    type = serializers.ListField(
        child=serializers.ChoiceField(choices=Event.Type.choices), required=False, default=list,
        help_text="Only these event types (repeatable).",
    )
    limit = serializers.IntegerField(required=False, default=MAX_EVENTS, min_value=1, max_value=MAX_EVENTS,
                                     help_text=f"At most this many, 1–{MAX_EVENTS} (default {MAX_EVENTS}).")


class EventViewSet(viewsets.ViewSet):
    @extend_schema(
        summary="Events about your voices and conversations, oldest first, after a cursor",
        parameters=[EventFeedInputSerializer],
        responses=EventFeedSerializer,
    )
    def list(self, request):
        params = EventFeedInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        after, limit = params.validated_data["after"], params.validated_data["limit"]
        events = list(event_list_for_user(user=request.user, after=after, types=params.validated_data["type"])
                      [: limit + 1])
        has_more = len(events) > limit
        events = events[:limit]
        cursor = events[-1].id if events else after
        return Response(
            {"results": EventOutputSerializer(events, many=True).data, "cursor": cursor, "has_more": has_more}
        )


# --- webhooks ---------------------------------------------------------------------------------------------

SIGNATURE_HELP = (
    "Deliveries are POSTed as JSON (an item of the events feed) with headers `X-Voiceclone-Event`, "
    "`X-Voiceclone-Delivery`, `X-Voiceclone-Timestamp` (unix seconds) and `X-Voiceclone-Signature: "
    "sha256=<hex>`, the HMAC-SHA256 with your secret of `<timestamp>.<raw body>`. Verify it with a "
    "constant-time comparison and refuse old timestamps. Failures (non-2xx, timeouts) are retried with "
    "exponential backoff."
)


class WebhookOutputSerializer(serializers.ModelSerializer):
    secret_hint = serializers.SerializerMethodField(help_text="The secret's last 4 characters.")

    class Meta:
        model = Webhook
        fields = ["id", "url", "event_types", "is_active", "secret_hint", "created_at"]

    def get_secret_hint(self, obj) -> str:
        return f"…{obj.secret[-4:]}" if obj.secret else ""


class WebhookCreatedOutputSerializer(WebhookOutputSerializer):
    class Meta(WebhookOutputSerializer.Meta):
        fields = [*WebhookOutputSerializer.Meta.fields, "secret"]


class WebhookInputSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=Event.Type.choices), required=False, default=list,
        help_text="Event types to receive (see the events feed's `type`); empty = all.",
    )
    secret = serializers.CharField(min_length=16, max_length=128, required=False, allow_blank=True, default="",
                                   help_text="Signing secret; generated (and returned once) when omitted.")
    is_active = serializers.BooleanField(required=False, default=True)


class WebhookUpdateInputSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500, required=False)
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=Event.Type.choices), required=False)
    secret = serializers.CharField(min_length=16, max_length=128, required=False)
    is_active = serializers.BooleanField(required=False)


class WebhookDeliveryOutputSerializer(serializers.ModelSerializer):
    event_type = serializers.CharField(source="event.type", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "event", "event_type", "status", "attempt_count", "last_status_code", "last_error",
                  "last_attempt_at", "next_attempt_at", "delivered_at", "created_at"]


@extend_schema_view(
    list=extend_schema(summary="Your webhooks", description=SIGNATURE_HELP),
    retrieve=extend_schema(summary="One of your webhooks"),
    destroy=extend_schema(summary="Delete a webhook", responses={204: None}),
)
class WebhookViewSet(viewsets.GenericViewSet):
    """Webhooks receive the events of your voices and conversations, signed (HMAC-SHA256)."""

    serializer_class = WebhookOutputSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return webhook_list_for_user(user=self.request.user)

    def _get(self, request, pk) -> Webhook:
        try:
            return webhook_get_for_user(user=request.user, webhook_id=pk)
        except (ObjectDoesNotExist, ValueError):
            raise NotFound() from None

    def list(self, request):
        return Response(WebhookOutputSerializer(webhook_list_for_user(user=request.user), many=True).data)

    @extend_schema(summary="Register a webhook", description=SIGNATURE_HELP, request=WebhookInputSerializer,
                   responses={201: WebhookCreatedOutputSerializer})
    def create(self, request):
        serializer = WebhookInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        webhook = services.webhook_create(
            user=request.user, url=data["url"], event_types=data["event_types"], secret=data["secret"]
        )
        if not data["is_active"]:
            webhook = services.webhook_update(webhook=webhook, is_active=False)
        return Response(WebhookCreatedOutputSerializer(webhook).data, status=http_status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        return Response(WebhookOutputSerializer(self._get(request, pk)).data)

    @extend_schema(summary="Change a webhook", request=WebhookUpdateInputSerializer, responses=WebhookOutputSerializer)
    def partial_update(self, request, pk=None):
        webhook = self._get(request, pk)
        serializer = WebhookUpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        webhook = services.webhook_update(webhook=webhook, **serializer.validated_data)
        return Response(WebhookOutputSerializer(webhook).data)

    @extend_schema(summary="Change a webhook", request=WebhookUpdateInputSerializer, responses=WebhookOutputSerializer)
    def update(self, request, pk=None):
        return self.partial_update(request, pk)

    def destroy(self, request, pk=None):
        services.webhook_delete(webhook=self._get(request, pk))
        return Response(status=http_status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="The delivery log of a webhook, newest first",
                   responses=WebhookDeliveryOutputSerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        webhook = self._get(request, pk)
        rows = webhook_deliveries_for_user(user=request.user, webhook_id=webhook.pk)[:MAX_EVENTS]
        return Response(WebhookDeliveryOutputSerializer(rows, many=True).data)

    @extend_schema(summary="Deliver one event again (resets its attempts)", request=None,
                   responses={202: WebhookDeliveryOutputSerializer, 404: OpenApiResponse(description="Not yours")},
                   parameters=[OpenApiParameter("delivery_id", int, location="path")])
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>\d+)/redeliver")
    def redeliver(self, request, pk=None, delivery_id=None):
        webhook = self._get(request, pk)
        delivery = webhook_deliveries_for_user(user=request.user, webhook_id=webhook.pk).filter(pk=delivery_id).first()
        if delivery is None:
            raise NotFound()
        delivery = services.webhook_delivery_redeliver(delivery=delivery)
        return Response(WebhookDeliveryOutputSerializer(delivery).data, status=http_status.HTTP_202_ACCEPTED)
