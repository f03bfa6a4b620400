"""The emulated account: custom voices, their samples, character usage and configuration.

Every read and write goes through one re-entrant lock, because the HTTP server handles requests on
many threads. Slow work (decoding uploads, synthesising audio) happens outside the lock.

Persistence (optional `state_file`): after every mutation the account is written as JSON, atomically
(temporary file + os.replace) so a crash never leaves half a file. Sample audio is not inlined in
the JSON: each distinct upload is stored once in `<state_file>.blobs/<sha256>`, which keeps the JSON
small enough to rewrite on every TTS call. Configuration (limits, latency) is not persisted: it comes
from the constructor, i.e. the command line, on every start.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import threading
import time
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from . import errors
from .audio import probe_duration, sniff_mime
from .forms import UploadedFile
from .ids import new_id
from .lineage import RenderRegistry, SampleAnalysis, analyse_sample, clone_timbre
from .search import search_voices
from .shapes import premade_records, render_sample, render_voice, subscription, user
from .timbre import Degradation, Timbre, shifted, timbre_for, validate_shift

STATE_FORMAT = 1
# TTS audio hashes remembered for speech-to-text; bounded so a long-running emulator stays small.
MAX_SPOKEN = 5000
MAX_LOGGED_REQUESTS = 10000
# Per-request text limits by model family (help center article 19572237925521).
_MODEL_CHARACTER_LIMITS = (("eleven_flash", 40_000), ("eleven_turbo", 40_000), ("eleven_v3", 3_000))
DEFAULT_MODEL_CHARACTER_LIMIT = 10_000


@dataclass
class Config:
    voice_limit: int = 30
    character_limit: int = 1_000_000
    latency_ms: int = 0  # added to every API request
    max_concurrent_requests: int = 5  # reported in TTS headers (Creator, Multilingual v2)

    def update(self, values: dict) -> None:
        known = {item.name for item in fields(self)}
        for name, value in values.items():
            if value is None:
                continue
            if name not in known:
                raise ValueError(f"unknown setting {name!r}; known: {', '.join(sorted(known))}")
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")
            setattr(self, name, value)


@dataclass(frozen=True)
class TtsTicket:
    """What a TTS request needs once admitted: it stays valid even if the voice is deleted meanwhile."""

    timbre: Timbre  # the voice's timbre with any planted shift applied
    generation: int
    cost: int
    concurrent: int
    max_concurrent: int


def model_character_limit(model_id: str) -> int:
    for prefix, limit in _MODEL_CHARACTER_LIMITS:
        if model_id.startswith(prefix):
            return limit
    return DEFAULT_MODEL_CHARACTER_LIMIT


class RequestLog:
    """Recorded API requests (not control requests), newest last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict] = deque(maxlen=MAX_LOGGED_REQUESTS)

    def add(self, entry: dict) -> dict:
        with self._lock:
            self._entries.append(entry)
        return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def entries(self) -> list[dict]:
        with self._lock:
            return [dict(entry) for entry in self._entries]


class EmulatorState:
    def __init__(
        self,
        *,
        voice_limit: int = 30,
        character_limit: int = 1_000_000,
        latency_ms: int = 0,
        state_file: str | os.PathLike | None = None,
    ):
        self._lock = threading.RLock()
        self._defaults = Config(voice_limit=voice_limit, character_limit=character_limit, latency_ms=latency_ms)
        self.config = replace(self._defaults)
        self.degradation = Degradation()
        self.renders = RenderRegistry()
        self._state_file = Path(state_file) if state_file else None
        self._clear()
        if self._state_file and self._state_file.exists():
            self._load()

    # ----------------------------------------------------------------- housekeeping

    def _clear(self) -> None:
        self._voices: dict[str, dict] = {}  # custom (cloned) voices by id, in creation order
        self._premade = {record["voice_id"]: record for record in premade_records()}
        self._blobs: dict[str, bytes] = {}  # sample bytes by sha256, shared by identical uploads
        self._spoken: OrderedDict[str, dict] = OrderedDict()  # TTS audio sha256 -> text, duration
        self._character_count = 0
        self._voice_add_edit_counter = 0
        self._seq = 0
        self._in_flight_tts = 0
        self.renders.clear()  # what the emulator rendered before is forgotten with the voices

    def reset(self, **config) -> None:
        """Forget every voice and all usage; settings return to the defaults, then `config` applies."""
        with self._lock:
            degradation = config.pop("degradation", None)
            new_config = replace(self._defaults)
            new_config.update(config)
            new_degradation = Degradation().updated(degradation or {})
            self._clear()
            self.config = new_config
            self.degradation = new_degradation
            self._save()

    def configure(self, **config) -> dict:
        """Change settings; `degradation` (a dict) changes the per-generation lineage degradation."""
        with self._lock:
            degradation = config.pop("degradation", None)
            self.config.update(config)
            if degradation:
                self.degradation = self.degradation.updated(degradation)
            return dict(asdict(self.config), degradation=self.degradation.as_dict())

    # ----------------------------------------------------------------- voices

    def _record(self, voice_id: str) -> dict:
        record = self._voices.get(voice_id) or self._premade.get(voice_id)
        if record is None:
            raise errors.voice_not_found(voice_id)
        return record

    def _custom_record(self, voice_id: str) -> dict:
        record = self._record(voice_id)
        if record["category"] == "premade":
            raise errors.api_error(
                400,
                "voice_not_editable",
                f"The premade voice {voice_id} cannot be edited or deleted.",
                param="voice_id",
            )
        return record

    def _new_sample(self, upload: UploadedFile, remove_background_noise: bool) -> dict:
        """A sample record, with its audio recognised or measured (slow: call without the lock)."""
        data = upload.data
        return {
            "sample_id": new_id(),
            "file_name": upload.filename,
            "mime_type": sniff_mime(data, upload.content_type),
            "size_bytes": len(data),
            "hash": hashlib.md5(data).hexdigest(),
            "duration_secs": probe_duration(data),
            "remove_background_noise": remove_background_noise,
            "has_isolated_audio": False,
            "has_isolated_audio_preview": False,
            "speaker_separation": None,
            "trim_start": None,
            "trim_end": None,
            "sha256": hashlib.sha256(data).hexdigest(),
            "analysis": analyse_sample(data, self.renders).as_dict(),
        }

    def _retimbre(self, record: dict) -> None:
        """Estimate the voice's timbre and generation from all of its samples (issue 10, item 1)."""
        analyses = [SampleAnalysis.from_dict(sample["analysis"]) for sample in record["samples"] if "analysis" in sample]
        hashes = ",".join(sample["sha256"] for sample in record["samples"])
        seed = f"{hashes}#{record['seq']}#{record['revision']}"
        clone = clone_timbre(analyses, seed=seed, degradation=self.degradation)
        record["timbre"] = clone.timbre.as_dict()
        record["generation"] = clone.generation
        record["lineage"] = {"synthetic_share": round(clone.synthetic_share, 4), "mean_depth": round(clone.mean_depth, 4)}

    def create_voice(
        self,
        *,
        name: str,
        files: list[UploadedFile],
        description: str | None,
        labels: dict,
        remove_background_noise: bool,
    ) -> str:
        samples = [self._new_sample(upload, remove_background_noise) for upload in files]  # decoding: no lock
        with self._lock:
            used, limit = len(self._voices), self.config.voice_limit
            if used >= limit:
                # Wording of a real response (receptron/mulmocast-app#1466), numbers from the config.
                raise errors.api_error(
                    400,
                    "voice_limit_reached",
                    f"You have reached your maximum amount of custom voices ({used} / {limit}). "
                    "You can upgrade your subscription to increase your custom voice limit.",
                )
            voice_id = new_id()
            while voice_id in self._voices or voice_id in self._premade:
                voice_id = new_id()
            self._seq += 1
            self._voices[voice_id] = {
                "voice_id": voice_id,
                "name": name,
                "category": "cloned",
                "description": description,
                "labels": labels,
                "created_at_unix": int(time.time()),
                "samples": samples,
                "seq": self._seq,
                "revision": 0,
                "planted_shift": None,
            }
            self._retimbre(self._voices[voice_id])
            for upload, sample in zip(files, samples):
                self._blobs[sample["sha256"]] = upload.data
            self._voice_add_edit_counter += 1
            self._save()
            return voice_id

    def _regenerate_timbre(self, record: dict) -> None:
        # The real service re-computes an instant clone from its samples, so a changed sample set
        # gives a (slightly) different voice: re-estimate from the samples now held.
        record["revision"] += 1
        self._retimbre(record)

    def edit_voice(
        self,
        voice_id: str,
        *,
        name: str,
        files: list[UploadedFile],
        description: str | None,
        labels: dict | None,
        remove_background_noise: bool,
    ) -> None:
        samples = [self._new_sample(upload, remove_background_noise) for upload in files]
        with self._lock:
            record = self._custom_record(voice_id)
            record["name"] = name
            if description is not None:
                record["description"] = description
            if labels is not None:
                record["labels"] = labels
            if samples:
                record["samples"].extend(samples)
                for upload, sample in zip(files, samples):
                    self._blobs[sample["sha256"]] = upload.data
                self._regenerate_timbre(record)
                self._voice_add_edit_counter += 1
            self._save()

    def delete_voice(self, voice_id: str) -> None:
        with self._lock:
            self._custom_record(voice_id)
            del self._voices[voice_id]
            self._forget_unused_blobs()
            self._save()

    def delete_sample(self, voice_id: str, sample_id: str) -> None:
        with self._lock:
            record = self._custom_record(voice_id)
            remaining = [sample for sample in record["samples"] if sample["sample_id"] != sample_id]
            if len(remaining) == len(record["samples"]):
                raise self._sample_not_found(voice_id, sample_id)
            record["samples"] = remaining
            self._regenerate_timbre(record)
            self._forget_unused_blobs()
            self._save()

    @staticmethod
    def _sample_not_found(voice_id: str, sample_id: str) -> errors.ApiError:
        # The real status for an unknown sample is not documented (spec §11); 404 mirrors voices.
        return errors.api_error(
            404,
            "sample_not_found",
            f"A sample with the sample_id {sample_id} was not found for the voice_id {voice_id}.",
        )

    def sample_audio(self, voice_id: str, sample_id: str) -> tuple[bytes, str]:
        with self._lock:
            record = self._record(voice_id)
            for sample in record["samples"] or []:
                if sample["sample_id"] == sample_id:
                    data = self._blobs.get(sample["sha256"])
                    if data is None:  # a state file whose blob directory was removed
                        break
                    return data, sample["mime_type"]
            raise self._sample_not_found(voice_id, sample_id)

    def _forget_unused_blobs(self) -> None:
        used = {sample["sha256"] for record in self._voices.values() for sample in record["samples"]}
        for sha in set(self._blobs) - used:
            del self._blobs[sha]

    def get_voice(self, voice_id: str) -> dict:
        with self._lock:
            return render_voice(self._record(voice_id))

    def list_voices(self) -> list[dict]:
        with self._lock:
            return [render_voice(record) for record in [*self._premade.values(), *self._voices.values()]]

    def search_voices(self, query: dict[str, list[str]]) -> dict:
        with self._lock:
            return search_voices([*self._premade.values(), *self._voices.values()], query)

    # ----------------------------------------------------------------- account

    def subscription(self) -> dict:
        with self._lock:
            return subscription(
                character_count=self._character_count,
                character_limit=self.config.character_limit,
                voice_slots_used=len(self._voices),
                voice_limit=self.config.voice_limit,
                voice_add_edit_counter=self._voice_add_edit_counter,
            )

    def user(self, api_key: str) -> dict:
        return user(self.subscription(), api_key=api_key)

    # ----------------------------------------------------------------- speech

    def begin_tts(self, voice_id: str, text: str, model_id: str) -> TtsTicket:
        """Admit a TTS request: check voice, text length and quota, then charge the characters."""
        with self._lock:
            record = self._record(voice_id)
            limit = model_character_limit(model_id)
            if len(text) > limit:
                raise errors.api_error(
                    400,
                    "max_character_limit_exceeded",
                    f"This request's text has {len(text)} characters and exceeds the character limit "
                    f"of {limit} characters.",
                    param="text",
                )
            cost = len(text)
            remaining = self.config.character_limit - self._character_count
            if cost > remaining:
                # Wording of a real 2026 response (home-assistant/core#160414).
                raise errors.api_error(
                    401,
                    "quota_exceeded",
                    f"This request exceeds your quota of {self.config.character_limit}. You have {max(remaining, 0)} "
                    f"credits remaining, while {cost} credits are required for this request.",
                )
            self._character_count += cost
            self._in_flight_tts += 1
            self._save()
            timbre = shifted(Timbre.from_dict(record["timbre"]), record.get("planted_shift"))
            return TtsTicket(
                timbre, record["generation"], cost, self._in_flight_tts, self.config.max_concurrent_requests
            )

    def record_render(self, key: tuple, rendered, *, ticket: TtsTicket) -> None:
        """Remember a render (audio.Rendered), so a copy of it uploaded as a sample is recognised as
        generation + 1 speech. Its fingerprint may still be pending; matching waits for it."""
        if rendered.fingerprint is not None:
            self.renders.add(
                key, rendered.fingerprint, depth=ticket.generation + 1, timbre=ticket.timbre,
                duration_s=rendered.duration_secs,
            )

    def end_tts(self, *, audio_sha256: str | None, text: str, duration_secs: float) -> None:
        with self._lock:
            self._in_flight_tts -= 1
            if audio_sha256:
                self._spoken[audio_sha256] = {"text": text, "duration_secs": duration_secs}
                self._spoken.move_to_end(audio_sha256)
                while len(self._spoken) > MAX_SPOKEN:
                    self._spoken.popitem(last=False)
                self._save()

    def transcript_declare(self, *, audio_sha256: str, text: str) -> None:
        """Say what a recording of human speech says (tests: espeak-ng reading a known sentence), so that
        speech-to-text reports it like a real recogniser would. Kept with the TTS clips, same limit."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text must be a non-empty string")
        if not isinstance(audio_sha256, str) or len(audio_sha256) != 64:
            raise ValueError("sha256 must be the 64 hex digits of the audio's SHA-256")
        with self._lock:
            self._spoken[audio_sha256.lower()] = {"text": text, "duration_secs": None}
            self._spoken.move_to_end(audio_sha256.lower())
            while len(self._spoken) > MAX_SPOKEN:
                self._spoken.popitem(last=False)
            self._save()

    def spoken_text(self, audio_sha256: str) -> dict | None:
        with self._lock:
            entry = self._spoken.get(audio_sha256)
            return dict(entry) if entry else None

    # ----------------------------------------------------------------- timbre control

    def voice_timbre(self, voice_id: str) -> dict:
        """The control view of one voice's timbre: estimate, generation and planted shift."""
        with self._lock:
            record = self._record(voice_id)
            timbre = Timbre.from_dict(record["timbre"])
            return {
                "voice_id": voice_id,
                "timbre": timbre.as_dict(),
                "generation": record["generation"],
                "planted_shift": record["planted_shift"],
                "rendered_timbre": shifted(timbre, record["planted_shift"]).as_dict(),
                "lineage": record["lineage"],
            }

    def plant_shift(self, voice_id: str, shift: dict) -> dict:
        """Shift what later renders of the voice sound like (drift tests); an empty shift clears it."""
        shift = validate_shift(shift)
        with self._lock:
            record = self._record(voice_id)
            record["planted_shift"] = shift or None
            self._save()
        return self.voice_timbre(voice_id)

    # ----------------------------------------------------------------- control view

    def snapshot(self) -> dict:
        """The account as the control endpoint shows it: custom voices with emulator-only details."""
        with self._lock:
            voices = []
            for record in self._voices.values():
                voice = render_voice(record)
                voice["samples"] = [dict(render_sample(s), sha256=s["sha256"]) for s in record["samples"]]
                voice["emulator"] = {
                    "timbre": record["timbre"],
                    "generation": record["generation"],
                    "lineage": record["lineage"],
                    "revision": record["revision"],
                    "planted_shift": record["planted_shift"],
                }
                voices.append(voice)
            return {
                "voices": voices,
                "premade_voice_ids": list(self._premade),
                "voice_slots_used": len(self._voices),
                "voice_limit": self.config.voice_limit,
                "character_count": self._character_count,
                "character_limit": self.config.character_limit,
                "voice_add_edit_counter": self._voice_add_edit_counter,
                "config": asdict(self.config),
            }

    # ----------------------------------------------------------------- persistence

    @property
    def _blob_dir(self) -> Path:
        assert self._state_file is not None
        return self._state_file.with_name(self._state_file.name + ".blobs")

    def _save(self) -> None:
        if self._state_file is None:
            return
        document = {
            "format": STATE_FORMAT,
            "voices": list(self._voices.values()),
            "character_count": self._character_count,
            "voice_add_edit_counter": self._voice_add_edit_counter,
            "seq": self._seq,
            "spoken": self._spoken,
        }
        self._blob_dir.mkdir(parents=True, exist_ok=True)
        for sha, data in self._blobs.items():
            path = self._blob_dir / sha
            if not path.exists():
                _write_atomically(path, data)
        for path in self._blob_dir.iterdir():
            if path.name not in self._blobs and not path.name.startswith("."):
                path.unlink(missing_ok=True)
        _write_atomically(self._state_file, json.dumps(document, indent=1).encode("utf-8"))

    def _load(self) -> None:
        assert self._state_file is not None
        try:
            document = json.loads(self._state_file.read_text("utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            # Refuse to start rather than silently overwrite a file someone may want to keep.
            raise RuntimeError(f"cannot read emulator state file {self._state_file}: {exc}") from exc
        if document.get("format") != STATE_FORMAT:
            raise RuntimeError(f"emulator state file {self._state_file} has an unknown format")
        self._voices = {record["voice_id"]: record for record in document["voices"]}
        for record in self._voices.values():
            if "timbre" not in record:  # written before timbres came from samples: keep its old seed's voice
                record["timbre"] = timbre_for(record.pop("timbre_seed", record["voice_id"])).as_dict()
                record.update(revision=record.get("generation", 0), generation=0, lineage=None, planted_shift=None)
        self._character_count = document["character_count"]
        self._voice_add_edit_counter = document["voice_add_edit_counter"]
        self._seq = document["seq"]
        self._spoken = OrderedDict(document["spoken"])
        for record in self._voices.values():
            for sample in record["samples"]:
                path = self._blob_dir / sample["sha256"]
                if path.exists():
                    self._blobs[sample["sha256"]] = path.read_bytes()


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(data)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
