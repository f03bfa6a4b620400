"""Server-Sent Events from the events outbox: a live, resumable view of the feed (docs/realtime.md).

The outbox (`Event`, written in the transaction of each change) is the source; a stream looks for
events after its cursor every `POLL_S` (every `ACTIVE_POLL_S` while the conversation is busy), sends
each as

    id: <event id>
    event: <type>
    data: <the event as the feed shows it, JSON>

and a comment line (`: heartbeat`) when nothing happened for SSE_HEARTBEAT_S, so proxies keep the
connection and clients notice a dead one. A client resumes with `Last-Event-ID` (EventSource sends it
when it reconnects) and misses nothing. Under ASGI the stream is an async iterator: an open page holds
no thread. Under WSGI (tests, a plain WSGI deployment) a stream ends after SSE_WSGI_MAX_S and the client
reconnects, so a worker thread is never held for good.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer

from .models import Event

POLL_S = 0.1
# While a conversation is busy (an event in the last ACTIVE_S: a turn is under way), a stream looks every
# ACTIVE_POLL_S, so a turn's next step (its audio starting, above all) reaches the page within a few ms;
# an idle page costs one query every POLL_S.
ACTIVE_POLL_S = 0.02
ACTIVE_S = 30.0
BATCH = 100
RETRY_MS = 1000  # how soon a disconnected EventSource reconnects

EventsAfter = Callable[[int], list[Event]]


class EventStreamRenderer(BaseRenderer):
    """Lets `Accept: text/event-stream` (what EventSource sends) through DRF's content negotiation; errors
    before the stream starts are still JSON."""

    media_type = "text/event-stream"
    format = "sse"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if data is not None else b""


def last_event_id(request) -> int | None:
    """The cursor a client resumes from: `Last-Event-ID`, else `?last_event_id=`, else None (from now on).
    Anything but a non-negative integer is a 400 naming the parameter."""
    for name, raw in (("Last-Event-ID", request.headers.get("Last-Event-ID")),
                      ("last_event_id", request.GET.get("last_event_id"))):
        if raw is None or raw == "":
            continue
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            raise ValidationError({name: ["An event id: a non-negative integer."]})
        return int(raw)
    return None


def _frame(event: Event) -> bytes:
    from .api import EventOutputSerializer

    data = json.dumps(EventOutputSerializer(event).data, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n".encode()


class _Cursor:
    """What a stream has sent: the last event id and when it last wrote anything."""

    def __init__(self, after: int):
        self.after = after
        self.started = self.last_sent = time.monotonic()
        self.last_event = float("-inf")

    def pause(self) -> float:
        """How long to wait before the next look."""
        return ACTIVE_POLL_S if time.monotonic() - self.last_event < ACTIVE_S else POLL_S

    def frames(self, events: list[Event]) -> list[bytes]:
        """Frames for new events, or a heartbeat when it is time for one."""
        now = time.monotonic()
        if events:
            self.after, self.last_sent = events[-1].id, now
            self.last_event = now
            return [_frame(event) for event in events]
        if now - self.last_sent >= settings.SSE_HEARTBEAT_S:
            self.last_sent = now
            return [b": heartbeat\n\n"]
        return []


def _sync_stream(events_after: EventsAfter, after: int) -> Iterator[bytes]:
    cursor = _Cursor(after)
    yield f"retry: {RETRY_MS}\n\n".encode()
    while time.monotonic() - cursor.started < settings.SSE_WSGI_MAX_S:
        events = events_after(cursor.after)
        yield from cursor.frames(events)
        if len(events) < BATCH:
            time.sleep(cursor.pause())


async def _async_stream(events_after: EventsAfter, after: int) -> AsyncIterator[bytes]:
    cursor = _Cursor(after)
    fetch = sync_to_async(events_after, thread_sensitive=False)
    yield f"retry: {RETRY_MS}\n\n".encode()
    while True:
        events = await fetch(cursor.after)
        for frame in cursor.frames(events):
            yield frame
        if len(events) < BATCH:
            await asyncio.sleep(cursor.pause())


def event_stream_response(request, *, events_after: EventsAfter, after: int) -> StreamingHttpResponse:
    """An SSE response of the events `events_after(cursor)` returns (oldest first), starting after `after`."""
    django_request = getattr(request, "_request", request)
    body = _async_stream(events_after, after) if isinstance(django_request, ASGIRequest) else _sync_stream(
        events_after, after)
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache, no-store"
    response["X-Accel-Buffering"] = "no"
    return response
