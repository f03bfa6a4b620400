"""Client for the emulator's control API (`/_emulator/...`), for tests and scripts.

Uses only the standard library so it works wherever the emulator does.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from urllib.parse import quote


class EmulatorControlError(RuntimeError):
    pass


class EmulatorControl:
    def __init__(self, base_url: str, *, timeout_s: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _call(self, method: str, endpoint: str, payload: object = None) -> dict:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(
            f"{self.base_url}/_emulator/{endpoint}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise EmulatorControlError(f"{method} {endpoint}: {exc.code} {detail}") from exc

    def reset(self, voice_limit: int | None = None, character_limit: int | None = None, **config) -> None:
        """Wipe voices, usage, faults and the request log; settings not given return to the server defaults."""
        self._call("POST", "reset", {"voice_limit": voice_limit, "character_limit": character_limit, **config})

    def configure(self, **config) -> dict:
        """Change settings: voice_limit, character_limit, latency_ms, max_concurrent_requests, and
        degradation={...} (per-generation lineage degradation, voiceclone.emulator.timbre.Degradation)."""
        return self._call("POST", "config", config)["config"]

    def voice_timbre(self, voice_id: str) -> dict:
        """`{"voice_id", "timbre": {...}, "generation", "planted_shift"}` (plus rendered_timbre, lineage)."""
        return self._call("GET", f"voices/{quote(voice_id, safe='')}/timbre")

    def shift_timbre(self, voice_id: str, **shift) -> dict:
        """Plant a shift on later renders: median_pitch_hz, pitch_range_st, spectral_tilt_db and breathiness
        add, formant_scale multiplies. No arguments clears it. Returns the voice's timbre view."""
        return self._call("POST", f"voices/{quote(voice_id, safe='')}/timbre", {"shift": shift})

    def add_fault(
        self,
        path: str,
        *,
        method: str | None = None,
        status: int | None = None,
        count: int | None = 1,
        mode: str | None = None,
        error_status: str | None = None,
        retry_after: float | int | str | None = None,
        plain_text: bool = False,
        delay_s: float | None = None,
        message: str | None = None,
    ) -> str:
        """Add a fault (see voiceclone.emulator.faults for the modes) and return its id.

        `path` is a regular expression searched in the request path; `count=None` means forever,
        `method=None` any method. The mode defaults to "status" when `status` is given.
        """
        spec = {
            "path": path,
            "method": method,
            "status": status,
            "count": count,
            "mode": mode or "status",
            "error_status": error_status,
            "retry_after": retry_after,
            "plain_text": plain_text,
            "delay_s": delay_s,
            "message": message,
        }
        return self._call("POST", "faults", spec)["id"]

    def faults(self) -> list[dict]:
        return self._call("GET", "faults")["faults"]

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def state(self) -> dict:
        return self._call("GET", "state")

    def requests(self, path: str | None = None, method: str | None = None) -> list[dict]:
        """Recorded API requests, oldest first; optionally only those whose path matches the regex `path`."""
        entries = self._call("GET", "requests")["requests"]
        if path is not None:
            entries = [entry for entry in entries if re.search(path, entry["path"])]
        if method is not None:
            entries = [entry for entry in entries if entry["method"] == method.upper()]
        return entries

    def declare_transcript(self, audio: bytes, text: str) -> None:
        """Make speech-to-text of exactly these bytes answer `text` (a recording of a person reading it)."""
        import hashlib

        self._call("POST", "transcripts", {"sha256": hashlib.sha256(audio).hexdigest(), "text": text})

    def voice_ids(self) -> list[str]:
        """Ids of the custom (cloned) voices, in creation order; premade voices are not included."""
        return [voice["voice_id"] for voice in self.state()["voices"]]
