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


# --- transformations of a recording (the lineage guard must see through them) -------------------------


def decode(data: bytes) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return samples.mean(axis=1), rate


def encode_with_av(samples: np.ndarray, sample_rate: int, *, codec: str = "libmp3lame", bitrate: int = 64_000,
                   container: str = "mp3", out_rate: int | None = None) -> bytes:
    """Encode with ffmpeg's encoders (PyAV): MP3 at a chosen constant bitrate, or Opus/AAC, resampling on the way."""
    import av

    out_rate = out_rate or sample_rate
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=out_rate, layout="mono")
        stream.bit_rate = bitrate
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.float32)[None, :], format="flt",
                                           layout="mono")
        frame.sample_rate = sample_rate
        # Encoders take frames of exactly their frame size, in their own sample format.
        resampler = av.AudioResampler(format=stream.codec_context.format, layout="mono", rate=out_rate,
                                      frame_size=stream.codec_context.frame_size)
        for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(chunk):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return buffer.getvalue()


def resample_with_av(samples: np.ndarray, sample_rate: int, rate: int) -> np.ndarray:
    import av

    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.float32)[None, :], format="flt",
                                       layout="mono")
    frame.sample_rate = sample_rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    parts = [f.to_ndarray()[0] for f in resampler.resample(frame)] + [f.to_ndarray()[0] for f in resampler.resample(None)]
    return np.concatenate(parts)


def transformed(data: bytes, transform: str) -> tuple[str, bytes]:
    """(filename, bytes) of `data` after one named transformation, or several joined by '+'.

    reencode_mp3_<kbps>, resample_<hz> (to WAV), trim (0.37 s off the start, 0.29 s off the end),
    trim_half (only the middle half), gain_<db> (clipped at full scale), opus_<kbps>.
    """
    samples, rate = decode(data)
    codec, bitrate = None, None
    for step in transform.split("+"):
        if step.startswith("reencode_mp3_"):
            codec, bitrate = "libmp3lame", int(step.rsplit("_", 1)[1]) * 1000
        elif step.startswith("opus_"):
            codec, bitrate = "libopus", int(step.rsplit("_", 1)[1]) * 1000
        elif step.startswith("resample_"):
            new_rate = int(step.rsplit("_", 1)[1])
            samples, rate = resample_with_av(samples, rate, new_rate), new_rate
        elif step == "trim":
            samples = samples[int(0.37 * rate): len(samples) - int(0.29 * rate)]
        elif step == "trim_half":
            samples = samples[len(samples) // 4: 3 * len(samples) // 4]
        elif step.startswith("gain_"):
            db = float(step.split("_", 1)[1].replace("m", "-"))
            samples = np.clip(samples * 10 ** (db / 20), -1, 1)
        else:
            raise ValueError(step)
    if codec == "libopus":
        return "sample.ogg", encode_with_av(samples, rate, codec="libopus", bitrate=bitrate, container="ogg",
                                            out_rate=48000)
    if codec:
        return "sample.mp3", encode_with_av(samples, rate, codec=codec, bitrate=bitrate)
    return "sample.wav", encode(samples.astype(np.float32), rate)
