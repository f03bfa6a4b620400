"""Serving stored audio to an authorised caller: HTTP Range on local storage, presigned URL on S3.

Callers check authorisation first (selectors return only the caller's rows); this module only
decides how the bytes leave.
"""

import re

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse, HttpResponse, HttpResponseRedirect, StreamingHttpResponse

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
PRESIGNED_URL_TTL_S = 300


def audio_response(request, *, name: str, content_type: str, download_name: str | None = None) -> HttpResponse:
    """Stream the stored file `name`, honouring a single `Range: bytes=a-b` header.

    On S3 storage, answer 302 to a presigned URL valid for at most 300 seconds instead.
    """
    if settings.USE_S3:
        ttl = min(PRESIGNED_URL_TTL_S, getattr(settings, "AWS_QUERYSTRING_EXPIRE", PRESIGNED_URL_TTL_S))
        response = HttpResponseRedirect(default_storage.url(name, expire=ttl))
        response["Cache-Control"] = "private, no-store"
        return response

    size = default_storage.size(name)
    range_header = request.headers.get("Range", "")
    match = RANGE_RE.match(range_header.strip()) if range_header else None
    if match and (match.group(1) or match.group(2)):
        first, last = match.groups()
        if first == "":  # suffix range: the last N bytes
            start, end = max(size - int(last), 0), size - 1
        else:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        if start >= size or start > end:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        with default_storage.open(name, "rb") as fh:
            fh.seek(start)
            chunk = fh.read(end - start + 1)
        response = HttpResponse(chunk, status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(len(chunk))
    else:
        response = FileResponse(default_storage.open(name, "rb"), content_type=content_type)
        response["Content-Length"] = str(size)
        if download_name:
            response["Content-Disposition"] = f'inline; filename="{download_name}"'
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def reply_stream_response(request, audio) -> StreamingHttpResponse:
    """A reply's audio as it is spoken (`conversations.speech.ReplyAudio`), under ASGI as an async body so a
    listener waiting for the next chunk holds no thread."""
    django_request = getattr(request, "_request", request)
    body = audio.achunks() if isinstance(django_request, ASGIRequest) else audio.chunks()
    response = StreamingHttpResponse(body, content_type="audio/mpeg")
    if audio.stored_name is not None:
        if audio.size:
            response["Content-Length"] = str(audio.size)
        if audio.message.clip.sha256:
            response["X-Audio-SHA256"] = audio.message.clip.sha256
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    # Proxies (nginx) must pass each chunk on at once rather than buffer the reply.
    response["X-Accel-Buffering"] = "no"
    return response
