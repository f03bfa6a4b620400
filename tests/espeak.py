"""Human-like speech for tests and benchmarks: Debian's espeak-ng speaking real sentences.

espeak-ng is a formant synthesiser, but its voice variants differ the way speakers do (pitch register,
formant scaling, breathiness, flutter), it speaks real English with real phonetics, and it is
deterministic. bin/install-espeak installs it when missing and root; otherwise `require_espeak()` skips
with the reason.
"""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import soundfile as sf

ESPEAK = shutil.which("espeak-ng")

# Variants that differ in pitch or formant settings (voices/!v in espeak-ng-data). Left out: pairs that
# are one voice with another synthesiser effect (croak/grandpa, linda/belinda, klatt/klatt2).
SPEAKERS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
            "klatt", "croak", "Andy", "aunty", "boris", "david", "edward", "linda", "max", "michel")

SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Could you tell me the way to the railway station, please?",
    "We baked forty loaves of bread before the sun came up this morning.",
    "My grandmother kept a garden full of roses, beans and tall sunflowers.",
    "Nobody expected the meeting to last until half past seven.",
    "What a wonderful surprise to see you here again after all these years!",
    "The library opens at nine and closes early on Saturdays.",
    "Please remember to water the plants while I am away in Lisbon.",
    "She counted three hundred and twelve birds on the frozen lake.",
    "Thunder rolled across the valley as the old train pulled in.",
)


def require_espeak():
    import pytest

    if ESPEAK is None:
        pytest.skip("espeak-ng is not installed (bin/test installs Debian's espeak-ng when run as root)")


def speak(text: str, speaker: str, *, words_per_minute: int = 160, language: str = "en-us") -> tuple[np.ndarray, int]:
    """Samples and sample rate of `text` spoken by the espeak-ng variant `speaker`."""
    wav = subprocess.run(
        [ESPEAK, "-v", f"{language}+{speaker}", "-s", str(words_per_minute), "--stdout", text],
        check=True, capture_output=True, timeout=60,
    ).stdout
    samples, rate = sf.read(io.BytesIO(_fix_stream_header(wav)), dtype="float32")
    return samples, rate


def speak_wav(text: str, speaker: str, **kwargs) -> bytes:
    samples, rate = speak(text, speaker, **kwargs)
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _fix_stream_header(wav: bytes) -> bytes:
    # espeak-ng cannot seek back on a pipe, so the RIFF and data sizes it writes are placeholders.
    if wav[:4] != b"RIFF":
        return wav
    fixed = bytearray(wav)
    fixed[4:8] = (len(wav) - 8).to_bytes(4, "little")
    data_at = wav.find(b"data", 12)
    if data_at >= 0:
        fixed[data_at + 4 : data_at + 8] = (len(wav) - data_at - 8).to_bytes(4, "little")
    return bytes(fixed)
