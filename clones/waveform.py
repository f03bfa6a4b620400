"""Waveform images of clips for staff review: rendered server-side once, cached in storage.

An image is a small SVG (`waveforms/{clip_id}_{sha256[:12]}.svg`, a few kB; the hash keeps a
cached image from ever belonging to other audio): the min/max envelope of the samples at
true level (a too-quiet clip looks flat, on purpose), columns that hold clipped samples in red, and
silence below the VAD floor left empty. It has a `viewBox` and `preserveAspectRatio="none"`, so the same
file is the thumbnail in the changelist and the large waveform on the detail page.

No plotting library: the SVG is text written with numpy. The stored clip is only ever read.
"""

from __future__ import annotations

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from clones.models import ClipSample

COLUMNS = 600
HEIGHT = 100
CLIP_LEVEL = 0.99
ENVELOPE_COLOUR = "#2b6cb0"
CLIPPED_COLOUR = "#e53e3e"
CONTENT_TYPE = "image/svg+xml"


def waveform_path(clip: ClipSample) -> str:
    return f"waveforms/{clip.pk}_{(clip.sha256 or 'nohash')[:12]}.svg"


def render_waveform_svg(samples: np.ndarray, sample_rate: int, *, columns: int = COLUMNS) -> str:
    """The SVG text of a mono float clip's envelope (deterministic)."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    mid = HEIGHT / 2
    duration_s = x.size / sample_rate if sample_rate else 0.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {columns} {HEIGHT}" '
        f'preserveAspectRatio="none" data-duration-s="{duration_s:.3f}">',
        f'<rect width="{columns}" height="{HEIGHT}" fill="#f7fafc"/>',
        f'<line x1="0" y1="{mid:g}" x2="{columns}" y2="{mid:g}" stroke="#cbd5e0" stroke-width="0.5"/>',
    ]
    if x.size:
        columns = min(columns, x.size)
        edges = np.linspace(0, x.size, columns + 1).astype(np.int64)
        highs = np.maximum.reduceat(x, edges[:-1])
        lows = np.minimum.reduceat(x, edges[:-1])
        clipped = np.maximum.reduceat((np.abs(x) >= CLIP_LEVEL).astype(np.int8), edges[:-1]) > 0
        top = mid - np.clip(highs, -1, 1) * mid
        bottom = mid - np.clip(lows, -1, 1) * mid
        # Keep at least a hairline so quiet stretches still show where the clip is.
        bottom = np.maximum(bottom, top + 0.3)
        xs = np.arange(columns) + 0.5
        points = [f"{a:.1f},{b:.1f}" for a, b in zip(xs, top)]
        points += [f"{a:.1f},{b:.1f}" for a, b in zip(xs[::-1], bottom[::-1])]
        parts.append(f'<polygon fill="{ENVELOPE_COLOUR}" points="{" ".join(points)}"/>')
        for column in np.flatnonzero(clipped):
            parts.append(f'<rect x="{column}" y="0" width="1" height="{HEIGHT}" fill="{CLIPPED_COLOUR}" opacity="0.6"/>')
    parts.append("</svg>")
    return "".join(parts)


def waveform_store(*, clip: ClipSample, samples: np.ndarray, sample_rate: int) -> str:
    """Render and (over)write the cached image of a clip; returns its storage name."""
    path = waveform_path(clip)
    svg = render_waveform_svg(samples, sample_rate).encode()
    if default_storage.exists(path):
        default_storage.delete(path)
    default_storage.save(path, ContentFile(svg))
    return path


def waveform_get_or_render(clip: ClipSample) -> bytes:
    """The cached SVG of `clip`, rendered from its stored audio on first use.

    Raises clones.audio.AudioProbeError when the stored file does not decode.
    """
    from clones import storage
    from clones.audio import decode_audio

    path = waveform_path(clip)
    if default_storage.exists(path):
        with default_storage.open(path, "rb") as fh:
            return fh.read()
    samples, sample_rate = decode_audio(storage.read_bytes(clip.file.name))
    waveform_store(clip=clip, samples=samples, sample_rate=sample_rate)
    with default_storage.open(path, "rb") as fh:
        return fh.read()
