"""Identical renders are paid once (issue 15 item 5, docs/usage.md).

A render is identified by its voice version (the provider voice), the exact text, the TTS model, the output
format and the voice settings: `render_key`. When a reply's render key matches a stored generated clip whose
file is whole, the reply gets **its own clip row and its own copy of the file** (at its canonical path) instead of
a provider call: every message keeps a clip it owns (retire, purge, export and hard delete stay per clip), the
copy records `reused_from` and `character_cost=0`, and the ledger (usage/) has no entry for it, because no
provider call was made.
"""

from __future__ import annotations

import hashlib
import json
import logging

from django.conf import settings
from django.db import transaction

from clones import storage
from clones.models import ClipSample, VoiceVersion

logger = logging.getLogger(__name__)


def render_key(*, version: VoiceVersion, text: str, model_id: str | None = None, output_format: str | None = None,
               voice_settings: dict | None = None) -> str:
    """SHA-256 over what decides the audio: provider voice, text, model, format and voice settings."""
    parts = {
        "voice": version.provider_voice_id,
        "text": text,
        "model": model_id or settings.ELEVENLABS_TTS_MODEL,
        "format": output_format or settings.ELEVENLABS_TTS_OUTPUT_FORMAT,
        "settings": voice_settings or {},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def reusable_render(*, version: VoiceVersion, key: str) -> tuple[ClipSample, bytes] | None:
    """The newest stored render of `key` by `version` whose file is whole (its hash matches), with its audio."""
    candidates = (ClipSample.objects.filter(version=version, render_key=key, source=ClipSample.Source.GENERATED)
                  .exclude(file="").order_by("-created_at", "-id")[:3])
    for clip in candidates:
        if not storage.default_storage.exists(clip.file.name):
            continue
        audio = storage.read_bytes(clip.file.name)
        if storage.sha256_hex(audio) == clip.sha256:
            return clip, audio
    return None


def reply_render_reuse(*, message, version: VoiceVersion) -> ClipSample | None:
    """Give the reply `message` a clip copied from an identical stored render, or None when there is none (the
    caller then calls the provider). The clip row and the message link are written together; the file is
    written by the pipeline's own `_clip_finish`, so a crash in between is completed like any other clip."""
    from conversations.models import Message
    from conversations.services import _clip_finish

    key = render_key(version=version, text=message.text)
    found = reusable_render(version=version, key=key)
    if found is None:
        return None
    source, audio = found
    with transaction.atomic():
        clip = ClipSample.objects.create(
            voice_id=version.voice_id, source=ClipSample.Source.GENERATED, content_type=source.content_type,
            version=version, text=message.text, lineage_depth=version.generated_lineage_depth,
            provider_request_id="", character_cost=0, sha256=source.sha256, size_bytes=len(audio),
            render_key=key, reused_from=source,
        )
        Message.objects.filter(pk=message.pk).update(clip=clip)
    logger.info("reply %s reuses the render of clip %s", message.pk, source.pk)
    return _clip_finish(clip, audio=audio)
