"""`GET /api/v1/usage/`: provider usage (the cost ledger) per day, voice and kind (docs/usage.md)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from usage import selectors
from usage.models import UsageEntry
from voiceclone.api import QueryParametersSerializer

DEFAULT_RANGE_DAYS = 30


class UsageQuerySerializer(QueryParametersSerializer):
    since = serializers.DateField(required=False, help_text="First UTC day (default: 29 days before `until`).")
    until = serializers.DateField(required=False, help_text="Last UTC day, inclusive (default: today).")
    voice = serializers.UUIDField(required=False, help_text="Only this voice.")
    kind = serializers.ChoiceField(choices=UsageEntry.Kind.choices, required=False)
    user = serializers.CharField(required=False, max_length=150,
                                 help_text="Staff only: this user's usage (username). Default: everyone's for staff.")

    def validate(self, attrs):
        # Any dates are valid (the schema says so): `since` after `until` is simply an empty period.
        until = attrs.get("until") or timezone.now().date()
        since = attrs.get("since") or until - timedelta(days=DEFAULT_RANGE_DAYS - 1)
        return {**attrs, "since": since, "until": until}


class UsageTotalsSerializer(serializers.Serializer):
    characters = serializers.IntegerField(help_text="Billed TTS characters.")
    audio_s = serializers.FloatField(help_text="Seconds of audio transcribed (STT).")
    requests = serializers.IntegerField(help_text="Provider calls.")


class UsageRowSerializer(UsageTotalsSerializer):
    day = serializers.DateField()
    voice = serializers.UUIDField(allow_null=True)
    voice_name = serializers.CharField(allow_null=True, help_text="Null once the voice is erased.")
    kind = serializers.ChoiceField(choices=UsageEntry.Kind.choices)
    user = serializers.CharField(allow_null=True)


class UsageOutputSerializer(serializers.Serializer):
    since = serializers.DateField()
    until = serializers.DateField()
    totals = UsageTotalsSerializer()
    rows = UsageRowSerializer(many=True)


class UsageView(APIView):
    """Your provider usage; staff see everyone's or one user's."""

    @extend_schema(
        summary="Provider usage per day, voice and kind (TTS characters, STT seconds, calls)",
        description="Every billed provider call is one ledger entry: replies (`tts`), speech-to-text (`stt`), "
                    "retrain previews (`preview`), consent checks (`consent_check`), probes (`probe`). A reply that "
                    "reuses a stored identical render calls no provider and is not counted. Your own usage; staff "
                    "see every user's, or one user's with `user`.",
        parameters=[UsageQuerySerializer],
        responses={200: UsageOutputSerializer, 403: OpenApiResponse(description="`user` is for staff")},
    )
    def get(self, request):
        params = UsageQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        user_id = None
        if data.get("user"):
            if not request.user.is_staff:
                raise PermissionDenied("Filtering by user is for staff.")
            user_id = get_user_model().objects.filter(username=data["user"]).values_list("pk", flat=True).first()
            if user_id is None:
                user_id = -1  # an unknown user has no usage
        qs = selectors.usage_entries_for_user(user=request.user, since=data["since"], until=data["until"],
                                              voice_id=data.get("voice"), kind=data.get("kind"), user_id=user_id)
        body = {"since": data["since"], "until": data["until"], **selectors.usage_summary(qs)}
        return Response(UsageOutputSerializer(body).data)
