from collections.abc import Mapping

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, parsers, serializers
from rest_framework.authtoken.views import ObtainAuthToken

from voiceclone import ratelimit
from voiceclone.parsers import JSONParser


class ObtainTokenView(ObtainAuthToken):
    """`POST {"username", "password"}` → `{"token"}`; send it as `Authorization: Token <token>`."""

    parser_classes = (parsers.FormParser, parsers.MultiPartParser, JSONParser)
    # Exchanging a password for a token needs no other credentials: a stale `Authorization` header a
    # client still sends must not turn the exchange into a 401.
    authentication_classes = ()

    @extend_schema(
        summary="Exchange a username and password for an API token",
        request=inline_serializer("TokenRequest", {"username": serializers.CharField(),
                                                   "password": serializers.CharField()}),
        responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()}),
                   400: OpenApiResponse(description="Wrong username or password (`errors.non_field_errors`), or a "
                                                    "field missing"),
                   429: OpenApiResponse(description="Too many sign-in attempts for this username or from this "
                                                    "address (`Retry-After` says when to try again)")},
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        username = request.data.get("username", "") if isinstance(request.data, Mapping) else ""
        retry_after = ratelimit.login_attempt(request=request, username=str(username))
        if retry_after is not None:
            # DRF adds "Expected available in N seconds." and the Retry-After header.
            raise exceptions.Throttled(wait=retry_after, detail="Too many sign-in attempts.")
        return super().post(request, *args, **kwargs)
