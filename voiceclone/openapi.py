"""The OpenAPI schema as the API answers: drf-spectacular's AutoSchema plus the error responses every
operation shares, so views declare only what is particular to them.

- `Error` is the one error body of the API (voiceclone.api: `{"detail", "code"}`, `errors` on
  validation, `extra` on some refusals, `retry_after_s` on 429s).
- `ApiAutoSchema.get_operation` adds the errors an operation can answer from its shape alone: 400 when
  it takes a body or parameters, 401 when it needs credentials, 403 for unsafe methods (a session
  without its CSRF token, an object you may read but not change) and staff-only collections, 404 when
  its path names an object, 413/415 when it takes a body, 429 everywhere (throttles). A view's own
  declaration of a status wins; the hook only fills in the `Error` body when the view gave none.
- Views mark staff-only operations with `staff_only = True` (the whole view) or `staff_only_actions`;
  the schema then carries `x-staff-only: true` and a "Staff only." line in the description.
- `PROVIDER_ERRORS` (502/503) is for operations that call the voice provider while the client waits.

docs/api-guide.md explains the shapes; tests/foundation/test_api_schema_conformance.py holds the
schema to what the API answers (schemathesis).
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_serializer
from rest_framework import serializers
from rest_framework.fields import empty

# `GET /api/v1/messages/{id}/audio` is also routed with a trailing slash; document it once.
UNDOCUMENTED_ALIASES = {"/api/v1/messages/{pk}/audio/"}  # paths as the enumerator names them
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def drop_route_aliases(endpoints, **kwargs):
    return [endpoint for endpoint in endpoints if endpoint[0] not in UNDOCUMENTED_ALIASES]


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="For people: what went wrong and, where it helps, what to do.")
    code = serializers.CharField(help_text="Stable and machine-readable, e.g. `invalid`, `not_found`, "
                                           "`invalid_state` (docs/api-errors.md lists them).")
    errors = serializers.DictField(
        required=False,
        help_text="Validation (`code: invalid`): messages per body field or query parameter, e.g. "
                  '`{"limit": ["Ensure this value is less than or equal to 200."]}`; nested for lists and '
                  "objects.",
    )
    extra = serializers.DictField(required=False, help_text="Details of an application refusal, e.g. "
                                                            "`reasons` of `not_eligible`.")
    retry_after_s = serializers.IntegerField(required=False, help_text="429 only: seconds until a retry can "
                                                                       "succeed (also `Retry-After`).")


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


# For operations that ask the voice provider something while the client waits.
PROVIDER_ERRORS = {
    502: error("The voice provider failed (`provider_error` or the provider's code)."),
    503: error("The voice provider is unavailable or rate-limited; retrying later can help."),
}



def audio_responses(*media_types: str) -> dict:
    """A stored audio file as `voiceclone.audio_response` serves it: whole, a byte range, or (S3) a redirect."""
    media_types = media_types or ("audio/mpeg",)
    whole = OpenApiResponse(OpenApiTypes.BINARY, description="The audio (`Accept-Ranges: bytes`).")
    part = OpenApiResponse(OpenApiTypes.BINARY, description="The byte range asked for with `Range: bytes=a-b` "
                                                            "(`Content-Range` says which).")
    return {
        **{(200, media_type): whole for media_type in media_types},
        **{(206, media_type): part for media_type in media_types},
        302: OpenApiResponse(description="S3 storage: a redirect (`Location`) to a presigned URL valid for at "
                                         "most 5 minutes."),
        416: error("The range is outside the file (`Content-Range: bytes */<size>`)."),
    }


# Response headers of `audio_responses` (pass in `parameters=`).
AUDIO_HEADERS = [
    OpenApiParameter("Content-Range", str, OpenApiParameter.HEADER, response=[206],
                     description="`bytes <first>-<last>/<size>`."),
    OpenApiParameter("Location", str, OpenApiParameter.HEADER, response=[302],
                     description="The presigned URL."),
]


def zip_download(description: str) -> dict:
    return {(200, "application/zip"): OpenApiResponse(
        OpenApiTypes.BINARY, description=f"{description} Streamed as an attachment with an exact `Content-Length`.",
    )}


RETRY_AFTER = {
    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds until the request can succeed."},
}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Token`: how to authenticate."},
}


class ApiAutoSchema(AutoSchema):
    def get_tags(self) -> list[str]:
        parts = [p for p in self.path.split("/") if p and not p.startswith("{")]
        parts = parts[2:] if parts[:2] == ["api", "v1"] else parts
        if parts[:1] == ["voices"] and len(parts) > 1:
            sub = parts[1]
            if sub in ("export", "import"):
                return ["voice kits"]
            if sub in ("originals", "persona"):
                return ["originals" if sub == "originals" else "personas"]
        return parts[:1] or super().get_tags()

    def map_parsers(self):
        # Every JSON endpoint also parses form data (DRF's defaults), but JSON is the documented way in:
        # form encoding has no booleans, numbers or null, so the schema could not say what a form means.
        # Uploads declare `multipart/form-data` themselves.
        parsers = super().map_parsers()
        return ["application/json"] if "application/json" in parsers else parsers

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        # `IntegerField(source="version.number", default=None)`: through a missing relation it answers null.
        if direction == "response" and getattr(field, "default", None) is None and field.default is not empty:
            meta["nullable"] = True
        return meta

    def is_staff_only(self) -> bool:
        action = getattr(self.view, "action", None)
        return getattr(self.view, "staff_only", False) is True or action in getattr(self.view, "staff_only_actions", ())

    def get_description(self) -> str:
        description = super().get_description() or ""
        if self.is_staff_only():
            description = f"Staff only. {description}".strip()
        return description

    def get_extensions(self) -> dict:
        extensions = super().get_extensions()
        if self.is_staff_only():
            extensions = {**extensions, "x-staff-only": True}
        return extensions

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        error_schema = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation["responses"]
        for status, description, headers in self._common_errors(operation):
            response = responses.setdefault(status, {"description": description})
            response["description"] = response.get("description") or description
            response.setdefault("content", {"application/json": {"schema": error_schema}})
            if headers:
                response["headers"] = {**headers, **response.get("headers", {})}
        # Every error answer is JSON in the `Error` shape (ApiJsonErrorMiddleware makes it so).
        for status, response in responses.items():
            if status >= "400" and "content" not in response:
                response["content"] = {"application/json": {"schema": error_schema}}
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _refuses_reads_beyond_read_actions(self) -> bool:
        """A view that shows users objects they may not manage (VoiceViewSet.READ_ACTIONS: a shared voice
        is listed and retrieved) answers its other reads of such an object with 403 (e.g. its consents)."""
        read_actions = getattr(self.view, "READ_ACTIONS", None)
        return read_actions is not None and getattr(self.view, "action", None) not in read_actions

    def _common_errors(self, operation) -> list[tuple[str, str, dict | None]]:
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        has_input = has_body or any(p["in"] in ("query", "header") for p in parameters)
        names_object = any(p["in"] == "path" for p in parameters)
        secured = any(requirement for requirement in operation.get("security", []))
        unsafe = self.method not in SAFE_METHODS
        staff_collection = self.is_staff_only() and not names_object

        errors = []
        if has_input:
            errors.append(("400", "Invalid input: `errors` names each field or parameter (`code: invalid`), "
                                  "or a body that cannot be parsed (`parse_error`).", None))
        if secured:
            errors.append(("401", "No credentials, or credentials that are not valid.", WWW_AUTHENTICATE))
        shared_read_refused = names_object and not unsafe and self._refuses_reads_beyond_read_actions()
        if secured and (unsafe or staff_collection or shared_read_refused):
            errors.append(("403", "Not allowed: " + ", ".join(filter(None, [
                "staff only" if self.is_staff_only() else "",
                "an object you may read but not change (e.g. a shared voice)" if unsafe and names_object else "",
                "a voice shared with you, which you may chat with but not manage" if shared_read_refused else "",
                "a session request without its CSRF token" if unsafe else "",
            ])) + ".", None))
        if names_object:
            errors.append(("404", "Not found: no such object, not yours (another user's object is never "
                                  "revealed), or an id that does not match the route.", None))
        if has_body:
            errors.append(("413", "The body is larger than the server accepts (5 MB for non-file data).", None))
            errors.append(("415", "The body's media type is not one of those documented.", None))
        errors.append(("429", "Throttled or over a limit (`throttled`, `tts_budget_exhausted`); "
                              "`Retry-After` says when to try again.", RETRY_AFTER))
        return errors
