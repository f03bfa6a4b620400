"""Where clip files live in storage, and reading them back.

Generated replies: `clone_responses/{voice_uuid}/response_{UTC timestamp}_{clip id}.mp3`, so every
spoken reply is kept, organised by voice. Originals: `originals/{voice_uuid}/…`. The path of a
generated clip is derived from its row (created_at and id) so a retried task finds the file a
crashed attempt already wrote instead of writing a second one.
"""

import hashlib
import re

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from .models import ClipSample


def generated_clip_path(clip: ClipSample) -> str:
    stamp = clip.created_at.strftime("%Y%m%dT%H%M%S%fZ")
    return f"clone_responses/{clip.voice_id}/response_{stamp}_{clip.pk}.mp3"


def original_sample_path(*, voice_id, index: int, sha256: str, extension: str) -> str:
    return f"originals/{voice_id}/sample_{index:02d}_{sha256[:12]}{extension}"


def user_audio_path(*, user_id: int, conversation_id, message_id, extension: str) -> str:
    return f"user_audio/{user_id}/{conversation_id}/{message_id}{extension}"


def preview_clip_path(clip: ClipSample) -> str:
    stamp = clip.created_at.strftime("%Y%m%dT%H%M%S%fZ")
    return f"clone_previews/{clip.voice_id}/preview_{stamp}_{clip.pk}.mp3"


def save_bytes(path: str, data: bytes) -> str:
    """Write `data` at exactly `path` (never a renamed copy) and return the stored name.

    Writing the same content twice is a no-op, which makes the callers' retries idempotent.
    """
    if default_storage.exists(path):
        if read_bytes(path) == data:
            return path
        default_storage.delete(path)
    name = default_storage.save(path, ContentFile(data))
    if name != path:  # storage renamed it: a concurrent writer raced us; keep the canonical path.
        raise RuntimeError(f"Storage stored {path!r} as {name!r}")
    return name


def read_bytes(path: str) -> bytes:
    with default_storage.open(path, "rb") as fh:
        return fh.read()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def safe_filename(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name or "")[:80].strip("._")
    return stem or "sample"
