"""HTTP server of the emulator: framing, authentication, fault injection, request log, control API.

`EmulatorServer` binds its socket in the constructor (so `url` is known at once, also with port 0)
and serves on a `ThreadingHTTPServer`: one thread per connection, HTTP/1.1 keep-alive, every reply
framed with Content-Length or chunked encoding so httpx can reuse connections.

Paths under `/_emulator/` are the control API (no API key; the real API has no such path):
`POST reset`, `POST config`, `POST|GET|DELETE faults`, `GET state`, `GET requests`,
`GET|POST voices/{voice_id}/timbre` (docs/emulator.md).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from . import errors
from .faults import AFTER_MODES, FaultBook, FaultSpecError, specs_from_env
from .ids import new_trace_id
from .protocol import Request, Response
from .routes import Api, resolve
from .state import EmulatorState, RequestLog

logger = logging.getLogger(__name__)

FAULTS_ENV = "ELEVENLABS_EMULATOR_FAULTS"
CONTROL_PREFIX = "/_emulator/"
_TIMBRE_ROUTE = re.compile(r"voices/([^/]+)/timbre")


class EmulatorServer:
    """The ElevenLabs API emulator. Use `start()`/`stop()` in tests, `serve_forever()` in a command."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        voice_limit: int = 30,
        character_limit: int = 1_000_000,
        state_file: str | os.PathLike | None = None,
        api_keys: list[str] | set[str] | None = None,
        *,
        latency_ms: int = 0,
        log_requests: bool = False,
    ):
        self.state = EmulatorState(
            voice_limit=voice_limit, character_limit=character_limit, latency_ms=latency_ms, state_file=state_file
        )
        self.faults = FaultBook()
        self.request_log = RequestLog()
        self.api = Api(self.state)
        self.log_requests = log_requests
        self._api_keys = set(api_keys) if api_keys else None
        for spec in specs_from_env(os.environ.get(FAULTS_ENV)):
            self.faults.add(spec)
        self._httpd = _HttpServer((host, port), _Handler, self)
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def connections_opened(self) -> int:
        """TCP connections accepted so far; lets tests check that clients reuse connections."""
        return self._httpd.connections_opened

    def start(self) -> "EmulatorServer":
        self._thread = threading.Thread(target=self.serve_forever, name="elevenlabs-emulator", daemon=True)
        self._serving.set()  # before the thread runs, so an immediate stop() still shuts the loop down
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._serving.set()
        try:
            self._httpd.serve_forever(poll_interval=0.1)
        finally:
            self._serving.clear()

    def stop(self) -> None:
        # shutdown() waits for a running serve_forever loop; it would wait forever if none ran.
        if self._serving.is_set():
            self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.close_connections()
        self._httpd.server_close()

    def __enter__(self) -> "EmulatorServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ----------------------------------------------------------------- API requests

    def reset(self, **config) -> None:
        self.state.reset(**config)
        self.faults.clear()
        self.request_log.clear()

    def _authenticate(self, request: Request) -> None:
        key = request.headers.get("xi-api-key", "")
        if not key or (self._api_keys is not None and key not in self._api_keys):
            raise errors.invalid_api_key()

    @staticmethod
    def _log_entry(request: Request) -> dict:
        entry = {
            "method": request.method,
            "path": request.path,
            "query": {name: values[-1] if len(values) == 1 else values for name, values in request.query.items()},
            "status": None,
            "fields": {},
            "files": [],
            "json": None,
            "fault": None,
            "dropped": False,
            "at": time.time(),
        }
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            try:
                entry["json"] = json.loads(request.body)
            except ValueError:
                pass
        else:
            try:
                form = request.form()
            except errors.ApiError:
                return entry
            entry["fields"] = form.log_fields()
            entry["files"] = [upload.summary() for upload in form.files]
        return entry

    def handle_api(self, request: Request) -> Response | None:
        """The reply to an API request, or None when the connection must be dropped unanswered."""
        entry = self.request_log.add(self._log_entry(request))
        if self.state.config.latency_ms:
            time.sleep(self.state.config.latency_ms / 1000)
        fault = self.faults.take(request.method, request.path)
        try:
            if fault is not None:
                entry["fault"] = fault.id
                if fault.mode in ("drop", "timeout"):
                    if fault.mode == "timeout":
                        time.sleep(fault.delay_s)
                    entry["dropped"] = True
                    return None
                if fault.mode == "latency":
                    time.sleep(fault.delay_s)
                elif fault.mode not in AFTER_MODES:
                    raise fault.error(request.path)
            self._authenticate(request)
            response = resolve(self.api, request.method, request.path)(request)
        except errors.ApiError as error:
            response = Response.from_error(error)
        except Exception:  # a bug in the emulator: answer like a crashed server, keep serving
            logger.exception("emulator failed on %s %s", request.method, request.path)
            response = Response.text("Internal Server Error", 500)
        entry["status"] = response.status
        if fault is not None and fault.mode == "latency_after":
            time.sleep(fault.delay_s)
        elif fault is not None and fault.mode == "drop_after":
            entry["dropped"] = True
            close = getattr(response.chunks, "close", None)
            if close is not None:
                close()  # a streamed body that will never be sent
            return None
        return response

    # ----------------------------------------------------------------- control requests

    def handle_control(self, request: Request) -> Response:
        route = (request.method, request.path[len(CONTROL_PREFIX) :].strip("/"))
        try:
            payload = request.json() if request.body else {}
            if route == ("POST", "reset"):
                self.reset(**payload)
                return Response.json({"status": "ok", "config": self.state.configure()})
            if route == ("POST", "config"):
                return Response.json({"status": "ok", "config": self.state.configure(**payload)})
            if route == ("POST", "faults"):
                specs = payload if isinstance(payload, list) else [payload]
                ids = [self.faults.add(spec).id for spec in specs]
                return Response.json({"id": ids[0] if len(ids) == 1 else None, "ids": ids})
            if route == ("GET", "faults"):
                return Response.json({"faults": self.faults.list()})
            if route == ("DELETE", "faults"):
                self.faults.clear()
                return Response.json({"status": "ok"})
            if route == ("GET", "state"):
                return Response.json(self.state.snapshot())
            if route == ("POST", "transcripts"):
                self.state.transcript_declare(audio_sha256=payload.get("sha256"), text=payload.get("text"))
                return Response.json({"status": "ok"})
            if route == ("GET", "requests"):
                return Response.json({"requests": self.request_log.entries()})
            timbre = _TIMBRE_ROUTE.fullmatch(route[1])
            if timbre is not None and route[0] == "GET":
                return Response.json(self.state.voice_timbre(unquote(timbre.group(1))))
            if timbre is not None and route[0] == "POST":
                if not isinstance(payload, dict):
                    raise ValueError('expected {"shift": {...}}')
                return Response.json(self.state.plant_shift(unquote(timbre.group(1)), payload.get("shift") or {}))
        except errors.ApiError as error:
            return Response.from_error(error)
        except (FaultSpecError, ValueError, TypeError) as exc:
            return Response.json({"error": str(exc)}, status=400)
        return Response.json({"error": f"no control endpoint {request.method} {request.path}"}, status=404)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def __init__(self, address, handler, emulator: EmulatorServer):
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.connections_opened = 0
        super().__init__(address, handler)

    def track(self, connection: socket.socket, is_open: bool) -> None:
        with self._connections_lock:
            if is_open:
                self._connections.add(connection)
                self.connections_opened += 1
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Close idle keep-alive connections so their handler threads end with the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm
        # holds the body back until the client's delayed ACK (~40 ms per request on keep-alive).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def version_string(self) -> str:
        return "uvicorn"  # what the real API answers with

    def log_message(self, format: str, *args) -> None:
        if self.server.emulator.log_requests:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        body = self._read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = Request.build(self.command, self.path, headers, body)
        emulator = self.server.emulator
        if request.path.startswith(CONTROL_PREFIX):
            response = emulator.handle_control(request)
        else:
            response = emulator.handle_api(request)
        if response is None:
            self._drop()
        else:
            try:
                self._send(response)
            finally:
                close = getattr(response.chunks, "close", None)
                if close is not None:
                    close()  # a streamed body that was not sent to its end (dropped, client gone)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            if response.status >= 400:
                # Real error replies carry these instead of a request-id header (spec §8).
                self.send_header("x-trace-id", new_trace_id())
                self.send_header("x-region", "emulator")
            for name, value in response.headers.items():
                self.send_header(name, value)
            if response.chunks is not None:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in response.chunks:
                    if chunk:
                        self.wfile.write(b"%X\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its own timeout)
        finally:
            if response.after is not None:
                response.after()
