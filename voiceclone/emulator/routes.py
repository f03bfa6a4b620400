"""The emulated API endpoints (spec §2-§7) and the table that routes paths to them.

Each endpoint takes a `Request` (plus path parameters) and returns a `Response` or raises
`errors.ApiError`. Validation follows FastAPI, as the real service does: every missing required field
is listed in one 422 body, and an empty form value counts as missing. Retried multipart requests from
the SDK (which lose their form fields, spec §1.3) are validated like any other, so they fail the way
they would against the real API.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from typing import Callable
from urllib.parse import unquote

from . import audio, errors, transcripts
from .forms import Form
from .ids import new_id
from .protocol import Request, Response
from .state import EmulatorState

DEFAULT_TTS_MODEL = "eleven_multilingual_v2"
_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n"}
# Values the SDK sends for omitted optional form fields (spec §7.2): treat as "not given".
_ABSENT = {None, "", "null"}
# The real API's output_format values (its OpenAPI enum). Anything else is a 422 listing them, as FastAPI
# answers; opus is in the enum but not produced here, so it is a clear 400.
OUTPUT_FORMATS = (
    "mp3_22050_32", "mp3_24000_48", "mp3_44100_32", "mp3_44100_64", "mp3_44100_96", "mp3_44100_128",
    "mp3_44100_192",
    "pcm_8000", "pcm_16000", "pcm_22050", "pcm_24000", "pcm_32000", "pcm_44100", "pcm_48000",
    "wav_8000", "wav_16000", "wav_22050", "wav_24000", "wav_32000", "wav_44100", "wav_48000",
    "ulaw_8000", "alaw_8000",
    "opus_48000_32", "opus_48000_64", "opus_48000_96", "opus_48000_128", "opus_48000_192",
)
_CONTENT_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav", "pcm": "audio/pcm", "ulaw": "audio/basic",
                  "alaw": "audio/x-alaw-basic"}
_EXPOSED_HEADERS = (
    "request-id, history-item-id, character-cost, regeneration-count, generation-info, "
    "current-concurrent-requests, maximum-concurrent-requests"
)


def _bool_field(form: Form, name: str, default: bool, problems: list) -> bool:
    raw = form.value(name)
    if raw in _ABSENT:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    problems.append((["body", name], "Input should be a valid boolean, unable to interpret input", "bool_parsing"))
    return default


def _labels_field(form: Form, problems: list) -> dict | None:
    """`labels` arrives as a JSON string, or the literal "null" when the SDK caller omitted it."""
    raw = form.value("labels")
    if raw in _ABSENT:
        return None
    try:
        labels = json.loads(raw)
        if isinstance(labels, str):  # the SDK JSON-encodes a str argument a second time
            labels = json.loads(labels)
    except json.JSONDecodeError:
        labels = None
    if not isinstance(labels, dict):
        problems.append((["body", "labels"], "Labels must be a JSON object of strings", "value_error"))
        return None
    return {str(key): str(value) for key, value in labels.items()}


def _check_uploads(files) -> None:
    for upload in files:
        if not upload.data:
            raise errors.api_error(400, "invalid_audio", f"The file {upload.filename} is empty.", param="files")


class Api:
    def __init__(self, state: EmulatorState):
        self.state = state

    # ----------------------------------------------------------------- voices

    def add_voice(self, request: Request) -> Response:
        form = request.form()
        problems: list = []
        name = form.value("name")
        if name in _ABSENT:
            problems.append((["body", "name"], "Field required", "missing"))
        files = form.files_named("files")
        if not files:
            problems.append((["body", "files"], "Field required", "missing"))
        remove_noise = _bool_field(form, "remove_background_noise", False, problems)
        labels = _labels_field(form, problems)
        if problems:
            raise errors.validation_error(*problems)
        _check_uploads(files)
        description = form.value("description")
        voice_id = self.state.create_voice(
            name=name,
            files=files,
            description=None if description in _ABSENT else description,
            labels=labels or {},
            remove_background_noise=remove_noise,
        )
        return Response.json({"voice_id": voice_id, "requires_verification": False})

    def edit_voice(self, request: Request, voice_id: str) -> Response:
        form = request.form()
        problems: list = []
        name = form.value("name")
        if name in _ABSENT:
            problems.append((["body", "name"], "Field required", "missing"))
        remove_noise = _bool_field(form, "remove_background_noise", False, problems)
        labels = _labels_field(form, problems)
        if problems:
            raise errors.validation_error(*problems)
        files = form.files_named("files")
        _check_uploads(files)
        description = form.value("description")
        self.state.edit_voice(
            voice_id,
            name=name,
            files=files,
            description=None if description in _ABSENT else description,
            labels=labels,
            remove_background_noise=remove_noise,
        )
        return Response.json({"status": "ok"})

    def delete_sample(self, request: Request, voice_id: str, sample_id: str) -> Response:
        self.state.delete_sample(voice_id, sample_id)
        return Response.json({"status": "ok"})

    def sample_audio(self, request: Request, voice_id: str, sample_id: str) -> Response:
        data, mime_type = self.state.sample_audio(voice_id, sample_id)
        return Response(200, data, mime_type)

    def delete_voice(self, request: Request, voice_id: str) -> Response:
        self.state.delete_voice(voice_id)
        return Response.json({"status": "ok"})

    def get_voice(self, request: Request, voice_id: str) -> Response:
        return Response.json(self.state.get_voice(voice_id))

    def list_voices(self, request: Request) -> Response:
        return Response.json({"voices": self.state.list_voices()})

    def search_voices(self, request: Request) -> Response:
        return Response.json(self.state.search_voices(request.query))

    # ----------------------------------------------------------------- account

    def subscription(self, request: Request) -> Response:
        return Response.json(self.state.subscription())

    def user(self, request: Request) -> Response:
        return Response.json(self.state.user(request.headers.get("xi-api-key", "")))

    # ----------------------------------------------------------------- speech

    @staticmethod
    def _output_format(request: Request) -> tuple[str, int, int | None]:
        """(codec, sample rate, MP3 bitrate in kbit/s or None) of the request's `output_format`."""
        raw = request.query_value("output_format") or "mp3_44100_128"
        if raw not in OUTPUT_FORMATS:
            expected = ", ".join(f"'{name}'" for name in OUTPUT_FORMATS)
            raise errors.validation_error(
                (["query", "output_format"], f"Input should be {expected}; got {raw!r}", "enum")
            )
        kind, rate, *bitrate = raw.split("_")
        if kind == "opus":
            raise errors.api_error(
                400, "unsupported_output_format",
                f"The emulator produces mp3, pcm, wav, ulaw and alaw, not {raw}.", param="output_format",
            )
        return kind, int(rate), int(bitrate[0]) if bitrate else None

    @staticmethod
    def _tts_payload(request: Request) -> tuple[str, str, float]:
        payload = request.json()
        if not isinstance(payload, dict):
            raise errors.validation_error(
                (["body"], "Input should be a valid dictionary or object", "model_attributes_type")
            )
        if "text" not in payload:
            raise errors.missing_field("body", "text")
        text = payload["text"]
        if not isinstance(text, str):
            raise errors.validation_error((["body", "text"], "Input should be a valid string", "string_type"))
        if not text.strip():
            raise errors.api_error(400, "invalid_parameters", "The text must not be empty.", param="text")
        model_id = payload.get("model_id") or DEFAULT_TTS_MODEL
        settings = payload.get("voice_settings")
        speed = settings.get("speed") if isinstance(settings, dict) else None
        speed = float(speed) if isinstance(speed, (int, float)) and not isinstance(speed, bool) and speed > 0 else 1.0
        return text, str(model_id), speed

    def text_to_speech(self, request: Request, voice_id: str, *, streaming: bool = False) -> Response:
        kind, rate, bitrate = self._output_format(request)
        text, model_id, speed = self._tts_payload(request)
        started = time.monotonic()
        ticket = self.state.begin_tts(voice_id, text, model_id)
        rendered = None
        try:
            rendered = audio.render(
                text, ticket.timbre, speed=speed, audio_format=kind, sample_rate=rate, bitrate_kbps=bitrate
            )
            self.state.record_render((text, ticket.timbre.key(), speed), rendered, ticket=ticket)
        finally:
            self.state.end_tts(
                audio_sha256=hashlib.sha256(rendered.data).hexdigest() if rendered else None,
                text=text,
                duration_secs=rendered.duration_secs if rendered else 0.0,
            )
        headers = _tts_headers(ticket, started)
        content_type = _CONTENT_TYPES[kind]
        # Fingerprints are computed when an upload needs them; a backlog is worked off once the audio is on
        # its way (server._send runs `after`).
        after = self.state.renders.work_off_backlog
        if not streaming:
            return Response(200, rendered.data, content_type, headers, after=after)
        # Several chunks, so clients really exercise chunked decoding and incremental reads.
        data = rendered.data
        size = min(8192, max(512, math.ceil(len(data) / 4)))
        return Response(
            200, b"", content_type, headers, chunks=[data[i : i + size] for i in range(0, len(data), size)], after=after
        )

    def text_to_speech_stream(self, request: Request, voice_id: str) -> Response:
        """Audio as it is produced, like the real API: the first part of the text is rendered (after the
        configured latency) and sent, then each further part as soon as it is rendered. WAV has one header
        for the whole clip, so it is rendered whole (then sent in chunks)."""
        kind, rate, bitrate = self._output_format(request)
        if kind not in ("mp3", "pcm"):
            return self.text_to_speech(request, voice_id, streaming=True)
        text, model_id, speed = self._tts_payload(request)
        started = time.monotonic()
        ticket = self.state.begin_tts(voice_id, text, model_id)
        speech = _SpeechStream(self.state, text, ticket, speed=speed, audio_format=kind, sample_rate=rate,
                               bitrate_kbps=bitrate)
        try:
            speech.render_first()
        except BaseException:
            speech.close()
            raise
        headers = _tts_headers(ticket, started)
        return Response(200, b"", _CONTENT_TYPES[kind], headers, chunks=speech)

    def speech_to_text(self, request: Request) -> Response:
        form = request.form()
        problems: list = []
        model_id = form.value("model_id")
        if model_id in _ABSENT:
            problems.append((["body", "model_id"], "Field required", "missing"))
        elif not model_id.startswith("scribe_"):
            problems.append((["body", "model_id"], "Input should be a scribe model id such as 'scribe_v1'", "enum"))
        webhook = _bool_field(form, "webhook", False, problems)
        multi_channel = _bool_field(form, "use_multi_channel", False, problems)
        for name in ("tag_audio_events", "diarize"):
            _bool_field(form, name, True, problems)
        if problems:
            raise errors.validation_error(*problems)
        uploads = form.files_named("file")
        url = next((form.value(n) for n in ("cloud_storage_url", "source_url") if form.value(n) not in _ABSENT), None)
        if not uploads and url is None:
            raise errors.api_error(
                400, "invalid_parameters", "Either a file or a cloud_storage_url must be provided.", param="file"
            )
        if webhook:
            return Response.json(
                {"message": "Request accepted; the transcript will be sent to your webhook.",
                 "request_id": new_id(), "transcription_id": new_id()},
                status=202,
            )
        data = uploads[0].data if uploads else url.encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        known = self.state.spoken_text(digest) if uploads else None
        if known:
            # Declared transcripts of human recordings carry no duration: measure it like any upload.
            text = known["text"]
            duration = known["duration_secs"] or audio.probe_duration(data) or max(len(data) / 16000, 0.5)
        else:
            text = transcripts.placeholder_text(digest)
            # Unknown containers (m4a, webm) cannot be decoded here: estimate from 128 kbit/s.
            duration = (audio.probe_duration(data) if uploads else None) or max(len(data) / 16000, 0.5)
        language = form.value("language_code")
        language = None if language in _ABSENT else language
        result = transcripts.transcription(text, duration_secs=duration, language_code=language)
        if multi_channel:
            channel = {key: result[key] for key in ("language_code", "language_probability", "text", "words")}
            channel["channel_index"] = 0
            result = {"transcripts": [channel], "transcription_id": result["transcription_id"],
                      "audio_duration_secs": result["audio_duration_secs"]}
        return Response.json(result)


_PARAMETERS = {"voice_id": r"(?P<voice_id>[^/]+)", "sample_id": r"(?P<sample_id>[^/]+)"}
ROUTES: list[tuple[str, re.Pattern, str]] = [
    (method, re.compile(pattern.format(**_PARAMETERS)), name)
    for method, pattern, name in (
        ("POST", "/v1/voices/add", "add_voice"),
        ("POST", "/v1/voices/{voice_id}/edit", "edit_voice"),
        ("DELETE", "/v1/voices/{voice_id}/samples/{sample_id}", "delete_sample"),
        ("GET", "/v1/voices/{voice_id}/samples/{sample_id}/audio", "sample_audio"),
        ("GET", "/v1/voices/{voice_id}", "get_voice"),
        ("DELETE", "/v1/voices/{voice_id}", "delete_voice"),
        ("GET", "/v1/voices", "list_voices"),
        ("GET", "/v2/voices", "search_voices"),
        ("GET", "/v1/user/subscription", "subscription"),
        ("GET", "/v1/user", "user"),
        ("POST", "/v1/text-to-speech/{voice_id}", "text_to_speech"),
        ("POST", "/v1/text-to-speech/{voice_id}/stream", "text_to_speech_stream"),
        ("POST", "/v1/speech-to-text", "speech_to_text"),
    )
]


# --- streamed speech -------------------------------------------------------------------------------------

# The first part is short (a clause, or this many characters at most) so the first audio comes soon;
# later parts are whole sentences up to this many characters, as the real API's text chunking does.
_FIRST_PART_MAX_CHARS = 60
_PART_MAX_CHARS = 120
_CLAUSE_END = re.compile(r"[,;:.!?…]\s")
_SENTENCE_END = re.compile(r"[.!?…]\s")
# Largest HTTP chunk sent: a rendered part goes out in pieces, as a network stream arrives.
_STREAM_CHUNK_BYTES = 4096


def _tts_headers(ticket, started: float) -> dict[str, str]:
    """The headers of a TTS answer, streamed or not, like the real API's: ids, the character cost, the account's
    concurrency and the latency since `started` (time.monotonic())."""
    return {
        "request-id": new_id(),
        "history-item-id": new_id(),
        "character-cost": str(ticket.cost),
        "x-character-count": str(ticket.cost),
        "current-concurrent-requests": str(ticket.concurrent),
        "maximum-concurrent-requests": str(ticket.max_concurrent),
        "tts-latency-ms": str(int((time.monotonic() - started) * 1000)),
        "access-control-expose-headers": _EXPOSED_HEADERS,
    }


def _cut(text: str, max_chars: int, boundary: re.Pattern) -> int:
    """Where the next part of `text` ends: after the last boundary within max_chars, else at the last space."""
    if len(text) <= max_chars:
        return len(text)
    ends = [m.end() for m in boundary.finditer(text, 0, max_chars + 1)]
    if ends:
        return ends[0] if boundary is _CLAUSE_END else ends[-1]
    space = text.rfind(" ", 0, max_chars)
    return space + 1 if space > 0 else max_chars


def speech_parts(text: str) -> list[str]:
    """`text` cut into the parts the stream renders one after another: a short first part, then sentences."""
    parts = []
    rest = text.strip()
    while rest:
        end = _cut(rest, _FIRST_PART_MAX_CHARS, _CLAUSE_END) if not parts else _cut(rest, _PART_MAX_CHARS, _SENTENCE_END)
        part, rest = rest[:end].strip(), rest[end:].strip()
        if part:
            parts.append(part)
    return parts


# MPEG audio layer III frame sizes: kbit/s by bitrate index (MPEG-1, MPEG-2/2.5) and sample rates by version.
_L3_KBPS = {
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _without_info_frame(mp3: bytes) -> bytes:
    """The frames of an encoded part without its ID3 tags and leading Xing/Info frame. Those describe one part's
    length; in a stream of parts it would be wrong (decoders would trust it) or play as a click. The real
    API's streams carry none either."""
    if mp3[:3] == b"ID3" and len(mp3) >= 10:  # an ID3v2 tag (syncsafe size) describes one part too
        mp3 = mp3[10 + ((mp3[6] & 0x7F) << 21 | (mp3[7] & 0x7F) << 14 | (mp3[8] & 0x7F) << 7 | (mp3[9] & 0x7F)):]
    if len(mp3) >= 128 and mp3[-128:-125] == b"TAG":  # and an ID3v1 tag at the end
        mp3 = mp3[:-128]
    if len(mp3) < 4 or mp3[0] != 0xFF or mp3[1] & 0xE0 != 0xE0:
        return mp3
    version, bitrate_index, rate_index = (mp3[1] >> 3) & 3, mp3[2] >> 4, (mp3[2] >> 2) & 3
    if version == 1 or rate_index == 3 or bitrate_index in (0, 15):
        return mp3
    kbps = _L3_KBPS[version == 3][bitrate_index]
    size = (144 if version == 3 else 72) * kbps * 1000 // _MPEG_RATES[version][rate_index] + ((mp3[2] >> 1) & 1)
    head = mp3[:size]
    return mp3[size:] if b"Xing" in head or b"Info" in head else mp3


class _SpeechStream:
    """The body of a streamed reply: renders part after part and hands out each as soon as it exists.

    The emulator's concurrency and spoken-text records (`end_tts`) close when the body ends, or when the
    handler closes it unsent (a dropped connection)."""

    def __init__(self, state: EmulatorState, text: str, ticket, *, speed: float, audio_format: str,
                 sample_rate: int, bitrate_kbps: int | None) -> None:
        self.state, self.text, self.ticket = state, text, ticket
        self.options = {"speed": speed, "audio_format": audio_format, "sample_rate": sample_rate,
                        "bitrate_kbps": bitrate_kbps}
        self.parts = speech_parts(text) or [text]
        self.first: bytes | None = None
        self.digest = hashlib.sha256()
        self.duration_secs = 0.0
        self.complete = False
        self.ended = False

    def _render(self, part: str) -> bytes:
        rendered = audio.render(part, self.ticket.timbre, **self.options)
        self.state.record_render((part, self.ticket.timbre.key(), self.options["speed"]), rendered,
                                 ticket=self.ticket)
        self.duration_secs += rendered.duration_secs
        data = _without_info_frame(rendered.data) if self.options["audio_format"] == "mp3" else rendered.data
        self.digest.update(data)
        return data

    def render_first(self) -> None:
        self.first = self._render(self.parts[0])

    def __iter__(self):
        try:
            for index, part in enumerate(self.parts):
                data = self.first if index == 0 and self.first is not None else self._render(part)
                for start in range(0, len(data), _STREAM_CHUNK_BYTES):
                    yield data[start : start + _STREAM_CHUNK_BYTES]
            self.complete = True
        finally:
            self.close()

    def close(self) -> None:
        if not self.ended:
            self.ended = True
            self.state.end_tts(
                audio_sha256=self.digest.hexdigest() if self.complete else None,
                text=self.text,
                duration_secs=round(self.duration_secs, 3),
            )


def resolve(api: Api, method: str, path: str) -> Callable[[Request], Response]:
    """The endpoint for (method, path) with its path parameters bound; 404/405 like FastAPI."""
    path_known = False
    for route_method, pattern, name in ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        path_known = True
        if route_method == method:
            params = {key: unquote(value) for key, value in match.groupdict().items()}
            endpoint = getattr(api, name)
            return lambda request: endpoint(request, **params)
    raise errors.method_not_allowed() if path_known else errors.not_found_route()
