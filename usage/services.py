"""Writing the cost ledger. The only writer is the provider adapter's usage report (voiceclone.provider.usage)."""

from __future__ import annotations

from django.utils import timezone

from voiceclone.provider.usage import ProviderUsage

from . import context
from .models import UsageEntry


def usage_record_from_provider(usage: ProviderUsage) -> UsageEntry:
    """Write one ledger row for a billed provider call, attributed by `usage.context` (kind, user, voice), else
    by the provider voice: its voice, and that voice's owner. Kind defaults to `tts` / `stt`."""
    from clones.models import Voice, VoiceVersion

    attribution = context.current()
    kind = attribution.get("kind") or (UsageEntry.Kind.STT if usage.operation == "stt" else UsageEntry.Kind.TTS)
    voice_id = attribution.get("voice_id")
    if voice_id is None and usage.provider_voice_id:
        voice_id = (VoiceVersion.objects.filter(provider_voice_id=usage.provider_voice_id)
                    .values_list("voice_id", flat=True).first())
    user_id = attribution.get("user_id")
    if user_id is None and voice_id is not None:
        user_id = Voice.objects.filter(pk=voice_id).values_list("owner_id", flat=True).first()
    now = timezone.now()
    return UsageEntry.objects.create(
        day=now.date(), kind=kind, operation=usage.operation, user_id=user_id, voice_id=voice_id, voice_ref=voice_id,
        characters=max(0, int(usage.characters or 0)), audio_s=usage.audio_s,
        provider_voice_id=(usage.provider_voice_id or "")[:64], provider_request_id=(usage.request_id or "")[:64],
        model_id=(usage.model_id or "")[:64],
    )
