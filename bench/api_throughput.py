"""Requests per second of one worker for the messages-list API, as a ratio to a trivial view (issue 13).

Run: .venv/bin/python bench/api_throughput.py [--seconds 5] [--rounds 3]
     (DATABASE_URL as for the app; without it a throw-away SQLite database)

One process plays one web worker: it calls Django's WSGI handler directly, in a loop, with a token
(the whole request: middleware, authentication, throttles, the view, the serializer, JSON rendering;
no HTTP parsing, which a server such as gunicorn does in C-speed code outside Django's share). Two
URLs on the same handler and database, alternated in rounds: the first page (50) of the messages of a
conversation of 100 messages, and a trivial DRF view that authenticates the same token and returns a
constant. Prints the best requests/s of each and their ratio, measured in this run. Not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if not os.environ.get("DATABASE_URL"):
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='bench-throughput-')}/bench.sqlite3"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.urls import include, path  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402


class TrivialView(APIView):
    """Authenticates like every API view and answers a constant: the fixed cost of a request."""

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("bench/trivial/", TrivialView.as_view()), path("", include(settings.ROOT_URLCONF))]


def seed_conversation():
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from clones.models import ClipSample, Voice, VoiceVersion
    from conversations.models import Conversation, Message

    user, _ = get_user_model().objects.get_or_create(username="throughput-owner")
    token, _ = Token.objects.get_or_create(user=user)
    conversation = Conversation.objects.filter(user=user).first()
    if conversation is None:
        voice = Voice.objects.create(owner=user, name="Throughput", persona="p", status="ready")
        version = VoiceVersion.objects.create(voice=voice, number=1, provider_voice_id=f"tp-{uuid.uuid4().hex[:20]}",
                                              state="active")
        voice.current_version = version
        voice.save(update_fields=["current_version"])
        conversation = Conversation.objects.create(user=user, voice=voice)
        for i in range(50):
            clip = ClipSample.objects.create(
                voice=voice, source="generated", version=version, file=f"clone_responses/{voice.pk}/tp_{i}.mp3",
                text=f"Answer number {i} about bread and the morning bake." * 3, sha256=uuid.uuid4().hex * 2,
                duration_s=6.0, size_bytes=96_000, quality_flags=[],
            )
            question = Message.objects.create(conversation=conversation, role="user", text=f"Question {i}?")
            Message.objects.create(conversation=conversation, role="assistant", text=clip.text, clip=clip,
                                   in_reply_to=question, voice_version=version, status="ready", reply_engine="offline")
    return token.key, conversation


def rate(handler, environ, seconds: float) -> float:
    def start_response(status, headers, exc_info=None):
        assert status.startswith("200"), status

    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        body = handler(dict(environ), start_response)
        for _ in body:
            pass
        body.close()
        count += 1
    return count / (time.perf_counter() - start)


def asgi_rate(handler, scope, seconds: float) -> float:
    """Requests/s through Django's ASGI handler, as uvicorn calls it (bin/serve): each request's sync
    code runs in a thread of its own request context, so a thread-local connection is not reused."""
    import asyncio

    async def loop() -> float:
        count = 0
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            statuses = []
            sent = []

            async def receive():
                if not sent:
                    sent.append(True)
                    return {"type": "http.request", "body": b"", "more_body": False}
                await asyncio.Future()  # the client stays connected until the response is sent

            async def send(message):
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            await handler(dict(scope), receive, send)
            assert statuses == [200], statuses
            count += 1
        return count / (time.perf_counter() - start)

    return asyncio.run(loop())


def asgi_scope(url: str, token: str) -> dict:
    path, _, query = url.partition("?")
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", b"testserver"), (b"authorization", f"Token {token}".encode())],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print where the messages list spends its time")
    parser.add_argument("--handler", choices=("asgi", "wsgi"), default="asgi",
                        help="asgi: Django's ASGI handler as uvicorn (bin/serve) calls it; wsgi: the WSGI handler")
    parser.add_argument("--label", default="", help="also write bench/results/api-throughput-<label>.json")
    args = parser.parse_args()

    settings.ROOT_URLCONF = __name__
    settings.DEBUG = False
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    token, conversation = seed_conversation()
    factory = RequestFactory()
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    urls = {
        "messages list (50 of 100)": f"/api/v1/conversations/{conversation.pk}/messages/",
        "trivial view": "/bench/trivial/",
    }
    if args.handler == "asgi":
        from django.core.handlers.asgi import ASGIHandler

        handler = ASGIHandler()
        environs = {name: asgi_scope(url, token) for name, url in urls.items()}
        measure = asgi_rate
    else:
        handler = WSGIHandler()
        environs = {name: factory.get(url, **auth).environ for name, url in urls.items()}
        measure = rate
    database = settings.DATABASES["default"]
    print(f"handler {args.handler}; {database['ENGINE'].rsplit('.', 1)[-1]}; CONN_MAX_AGE "
          f"{database.get('CONN_MAX_AGE')}; pool {bool(database.get('OPTIONS', {}).get('pool'))}")
    for environ in environs.values():
        measure(handler, environ, 0.5)  # warm-up
    if args.profile:
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.runcall(measure, handler, environs["messages list (50 of 100)"], args.seconds)
        pstats.Stats(profile).sort_stats(os.environ.get("PROFILE_SORT", "tottime")).print_stats(25)
        return
    best = dict.fromkeys(urls, 0.0)
    for _ in range(args.rounds):
        for name, environ in environs.items():
            best[name] = max(best[name], measure(handler, environ, args.seconds))
    for name, value in best.items():
        print(f"{name:28} {value:8.1f} requests/s ({1000 / value:.2f} ms each)")
    ratio = best["messages list (50 of 100)"] / best["trivial view"]
    print(f"{'ratio to the trivial view':28} {ratio:8.2f}")
    if args.label:
        import json

        out = Path(__file__).resolve().parent / "results" / f"api-throughput-{args.label}.json"
        out.write_text(json.dumps({
            "label": args.label, "handler": args.handler, "engine": database["ENGINE"],
            "conn_max_age": database.get("CONN_MAX_AGE"), "pool": bool(database.get("OPTIONS", {}).get("pool")),
            "seconds": args.seconds, "rounds": args.rounds, "load_average": os.getloadavg(),
            "requests_per_s": {k: round(v, 1) for k, v in best.items()}, "ratio": round(ratio, 3),
        }, indent=2) + "\n")
        print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
