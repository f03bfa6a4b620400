"""Audio made in tests with numpy + soundfile: speech-like recordings, silence, bad files."""

import io

import numpy as np
import soundfile as sf


def speech_like(seconds: float = 3.0, sample_rate: int = 16000, f0: float = 160.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    phase = 2 * np.pi * np.cumsum(f0 + 20 * np.sin(2 * np.pi * 0.5 * t)) / sample_rate
    voiced = sum((0.6 / k) * np.sin(k * phase) for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None) ** 0.7
    signal = voiced * envelope + 0.002 * rng.standard_normal(t.size)
    return (0.25 * signal / np.max(np.abs(signal))).astype(np.float32)


def encode(samples: np.ndarray, sample_rate: int = 16000, fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, sample_rate, format=fmt)
    return buf.getvalue()


def wav_bytes(seconds: float = 3.0, seed: int = 0, f0: float = 160.0) -> bytes:
    return encode(speech_like(seconds, seed=seed, f0=f0))


def mp3_bytes(seconds: float = 3.0, seed: int = 0) -> bytes:
    return encode(speech_like(seconds, seed=seed), fmt="MP3")


PNG_BYTES = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000a49444154789c6300010000050001")
