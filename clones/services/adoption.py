"""Adopting a provider voice voiceclone did not create (a previous installation's), issue 14 item 5.

The provider voice becomes version 1 of a new Voice, under a stable voice id like any other (`adopted_at`
marks that what it was trained on is unknown). Its recordings at the provider become originals only when
staff confirm they are the consenting speaker's: a clone made by an app that retrained on its own output
may hold synthetic samples, which must never anchor a retrain. Confirmed samples pass the same checks as
any original (`originals.originals_check`: never audio voiceclone generated or imported as generated),
with one consent record (method `staff_confirmed`) for the batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from clones.models import ClipSample, ConsentRecord, Voice, VoiceVersion
from voiceclone import provider
from voiceclone.errors import InvalidState
from voiceclone.events.services import event_emit

from .originals import originals_check, voice_originals_add
from .voices import SampleUpload

logger = logging.getLogger(__name__)

ADOPTED_PERSONA = "You are {name}. You speak warmly and naturally, in short sentences."
STAFF_CONFIRMATION_TEXT = (
    "Staff confirmed that these recordings, taken from the provider voice {provider_voice_id} of a previous "
    "installation, are of the consenting speaker. {note}"
)


@dataclass
class AdoptionResult:
    voice: Voice
    created: bool
    originals_added: list[ClipSample] = field(default_factory=list)
    originals_refused: list[str] = field(default_factory=list)


def provider_voice_adopt(
    *,
    provider_voice_id: str,
    owner,
    name: str = "",
    persona: str = "",
    language: str = "en",
    originals_confirmed: bool = False,
    confirmed_by=None,
    speaker_name: str = "",
    confirmation_note: str = "",
) -> AdoptionResult:
    """Make the provider voice `provider_voice_id` version 1 (active) of a new ready Voice of `owner`.

    Idempotent: a provider voice a version already owns is not adopted twice (the existing voice is
    returned, `created=False`); with `originals_confirmed` its samples not yet stored are still added.
    Raises VoiceNotFound when the provider has no such voice, ProviderError when it cannot say.
    """
    existing = VoiceVersion.objects.select_related("voice").filter(provider_voice_id=provider_voice_id).first()
    pv = provider.get_voice(voice_id=provider_voice_id)
    created = False
    if existing is not None:
        voice = existing.voice
    else:
        voice = Voice(
            owner=owner,
            name=(name or pv.name or "Adopted voice")[:100],
            persona=persona or ADOPTED_PERSONA.format(name=name or pv.name or "the speaker"),
            language=language or pv.labels.get("language") or "en",
            status=Voice.Status.READY,
        )
        try:
            with transaction.atomic():
                voice.full_clean()
                voice.save()
                version = VoiceVersion.objects.create(
                    voice=voice, number=1, provider_voice_id=provider_voice_id, state=VoiceVersion.State.ACTIVE,
                    adopted_at=timezone.now(),
                )
                voice.current_version = version
                voice.save(update_fields=["current_version", "updated_at"])
                event_emit(type="voice.ready", user=owner, voice=voice, payload={"version": 1, "adopted": True})
        except IntegrityError:
            # Adopted concurrently: the other adoption won.
            voice = VoiceVersion.objects.select_related("voice").get(provider_voice_id=provider_voice_id).voice
        else:
            created = True
    result = AdoptionResult(voice=voice, created=created)
    if originals_confirmed:
        _adopt_samples(result, pv=pv, by=confirmed_by or owner, speaker_name=speaker_name,
                       note=confirmation_note)
    return result


def provider_samples_download(pv: provider.ProviderVoice) -> list[SampleUpload]:
    """The recordings of a provider voice, as uploads (one provider read per sample)."""
    uploads = []
    for sample in pv.samples:
        data = provider.sample_audio(voice_id=pv.voice_id, sample_id=sample.sample_id)
        uploads.append(SampleUpload(filename=sample.file_name or f"{sample.sample_id}.mp3", data=data))
    return uploads


def _adopt_samples(result: AdoptionResult, *, pv: provider.ProviderVoice, by, speaker_name: str, note: str) -> None:
    if result.voice.status == Voice.Status.DISABLED:
        raise InvalidState("A disabled voice cannot be changed.")
    uploads = provider_samples_download(pv)
    checked, refused = originals_check(voice=result.voice, samples=uploads)
    # Already stored is not a refusal on a second run: only report what was really turned away.
    result.originals_refused = [m for m in refused if "already is one of the voice's originals" not in m]
    if not checked:
        return
    result.originals_added = voice_originals_add(
        voice=result.voice,
        by=by,
        samples=[upload for upload, _, _ in checked],
        consent=True,
        via="system",
        speaker_name=speaker_name,
        consent_method=ConsentRecord.Method.STAFF_CONFIRMED,
        statement_version=f"{settings.CONSENT_STATEMENT_VERSION}+staff-confirmed",
        statement_text=STAFF_CONFIRMATION_TEXT.format(provider_voice_id=pv.voice_id, note=note).strip(),
    )
