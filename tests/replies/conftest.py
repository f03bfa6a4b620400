"""A fake chat-completions server for the OpenAI-compatible engine.

There is no language model that runs offline in the test environment, and the
point of these tests is the HTTP contract (path, headers, JSON, status codes),
so the engine talks real HTTP over 127.0.0.1 to this small server, which
records each request and answers the way OpenAI's /v1/chat/completions does.
Nothing inside the engine is patched.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeChatCompletions:
    base_url: str = ""
    requests: list[RecordedRequest] = field(default_factory=list)
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # When set, the server holds each request until `release` is set: a model that is too slow.
    is_stalled: bool = False
    release: threading.Event = field(default_factory=threading.Event)

    def answer(self, *, status: int = 200, json_body: Any = None, raw_body: bytes | None = None,
               headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = raw_body if raw_body is not None else json.dumps(json_body).encode()
        self.headers = {"Content-Type": "application/json", **(headers or {})}

    def answer_completion(self, content: Any, *, model: str = "fake-model-1",
                          finish_reason: str = "stop", usage: dict | None = None) -> None:
        self.answer(json_body={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1700000000,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
            }],
            "usage": usage if usage is not None else
            {"prompt_tokens": 42, "completion_tokens": 9, "total_tokens": 51},
        })

    @property
    def last(self) -> RecordedRequest:
        assert self.requests, "the engine sent no request"
        return self.requests[-1]


def _handler_for(fake: FakeChatCompletions) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            fake.requests.append(RecordedRequest(
                method="POST", path=self.path,
                headers={key.lower(): value for key, value in self.headers.items()}, body=body,
            ))
            if fake.is_stalled:
                fake.release.wait(timeout=10)
                return
            self.send_response(fake.status)
            for key, value in fake.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(fake.body)))
            self.end_headers()
            self.wfile.write(fake.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def fake_llm():
    fake = FakeChatCompletions()
    fake.answer_completion("Hello from the fake model.")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(fake))
    server.daemon_threads = True
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    # A short poll interval: shutdown() waits up to one interval, at every teardown.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield fake
    fake.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def refused_base_url():
    """A base URL whose port is bound but not listening, so connecting is refused.

    Holding the socket keeps another test from taking the port meanwhile.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    sock.close()
