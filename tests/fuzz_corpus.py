"""Malformed uploads and malformed requests, kept as data so the fuzz tests replay them on every run.

Each case is deterministic (seeded), named, and small. The upload corpus targets the audio sniffing,
decoding and analysis behind voice creation and voice messages; the request corpus targets parsing,
field validation and the handlers behind them. tests/clones/test_fuzz_uploads.py and
tests/foundation/test_fuzz_requests.py replay them and assert: never a 5xx, always the JSON error shape.
"""

import io
import json
import struct
import zlib

import numpy as np
import soundfile as sf

from tests.audio import encode, speech_like

SR = 16000


def _wav_header(*, channels=1, rate=SR, bits=16, data_size=0, fmt_code=1, riff_size=None, fmt_size=16) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_code, channels, rate, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
    fmt = fmt[:fmt_size] if fmt_size <= 16 else fmt + b"\x00" * (fmt_size - 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", fmt_size) + fmt + b"data" + struct.pack("<I", data_size)
    riff_size = riff_size if riff_size is not None else (len(body) + data_size) & 0xFFFFFFFF
    return b"RIFF" + struct.pack("<I", riff_size) + body


def _pcm(seconds=1.0, rate=SR, channels=1, seed=0) -> bytes:
    samples = speech_like(seconds, sample_rate=rate, seed=seed)
    pcm = (samples * 32767).astype("<i2")
    return np.repeat(pcm[:, None], channels, axis=1).tobytes()


def _sf(samples, rate, fmt="WAV", subtype=None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def _random(seed: int, size: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def _mutate(data: bytes, seed: int, flips: int) -> bytes:
    rng = np.random.default_rng(seed)
    out = bytearray(data)
    for position in rng.integers(0, len(out), flips):
        out[position] = int(rng.integers(0, 256))
    return bytes(out)


def upload_corpus() -> list[tuple[str, str, bytes]]:
    """(case name, filename, bytes) — files a client might send as a voice sample or a recording."""
    good = encode(speech_like(3.0))
    mp3 = encode(speech_like(3.0), fmt="MP3")
    pcm = _pcm(2.0)
    cases = [
        ("empty", "a.wav", b""),
        ("one byte", "a.wav", b"\x00"),
        ("riff only", "a.wav", b"RIFF"),
        ("riff wave no chunks", "a.wav", b"RIFF\x04\x00\x00\x00WAVE"),
        ("header only", "a.wav", _wav_header()),
        ("header claims 4 GB", "a.wav", _wav_header(data_size=0xFFFFFFF0) + pcm),
        ("riff size lies", "a.wav", _wav_header(data_size=len(pcm), riff_size=0xFFFFFFFF) + pcm),
        ("truncated mid-data", "a.wav", good[: len(good) // 3]),
        ("truncated in header", "a.wav", good[:30]),
        ("zero channels", "a.wav", _wav_header(channels=0, data_size=len(pcm)) + pcm),
        ("zero sample rate", "a.wav", _wav_header(rate=0, data_size=len(pcm)) + pcm),
        ("1 Hz sample rate", "a.wav", _wav_header(rate=1, data_size=len(pcm)) + pcm),
        ("8 Hz sample rate", "a.wav", _wav_header(rate=8, data_size=3200) + pcm[:3200]),
        ("huge sample rate", "a.wav", _wav_header(rate=4_000_000_000, data_size=len(pcm)) + pcm),
        ("255 channels", "a.wav", _wav_header(channels=255, data_size=len(pcm) // 510 * 510) + pcm[: len(pcm) // 510 * 510]),
        ("7 bits per sample", "a.wav", _wav_header(bits=7, data_size=len(pcm)) + pcm),
        ("unknown format code", "a.wav", _wav_header(fmt_code=0x1234, data_size=len(pcm)) + pcm),
        ("short fmt chunk", "a.wav", _wav_header(fmt_size=8, data_size=len(pcm)) + pcm),
        ("one sample", "a.wav", _wav_header(data_size=2) + b"\x01\x00"),
        ("odd byte count", "a.wav", _wav_header(data_size=len(pcm) + 1) + pcm + b"\x01"),
        ("8-bit speech", "a.wav", _sf(speech_like(3.0), SR, subtype="PCM_U8")),
        ("float64 speech", "a.wav", _sf(speech_like(3.0).astype(np.float64), SR, subtype="DOUBLE")),
        ("NaN samples", "a.wav", _sf(np.full(SR * 2, np.nan, dtype=np.float32), SR, subtype="FLOAT")),
        ("infinite samples", "a.wav", _sf(np.full(SR * 2, np.inf, dtype=np.float32), SR, subtype="FLOAT")),
        ("full-scale square", "a.wav", encode(np.sign(np.sin(np.arange(SR * 3) / 5)).astype(np.float32))),
        ("96 kHz 8 channels", "a.wav", _sf(np.repeat(speech_like(2.0, sample_rate=96000)[:, None], 8, axis=1), 96000)),
        ("8 kHz speech", "a.wav", _sf(speech_like(3.0, sample_rate=8000), 8000)),
        ("silence, 2 s", "a.wav", encode(np.zeros(SR * 2, np.float32))),
        ("DC offset only", "a.wav", encode(np.full(SR * 3, 0.5, np.float32))),
        ("speech then 30 s silence", "a.wav", encode(np.concatenate([speech_like(1.0), np.zeros(SR * 30, np.float32)]))),
        ("flac speech", "a.flac", _sf(speech_like(3.0), SR, fmt="FLAC")),
        ("ogg speech", "a.ogg", _sf(speech_like(3.0), SR, fmt="OGG", subtype="VORBIS")),
        ("mp3 speech", "a.mp3", mp3),
        ("mp3 truncated", "a.mp3", mp3[: len(mp3) // 4]),
        ("mp3 frame sync then junk", "a.mp3", b"\xff\xfb\x90\x64" + _random(1, 4000)),
        ("id3 tag only", "a.mp3", b"ID3\x04\x00\x00\x00\x00\x00\x10" + b"\x00" * 16),
        ("id3 claims 256 MB", "a.mp3", b"ID3\x04\x00\x10\x7f\x7f\x7f\x7f" + _random(2, 2000)),
        ("id3 footer flag, tiny", "a.mp3", b"ID3\x04\x00\x10\x00\x00\x00\x00"),
        ("ogg magic and junk", "a.ogg", b"OggS" + _random(3, 3000)),
        ("flac magic and junk", "a.flac", b"fLaC" + _random(4, 3000)),
        ("ebml magic and junk", "a.webm", b"\x1a\x45\xdf\xa3" + _random(5, 3000)),
        ("ftyp m4a and junk", "a.m4a", b"\x00\x00\x00\x18ftypM4A " + _random(6, 3000)),
        ("ftyp heic image", "a.m4a", b"\x00\x00\x00\x18ftypheic" + _random(7, 500)),
        ("png", "a.wav", bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")),
        ("pdf", "a.wav", b"%PDF-1.7\n" + _random(8, 500)),
        ("zip bomb header", "a.wav", b"PK\x03\x04" + zlib.compress(b"\x00" * 1_000_000)),
        ("html", "a.wav", b"<!doctype html><script>alert(1)</script>"),
        ("json", "a.wav", json.dumps({"audio": True}).encode()),
        ("null bytes", "a.wav", b"\x00" * 5000),
        ("0xff bytes", "a.wav", b"\xff" * 5000),
        ("random 1 kB", "a.wav", _random(9, 1000)),
        ("random 64 kB", "a.mp3", _random(10, 65536)),
        ("wav with 5 flipped bytes", "a.wav", _mutate(good, 11, 5)),
        ("wav with 500 flipped bytes", "a.wav", _mutate(good, 12, 500)),
        ("mp3 with 50 flipped bytes", "a.mp3", _mutate(mp3, 13, 50)),
        ("mp3 with 2000 flipped bytes", "a.mp3", _mutate(mp3, 14, 2000)),
        ("two wavs glued", "a.wav", good + good),
        ("wav inside mp3 name", "a.mp3", good),
    ]
    names = [
        ("path traversal name", "../../../etc/passwd.wav"),
        ("very long name", "a" * 600 + ".wav"),
        ("nul in name", "a\x00b.wav"),
        ("dot name", ".wav"),
        ("windows device name", "CON.wav"),
        ("quotes and newline", 'a"b\r\nc.wav'),
        ("right-to-left override name", "evil\u202evaw.exe"),
        ("unicode name", "录音 🎙.wav"),
    ]
    cases += [(case, filename, good) for case, filename in names]
    return cases


def request_corpus() -> list[tuple[str, str, str, object, str]]:
    """(case name, method, path template, body, content type) — `{voice}` and `{conversation}` in a path
    are filled with the caller's own objects, `{clip}` with a staff-visible clip."""
    json_ct = "application/json"
    form_ct = "application/x-www-form-urlencoded"
    bodies = [
        ("null", "null"), ("number", "42"), ("string", '"hi"'), ("list", "[1, 2]"), ("true", "true"),
        ("NaN literal", '{"title": NaN}'), ("infinity literal", '{"title": Infinity}'),
        ("huge exponent", '{"title": 1e999}'), ("5000-digit number", '{"title": ' + "9" * 5000 + "}"),
        ("duplicate keys", '{"title": "a", "title": "b"}'), ("bom prefixed", '\ufeff{"title": "x"}'),
        ("deep object", '{"a":' * 3000 + "1" + "}" * 3000), ("deep list", "[" * 100000 + "]" * 100000),
        ("unterminated", '{"title": "'), ("trailing comma", '{"title": "x",}'), ("empty", ""),
        ("single quotes", "{'title': 'x'}"), ("control char in string", '{"title": "a\u0001b"}'),
        ("escaped nul", '{"title": "a\\u0000b"}'), ("lone surrogate", '{"title": "\\ud83d"}'),
    ]
    cases = []
    for name, body in bodies:
        cases.append((f"conversation create: {name}", "post", "/api/v1/conversations/", body, json_ct))
        cases.append((f"message send: {name}", "post", "/api/v1/conversations/{conversation}/messages/", body, json_ct))
        cases.append((f"originals add: {name}", "post", "/api/v1/voices/{voice}/originals/", body, json_ct))
    typed = [
        ("conversation create: voice is a list", "/api/v1/conversations/", {"voice": ["a"]}),
        ("conversation create: voice is an object", "/api/v1/conversations/", {"voice": {"id": 1}}),
        ("conversation create: voice is a number", "/api/v1/conversations/", {"voice": 10**30}),
        ("conversation create: title 100 kB", "/api/v1/conversations/", {"voice": "{voice}", "title": "x" * 100_000}),
        ("conversation create: title is a list", "/api/v1/conversations/", {"voice": "{voice}", "title": ["x"]}),
        ("message send: text is an object", "/api/v1/conversations/{conversation}/messages/", {"text": {"a": 1}}),
        ("message send: text 10 kB", "/api/v1/conversations/{conversation}/messages/", {"text": "x" * 10_000}),
        ("message send: text only spaces", "/api/v1/conversations/{conversation}/messages/", {"text": " \t\n "}),
        ("message send: audio as a string", "/api/v1/conversations/{conversation}/messages/", {"audio": "AAAA"}),
        ("message send: text and audio null", "/api/v1/conversations/{conversation}/messages/",
         {"text": None, "audio": None}),
        ("voice rename: name is null", "/api/v1/voices/{voice}/", {"name": None}),
        ("voice rename: persona 1 MB", "/api/v1/voices/{voice}/", {"persona": "x" * 1_000_000}),
        ("voice rename: name with bidi override", "/api/v1/voices/{voice}/", {"name": "a\u202eb"}),
        ("voice create as JSON", "/api/v1/voices/", {"name": "x", "persona": "y", "consent": True, "samples": ["x"]}),
        ("voice create: consent maybe", "/api/v1/voices/", {"name": "x", "persona": "y", "consent": "maybe"}),
        ("voice create: samples an object", "/api/v1/voices/", {"name": "x", "persona": "y", "consent": True,
                                                                 "samples": {"a": 1}}),
        ("webhook: javascript url", "/api/v1/webhooks/", {"url": "javascript:alert(1)"}),
        ("webhook: loopback url", "/api/v1/webhooks/", {"url": "http://127.0.0.1:9/hook"}),
        ("webhook: port out of range", "/api/v1/webhooks/", {"url": "http://example.com:99999/"}),
        ("webhook: space in host", "/api/v1/webhooks/", {"url": "http://ex ample.com/"}),
        ("webhook: ipv6 zone", "/api/v1/webhooks/", {"url": "http://[fe80::1%25eth0]/"}),
        ("webhook: 5000-char url", "/api/v1/webhooks/", {"url": "https://example.com/" + "a" * 5000}),
        ("webhook: event types not a list", "/api/v1/webhooks/", {"url": "https://example.com/h", "event_types": "x"}),
        ("webhook: event types nested", "/api/v1/webhooks/", {"url": "https://example.com/h", "event_types": [["x"]]}),
        ("webhook: short secret", "/api/v1/webhooks/", {"url": "https://example.com/h", "secret": "x"}),
        ("review: unknown status", "/api/v1/clips/{clip}/review/", {"status": "maybe"}),
        ("review: status is a list", "/api/v1/clips/{clip}/review/", {"status": ["approved"]}),
        ("review: reject without reason", "/api/v1/clips/{clip}/review/", {"status": "rejected"}),
        ("bulk review: ids a string", "/api/v1/clips/bulk-review/", {"ids": "1,2", "status": "approved"}),
        ("bulk review: ids negative", "/api/v1/clips/bulk-review/", {"ids": [-1], "status": "approved"}),
        ("bulk review: ids floats", "/api/v1/clips/bulk-review/", {"ids": [1.5], "status": "approved"}),
        ("bulk review: ids beyond 64 bits", "/api/v1/clips/bulk-review/", {"ids": [2**64], "status": "approved"}),
        ("bulk review: ids empty", "/api/v1/clips/bulk-review/", {"ids": [], "status": "approved"}),
        ("bulk review: 2000 ids", "/api/v1/clips/bulk-review/", {"ids": list(range(1, 2001)), "status": "approved"}),
        ("retrain propose: voice malformed", "/api/v1/retrain-runs/", {"voice": "nope"}),
        ("retrain propose: unknown strategy", "/api/v1/retrain-runs/", {"voice": "{voice}", "strategy": "magic"}),
        ("rollback: version negative", "/api/v1/voices/{voice}/rollback/", {"version": -3}),
        ("rollback: version huge", "/api/v1/voices/{voice}/rollback/", {"version": 2**70}),
        ("token: username is a list", "/api/v1/auth/token/", {"username": ["a"], "password": "b"}),
        ("token: body is a list", "/api/v1/auth/token/", [{"username": "a"}]),
        ("token: password 1 MB", "/api/v1/auth/token/", {"username": "a", "password": "x" * 1_000_000}),
    ]
    for name, path, body in typed:
        method = "patch" if path == "/api/v1/voices/{voice}/" else "post"
        cases.append((name, method, path, body, json_ct))
    raw = [
        ("form: bad percent escapes", "post", "/api/v1/conversations/", "voice=%zz&title=%", form_ct),
        ("form: 10k empty pairs", "post", "/api/v1/conversations/", "&" * 10_000, form_ct),
        ("json with a klingon charset", "post", "/api/v1/conversations/", '{"title": "x"}',
         "application/json; charset=klingon"),
        ("json body sent as text/plain", "post", "/api/v1/conversations/", '{"title": "x"}', "text/plain"),
        ("json body sent as xml", "post", "/api/v1/conversations/", "<title>x</title>", "application/xml"),
        ("multipart without boundary", "post", "/api/v1/voices/", "--x\r\n\r\n", "multipart/form-data"),
        ("multipart with a 500-char boundary", "post", "/api/v1/voices/", "--" + "b" * 500 + "\r\n",
         "multipart/form-data; boundary=" + "b" * 500),
        ("multipart never closed", "post", "/api/v1/voices/",
         '--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nAda', "multipart/form-data; boundary=b"),
        ("multipart without disposition", "post", "/api/v1/voices/", "--b\r\n\r\nx\r\n--b--\r\n",
         "multipart/form-data; boundary=b"),
        ("multipart file field without filename", "post", "/api/v1/voices/",
         '--b\r\nContent-Disposition: form-data; name="samples"\r\n\r\nRIFF\r\n--b--\r\n',
         "multipart/form-data; boundary=b"),
        ("multipart sample with an empty filename", "post", "/api/v1/voices/",
         '--b\r\nContent-Disposition: form-data; name="samples"; filename=""\r\nContent-Type: audio/wav\r\n\r\n'
         'RIFF\r\n--b--\r\n', "multipart/form-data; boundary=b"),
        ("non-utf8 form", "post", "/api/v1/conversations/", b"title=\xff\xfe", form_ct),
        ("non-utf8 json", "post", "/api/v1/conversations/", b'{"title": "\xff"}', json_ct),
        ("utf-16 json", "post", "/api/v1/conversations/", '{"title": "x"}'.encode("utf-16"), json_ct),
    ]
    cases += raw
    return cases
