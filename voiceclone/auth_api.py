from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import parsers, serializers
from rest_framework.authtoken.views import ObtainAuthToken

from voiceclone.parsers import JSONParser


class ObtainTokenView(ObtainAuthToken):
    """`POST {"username", "password"}` → `{"token"}`; send it as `Authorization: Token <token>`."""

    parser_classes = (parsers.FormParser, parsers.MultiPartParser, JSONParser)

    @extend_schema(
        summary="Exchange a username and password for an API token",
        request=inline_serializer("TokenRequest", {"username": serializers.CharField(),
                                                   "password": serializers.CharField()}),
        responses=inline_serializer("TokenResponse", {"token": serializers.CharField()}),
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)
