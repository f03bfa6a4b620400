"""drf-spectacular hooks."""

# `GET /api/v1/messages/{id}/audio` is also routed with a trailing slash; document it once.
UNDOCUMENTED_ALIASES = {"/api/v1/messages/{pk}/audio/"}  # paths as the enumerator names them


def drop_route_aliases(endpoints, **kwargs):
    return [endpoint for endpoint in endpoints if endpoint[0] not in UNDOCUMENTED_ALIASES]
