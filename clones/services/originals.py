"""Originals after creation: add consented recordings to an existing voice, retire and restore them
(issue 14, item 3).

Adding follows the rules of creation (`voices.voice_create`): consent is required and recorded per batch
(a ConsentRecord with the statement version), every file is validated the same way (`_validate_sample`:
content, length, size, and never audio voiceclone generated), and each original is analysed on arrival.
Retiring keeps the recording (playable, auditable) but the selection never picks it again; it is not a
deletion and can be undone.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from clones import storage
from clones.models import ClipSample, ConsentRecord, GeneratedAudio, Voice
from voiceclone.errors import ConsentMissing, InvalidState

from .voices import CONSENT_STATEMENT, SampleUpload, _validate_sample, originals_record, originals_store


def voice_originals_add(
    *,
    voice: Voice,
    by,
    samples: list[SampleUpload],
    consent: bool,
    speaker_name: str = "",
    ip_address: str | None = None,
    user_agent: str = "",
    consent_method: str = ConsentRecord.Method.CHECKBOX,
    statement_version: str | None = None,
    statement_text: str | None = None,
    consent_recording: SampleUpload | None = None,
    consent_token: str = "",
    via: str = "api",
) -> list[ClipSample]:
    """Store consented recordings of the speaker as new originals of `voice` and analyse them.

    Raises ConsentMissing without consent (400 `consent_missing`), InvalidState for a disabled voice or
    one still being created, ValidationError (key `samples`, one message per bad file) for files creation
    would refuse, for more than VOICE_MAX_SAMPLES files, and for a recording that already is one of the
    voice's originals. Writes one ConsentRecord for the batch (each original points at it) and enqueues
    `clones.tasks.clip_analyse` per original on commit. Nothing is stored when anything is refused.
    The provider voice is not touched: the originals count from the next retrain or re-clone.
    """
    from .consent import consent_record_create, consent_record_fields, consent_recording_required, consent_recording_store
    from .voices import _consent_recording_prepare

    if not consent:
        raise ConsentMissing("Adding recordings of the speaker requires their recorded consent.")
    if voice.status in (Voice.Status.DISABLED, Voice.Status.REVOKED):
        raise InvalidState(f"A {voice.get_status_display().lower()} voice cannot be changed.")
    if voice.status == Voice.Status.CREATING:
        raise InvalidState("The voice is still being created; add recordings once it is ready.")
    if not samples:
        raise ValidationError({"samples": ["Upload at least one recording of the speaker."]})
    if len(samples) > settings.VOICE_MAX_SAMPLES:
        raise ValidationError({"samples": [f"Upload at most {settings.VOICE_MAX_SAMPLES} recordings at a time."]})

    checked, errors = originals_check(voice=voice, samples=samples)
    if errors:
        raise ValidationError({"samples": errors})
    if consent_recording is None and consent_recording_required(via=via):
        raise ConsentMissing("Record the speaker reading the consent phrase; the recording is the consent.")
    prepared = _consent_recording_prepare(consent_recording, consent_token, voice_name=voice.name,
                                          speaker_name=speaker_name)

    first_index = ClipSample.objects.filter(voice=voice, source=ClipSample.Source.ORIGINAL).count() + 1
    stored = originals_store(voice_id=voice.pk, checked=checked, first_index=first_index)

    recording_path = consent_recording_store(voice_id=voice.pk, recording=prepared) if prepared else None

    with transaction.atomic():
        record = consent_record_create(
            voice=voice,
            given_by=by,
            speaker_name=speaker_name or (prepared.phrase.speaker_name if prepared else ""),
            statement_version=statement_version or settings.CONSENT_STATEMENT_VERSION,
            statement_text=statement_text or CONSENT_STATEMENT,
            ip_address=ip_address,
            user_agent=(user_agent or "")[:400],
            **{"method": consent_method,
               **consent_record_fields(recording=prepared, path=recording_path, method=ConsentRecord.Method.RECORDING)},
        )
        originals = originals_record(voice=voice, stored=stored, consent=record)
        # Originals' creation is not tracked field by field (docs/audit.md); adding a batch is an owner or staff
        # action on the voice and is recorded as one entry naming what was added and under which consent.
        audit_record(actor=by, action="originals.added", obj=voice, kind="create", data={
            "originals": [clip.pk for clip in originals], "consent_record": record.pk,
            "files": [clip.original_filename for clip in originals], "consent_method": record.method,
        })
    return originals


def originals_check(*, voice: Voice, samples: list[SampleUpload]) -> tuple[list[tuple], list[str]]:
    """Validate recordings as new originals of `voice`: ([(upload, AudioInfo, sha256)], [per-file messages]).

    The rules of creation (`_validate_sample`), plus: a recording that already is one of the voice's
    originals (or twice in the batch) is refused. A read.
    """
    hashes = {storage.sha256_hex(s.data) for s in samples}
    generated = set(GeneratedAudio.objects.filter(sha256__in=hashes).values_list("sha256", flat=True))
    existing = set(
        ClipSample.objects.filter(voice=voice, source=ClipSample.Source.ORIGINAL, sha256__in=hashes)
        .values_list("sha256", flat=True)
    )
    checked, errors, seen = [], [], set()
    for upload in samples:
        try:
            info, digest = _validate_sample(upload, generated_hashes=generated)
        except ValidationError as exc:
            errors.extend(exc.messages)
            continue
        if digest in existing or digest in seen:
            errors.append(f"{upload.filename or 'file'}: this recording already is one of the voice's originals.")
            continue
        seen.add(digest)
        checked.append((upload, info, digest))
    return checked, errors


def _original_for_update(clip: ClipSample) -> ClipSample:
    locked = ClipSample.objects.select_for_update().get(pk=clip.pk)
    if locked.source != ClipSample.Source.ORIGINAL:
        raise InvalidState("Only an original recording can be retired or restored.", code="not_an_original")
    return locked


def original_retire(*, clip: ClipSample, by) -> ClipSample:
    """Keep the recording but exclude it from every future selection. Idempotent. Raises InvalidState
    (code `not_an_original`) for a generated clip or a preview."""
    with transaction.atomic():
        locked = _original_for_update(clip)
        if locked.retired_at is None:
            locked.retired_at = timezone.now()
            locked.retired_by = by
            locked.save(update_fields=["retired_at", "retired_by"])
    return locked


def original_restore(*, clip: ClipSample, by) -> ClipSample:
    """Undo `original_retire`: the recording is selectable again. Idempotent."""
    with transaction.atomic():
        locked = _original_for_update(clip)
        if locked.retired_at is not None:
            locked.retired_at = None
            locked.retired_by = None
            locked.save(update_fields=["retired_at", "retired_by"])
    return locked
