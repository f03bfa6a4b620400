"""Reply audio while it is being spoken: one writer (the worker), any number of readers (web processes).

The worker appends the provider's audio chunks to a spool as they arrive, then marks it done (or failed);
web processes follow it from any byte offset while it grows (docs/realtime.md). Two backends, one
interface, chosen by settings:

- **file** (default): `SPOOL_DIR/<key>.audio` grows, `SPOOL_DIR/<key>.state` (JSON, replaced atomically)
  says done or failed. Every web process and worker must see the same directory (one host, or a shared
  volume).
- **redis** (when `REDIS_URL` is set): a Redis stream per key, one entry per chunk and an end entry;
  it expires `SPOOL_TTL_S` after its last write.

The spool is only the live copy: the stored clip (configured storage, S3 included) is the record, and
holds the same bytes. A reader whose spool disappears (expired, cleaned up) continues from the stored
clip at the same offset (`conversations.speech`).
"""

from __future__ import annotations

import functools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

OPEN, DONE, FAILED, MISSING = "open", "done", "failed", "missing"


@dataclass(frozen=True)
class SpoolRead:
    """What a reader got from one look: new bytes from its offset and the spool's state then."""

    data: bytes
    state: str  # OPEN, DONE, FAILED or MISSING
    size: int | None = None  # the final size once DONE


class SpoolWriter:
    def append(self, chunk: bytes) -> None:
        raise NotImplementedError

    def finish(self, *, sha256: str) -> None:
        raise NotImplementedError

    def fail(self) -> None:
        raise NotImplementedError


class SpoolReader:
    offset: int  # bytes of the audio read so far

    def read(self) -> SpoolRead:
        """New bytes since the last read (non-blocking), with the spool's state."""
        raise NotImplementedError

    def close(self) -> None:
        pass


# --- file backend --------------------------------------------------------------------------------------


def _spool_dir() -> Path:
    path = Path(settings.SPOOL_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_state(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


_CLEANUP_EVERY_S = 60.0
_last_cleanup = float("-inf")


class _FileWriter(SpoolWriter):
    def __init__(self, key: str):
        root = _spool_dir()
        self.root = root
        self.data_path, self.state_path = root / f"{key}.audio", root / f"{key}.state"
        self.state_path.unlink(missing_ok=True)
        # A fresh file (new inode): a reader still holding an earlier attempt's file is not mixed up with this one.
        tmp = root / f"{key}.audio.{os.getpid()}.tmp"
        self._file = open(tmp, "wb")  # noqa: SIM115 (closed by finish/fail)
        os.replace(tmp, self.data_path)
        self.size = 0

    @staticmethod
    def _cleanup(root: Path) -> None:
        """Spools of replies stored long ago: the stored clip serves them now. Once a minute per process at
        most, after a spool is complete: never a directory scan before a reply's first chunk."""
        global _last_cleanup
        if time.monotonic() - _last_cleanup < _CLEANUP_EVERY_S:
            return
        _last_cleanup = time.monotonic()
        cutoff = time.time() - settings.SPOOL_TTL_S
        for entry in os.scandir(root):
            try:
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
            except FileNotFoundError:
                pass

    def append(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._file.flush()
        self.size += len(chunk)

    def finish(self, *, sha256: str) -> None:
        self._file.close()
        _write_state(self.state_path, {"state": DONE, "size": self.size, "sha256": sha256})
        self._cleanup(self.root)

    def fail(self) -> None:
        self._file.close()
        _write_state(self.state_path, {"state": FAILED})
        self._cleanup(self.root)


class _FileReader(SpoolReader):
    def __init__(self, key: str, offset: int):
        root = Path(settings.SPOOL_DIR)
        self.data_path, self.state_path = root / f"{key}.audio", root / f"{key}.state"
        self.offset = offset
        self._file = None

    def read(self) -> SpoolRead:
        # The state first: once it says done with size N, the data file holds all N bytes.
        try:
            state = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            state = {"state": OPEN}
        except ValueError:
            state = {"state": OPEN}  # replaced while read: look again next time
        if self._file is None:
            try:
                self._file = open(self.data_path, "rb")  # noqa: SIM115 (closed by close())
            except FileNotFoundError:
                return SpoolRead(b"", MISSING)
            self._file.seek(self.offset)
        data = self._file.read()
        self.offset += len(data)
        return SpoolRead(data, state["state"], state.get("size"))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# --- Redis backend -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _redis(url: str, pid: int):
    import redis

    return redis.Redis.from_url(url)


def _redis_client():
    return _redis(settings.REDIS_URL, os.getpid())


def _redis_key(key: str) -> str:
    return f"voiceclone:spool:{key}"


class _RedisWriter(SpoolWriter):
    def __init__(self, key: str):
        self.key = _redis_key(key)
        self.client = _redis_client()
        self.size = 0
        with self.client.pipeline() as pipe:
            pipe.delete(self.key)
            pipe.xadd(self.key, {b"start": b"1"})
            pipe.expire(self.key, settings.SPOOL_TTL_S)
            pipe.execute()

    def append(self, chunk: bytes) -> None:
        self.client.xadd(self.key, {b"d": chunk})
        self.size += len(chunk)

    def _end(self, fields: dict) -> None:
        with self.client.pipeline() as pipe:
            pipe.xadd(self.key, fields)
            pipe.expire(self.key, settings.SPOOL_TTL_S)
            pipe.execute()

    def finish(self, *, sha256: str) -> None:
        self._end({b"end": DONE.encode(), b"size": str(self.size).encode(), b"sha256": sha256.encode()})

    def fail(self) -> None:
        self._end({b"end": FAILED.encode()})


class _RedisReader(SpoolReader):
    def __init__(self, key: str, offset: int):
        self.key = _redis_key(key)
        self.client = _redis_client()
        self.skip = offset  # bytes at the start that the caller already has
        self.offset = offset  # bytes of the audio read so far (the caller's and this reader's)
        self.last_id = b"-"
        self.state = OPEN
        self.size = None

    def read(self) -> SpoolRead:
        start = self.last_id if self.last_id == b"-" else b"(" + self.last_id
        entries = self.client.xrange(self.key, min=start, max=b"+", count=500)
        if not entries and (self.last_id == b"-" or (self.state == OPEN and not self.client.exists(self.key))):
            return SpoolRead(b"", MISSING)  # not started yet, or expired under the reader
        parts = []
        for entry_id, fields in entries:
            self.last_id = entry_id
            if b"d" in fields:
                chunk = fields[b"d"]
                if self.skip:
                    dropped = min(self.skip, len(chunk))
                    chunk, self.skip = chunk[dropped:], self.skip - dropped
                parts.append(chunk)
            elif b"end" in fields:
                self.state = fields[b"end"].decode()
                if b"size" in fields:
                    self.size = int(fields[b"size"])
        data = b"".join(parts)
        self.offset += len(data)
        return SpoolRead(data, self.state, self.size)


# --- choosing ------------------------------------------------------------------------------------------


def spool_open(key: str) -> SpoolWriter:
    """Start (or restart, for a new attempt) the spool of `key`; the caller is its only writer."""
    return _RedisWriter(key) if settings.REDIS_URL else _FileWriter(key)


def spool_reader(key: str, *, offset: int = 0) -> SpoolReader:
    """Follow the spool of `key` from byte `offset`."""
    return _RedisReader(key, offset) if settings.REDIS_URL else _FileReader(key, offset)
