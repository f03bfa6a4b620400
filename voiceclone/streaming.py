"""Downloads streamed chunk by chunk under WSGI and ASGI alike.

Django serves a StreamingHttpResponse under ASGI only from an async iterator; given a sync one it
reads the whole content into memory first (and warns). Large downloads (voice kits, conversation
audio) hand their sync chunk iterator to `streaming_download`, which wraps it for ASGI, each chunk
produced in a worker thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

_END = object()


async def async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """`chunks` for an ASGI response: each `next()` in a worker thread, so blocking reads never stall the loop."""
    iterator = iter(chunks)
    while (chunk := await sync_to_async(next, thread_sensitive=False)(iterator, _END)) is not _END:
        yield chunk


def streaming_download(
    request, chunks: Iterator[bytes], *, filename: str, content_type: str, size: int | None = None
) -> StreamingHttpResponse:
    """An attachment response whose body is `chunks`; `size` becomes Content-Length (download progress)."""
    django_request = getattr(request, "_request", request)
    content = async_chunks(chunks) if isinstance(django_request, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type=content_type)
    if size is not None:
        response["Content-Length"] = str(size)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
