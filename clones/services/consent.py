"""Consent as a lifecycle (issue 15 item 1, docs/consent.md): a recorded phrase, its check, remote consent,
revocation with its cascade, and the hard delete of a data-subject request.

The phrase names the speaker and the voice and carries the date and a one-time code, so a recording made
for one voice (or one day) cannot be replayed for another. The phrase travels as a signed token
(`django.core.signing`): nothing is stored until the recording arrives, and each code is accepted once
(a unique constraint on `ConsentRecord.phrase_nonce`).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from audit.services import audit_record
from clones import storage
from clones.audio import AudioProbeError, probe_audio
from clones.models import ClipSample, ConsentRecord, Voice, VoiceVersion
from usage.context import usage_attribution
from voiceclone import provider
from voiceclone.background import enqueue_on_commit
from voiceclone.errors import ConsentRevoked, InvalidState
from voiceclone.events.services import event_emit

logger = logging.getLogger(__name__)

PHRASE_SALT = "voiceclone.consent-phrase"
LINK_SALT = "voiceclone.consent-link"
CONSENT_RECORDING_MIN_S = 1.0
CONSENT_RECORDING_MAX_S = 60.0

# Short, distinct, easy to say and to recognise: three of them make the one-time code.
_CODE_WORDS = (
    "amber", "anchor", "apple", "arrow", "autumn", "banjo", "basket", "beacon", "birch", "blossom", "bottle",
    "breeze", "bridge", "butter", "cactus", "candle", "canyon", "carpet", "castle", "cedar", "cherry", "cinnamon",
    "circle", "clover", "cobalt", "comet", "copper", "coral", "cotton", "crystal", "dolphin", "dragon", "eagle",
    "ember", "falcon", "feather", "forest", "fountain", "garden", "ginger", "glacier", "harbor", "hazel",
    "honey", "island", "jasmine", "jungle", "kettle", "lantern", "lemon", "maple", "marble", "meadow", "mirror",
    "orange", "orchid", "otter", "pebble", "pepper", "planet", "pocket", "rabbit", "river", "saddle", "salmon",
    "silver", "spruce", "summer", "thunder", "tiger", "timber", "tulip", "velvet", "violet", "walnut", "willow",
    "window", "winter", "yellow", "zebra",
)


@dataclass(frozen=True)
class ConsentPhrase:
    phrase: str
    token: str
    nonce: str
    speaker_name: str
    voice_name: str
    issued_on: str  # ISO date


def _phrase_text(*, speaker_name: str, voice_name: str, issued_on: str, nonce: str) -> str:
    day = date.fromisoformat(issued_on)
    code = " ".join(_CODE_WORDS[int(nonce[i : i + 4], 16) % len(_CODE_WORDS)] for i in (0, 4, 8))
    return (
        f"My name is {speaker_name}. I agree that voiceclone may create an AI voice called {voice_name} from "
        f"recordings of my voice. Today is {day.day} {day:%B %Y}, and my consent code is {code}."
    )


def consent_phrase_issue(*, speaker_name: str, voice_name: str) -> ConsentPhrase:
    """A fresh phrase for `speaker_name` to read for the voice `voice_name`, and the signed token that
    brings it back with the recording. Raises ValidationError when a name is missing."""
    speaker_name, voice_name = (speaker_name or "").strip(), (voice_name or "").strip()
    errors = {}
    if not speaker_name:
        errors["speaker_name"] = ["The speaker's name is part of the consent phrase."]
    if not voice_name:
        errors["name"] = ["The voice's name is part of the consent phrase."]
    if errors:
        raise ValidationError(errors)
    nonce = secrets.token_hex(8)
    issued_on = timezone.now().date().isoformat()
    token = signing.dumps({"n": nonce, "s": speaker_name, "v": voice_name, "d": issued_on}, salt=PHRASE_SALT)
    return ConsentPhrase(
        phrase=_phrase_text(speaker_name=speaker_name, voice_name=voice_name, issued_on=issued_on, nonce=nonce),
        token=token, nonce=nonce, speaker_name=speaker_name, voice_name=voice_name, issued_on=issued_on,
    )


def consent_phrase_read(*, token: str) -> ConsentPhrase:
    """The phrase a token stands for. Raises ValidationError (key `consent_token`) when it is forged,
    expired (CONSENT_PHRASE_MAX_AGE_S) or already used."""
    try:
        data = signing.loads(token or "", salt=PHRASE_SALT, max_age=settings.CONSENT_PHRASE_MAX_AGE_S)
    except signing.SignatureExpired:
        raise ValidationError({"consent_token": ["The consent phrase has expired; ask for a new one and record it again."]})
    except signing.BadSignature:
        raise ValidationError({"consent_token": ["The consent phrase token is not valid; ask for a new phrase."]})
    if ConsentRecord.objects.filter(phrase_nonce=data["n"]).exists():
        raise ValidationError({"consent_token": ["This consent phrase was already used; ask for a new one."]})
    return ConsentPhrase(
        phrase=_phrase_text(speaker_name=data["s"], voice_name=data["v"], issued_on=data["d"], nonce=data["n"]),
        token=token, nonce=data["n"], speaker_name=data["s"], voice_name=data["v"], issued_on=data["d"],
    )


@dataclass(frozen=True)
class ConsentRecording:
    """A checked consent recording, ready to be stored with its record."""

    phrase: ConsentPhrase
    data: bytes
    filename: str
    content_type: str
    extension: str
    sha256: str


def consent_recording_prepare(*, token: str, recording, voice_name: str, speaker_name: str | None = None
                              ) -> ConsentRecording:
    """Check a recording of the phrase before anything is stored: the token is valid and unused, it was
    issued for this voice's name (and speaker, when given), and the audio decodes and lasts 1–60 s.
    `recording` is a SampleUpload. Raises ValidationError (keys `consent_token`, `consent_recording`)."""
    phrase = consent_phrase_read(token=token)
    if phrase.voice_name.strip().casefold() != (voice_name or "").strip().casefold():
        raise ValidationError({"consent_token": [
            f"The consent phrase was made for a voice called “{phrase.voice_name}”; ask for a phrase for this voice."]})
    if speaker_name is not None and speaker_name.strip() and \
            phrase.speaker_name.casefold() != speaker_name.strip().casefold():
        raise ValidationError({"consent_token": [
            f"The consent phrase was made for the speaker “{phrase.speaker_name}”; ask for a phrase for this speaker."]})
    if recording.byte_size > settings.UPLOAD_MAX_BYTES:
        raise ValidationError({"consent_recording": ["The consent recording is too large."]})
    try:
        info = probe_audio(recording.data, filename=recording.filename)
    except AudioProbeError as exc:
        raise ValidationError({"consent_recording": [str(exc)]}) from None
    if not CONSENT_RECORDING_MIN_S <= info.duration_s <= CONSENT_RECORDING_MAX_S:
        raise ValidationError({"consent_recording": [
            f"The consent recording is {info.duration_s:.1f} s long; read the whole phrase "
            f"({CONSENT_RECORDING_MIN_S:g}–{CONSENT_RECORDING_MAX_S:g} s)."]})
    return ConsentRecording(
        phrase=phrase, data=recording.data, filename=recording.filename or "consent", content_type=info.content_type,
        extension=info.extension, sha256=storage.sha256_hex(recording.data),
    )


def consent_recording_required(*, via: str) -> bool:
    """Pages always need the recorded phrase; the API only with CONSENT_RECORDING_REQUIRED; staff tools
    (adoption, kit import: `via="system"`) carry their own consent method."""
    return via == "page" or (via == "api" and settings.CONSENT_RECORDING_REQUIRED)


def consent_recording_store(*, voice_id, recording: ConsentRecording) -> str:
    """Write the recording to storage (before the transaction that records it) and return its name."""
    path = f"consents/{voice_id}/consent_{recording.phrase.nonce}{recording.extension}"
    return storage.save_bytes(path, recording.data)


def consent_record_fields(*, recording: ConsentRecording | None, path: str | None, method: str) -> dict:
    """The ConsentRecord fields a stored recording fills in (empty without one)."""
    if recording is None:
        return {}
    return {
        "method": method,
        "phrase": recording.phrase.phrase,
        "phrase_nonce": recording.phrase.nonce,
        "recording_sha256": recording.sha256,
        "statement_file": path,
        "check_status": ConsentRecord.Check.PENDING,
        "check_enqueued_at": timezone.now(),
    }


def consent_record_create(**fields) -> ConsentRecord:
    """Create a consent record; a phrase used twice at once is refused (the unique nonce decides)."""
    try:
        with transaction.atomic():
            record = ConsentRecord.objects.create(**fields)
    except IntegrityError:
        if fields.get("phrase_nonce"):
            raise ValidationError({"consent_token": ["This consent phrase was already used; ask for a new one."]}) from None
        raise
    if record.check_status == ConsentRecord.Check.PENDING:
        enqueue_on_commit("clones.tasks.consent_recording_check", record.pk)
    return record


# --- the check ------------------------------------------------------------------------------------------


def _speaker_references(record: ConsentRecord) -> list[bytes]:
    originals = ClipSample.objects.filter(source=ClipSample.Source.ORIGINAL, voice_id=record.voice_id).exclude(file="")
    batch = originals.filter(consent=record)
    chosen = batch if batch.exists() else originals.filter(retired_at__isnull=True)
    return [storage.read_bytes(c.file.name) for c in chosen.order_by("id")[:10]]


def consent_recording_check(*, consent_id: int) -> ConsentRecord:
    """Transcribe the consent recording (provider STT), score it against the phrase (word error rate) and
    against the samples' speaker (speaker similarity), and keep the scores on the record.

    `passed` needs WER ≤ CONSENT_WER_MAX and, when the similarity can be measured, a score ≥
    CONSENT_SIMILARITY_MIN; otherwise `failed` with the reason. A provider failure leaves `error` (staff
    can check again). Idempotent: only a `pending` record is checked.
    """
    from fidelity.features import NotEnoughVoice
    from fidelity.similarity import speaker_similarity
    from fidelity.wer import transcript_wer

    record = ConsentRecord.objects.select_related("voice").get(pk=consent_id)
    if record.check_status != ConsentRecord.Check.PENDING or not record.statement_file:
        return record
    audio = storage.read_bytes(record.statement_file.name)
    language = (record.voice.language if record.voice else "") or None
    try:
        with usage_attribution(kind="consent_check", voice_id=record.voice_id):
            result = provider.stt(audio=audio, filename=record.statement_file.name.rsplit("/", 1)[-1],
                                  content_type="application/octet-stream", language_code=language)
    except provider.ProviderError as exc:
        return _check_save(record, status=ConsentRecord.Check.ERROR, detail=f"Speech recognition failed: {exc.message}")
    wer = transcript_wer(record.phrase, result.text)
    similarity, notes = None, []
    try:
        references = _speaker_references(record)
        if references:
            similarity = speaker_similarity(audio, references).score
        else:
            notes.append("no original recordings to compare the speaker with")
    except (NotEnoughVoice, AudioProbeError, ValueError) as exc:  # the measure cannot say
        notes.append(f"speaker similarity not measured: {exc}")
    problems = []
    if wer > settings.CONSENT_WER_MAX:
        problems.append(f"the recording does not say the phrase (WER {wer:.2f} > {settings.CONSENT_WER_MAX:g})")
    if similarity is not None and similarity < settings.CONSENT_SIMILARITY_MIN:
        problems.append(f"the voice does not sound like the samples' speaker (similarity {similarity:.2f} < "
                        f"{settings.CONSENT_SIMILARITY_MIN:g})")
    status = ConsentRecord.Check.FAILED if problems else ConsentRecord.Check.PASSED
    return _check_save(record, status=status, detail="; ".join(problems + notes), transcript=result.text,
                       wer=wer, similarity=similarity)


def _check_save(record: ConsentRecord, *, status: str, detail: str, transcript: str = "", wer=None, similarity=None
                ) -> ConsentRecord:
    with transaction.atomic():
        updated = ConsentRecord.objects.filter(pk=record.pk, check_status=ConsentRecord.Check.PENDING).update(
            check_status=status, check_detail=detail[:2000], transcript=transcript, phrase_wer=wer,
            speaker_similarity=similarity, checked_at=timezone.now(),
        )
        record.refresh_from_db()
        if updated:
            audit_record(action="consent.checked", obj=record,
                         changes={"check_status": [ConsentRecord.Check.PENDING, status]},
                         data={"phrase_wer": wer, "speaker_similarity": similarity, "detail": detail[:500]})
            if record.voice_id:
                voice_consent_gate(voice_id=record.voice_id)
    return record


def consent_recheck(*, record: ConsentRecord) -> ConsentRecord:
    """Staff: check a recording again (after a provider failure). Raises InvalidState without a recording."""
    if not record.statement_file:
        raise InvalidState("This consent has no recording to check.")
    with transaction.atomic():
        ConsentRecord.objects.filter(pk=record.pk).update(check_status=ConsentRecord.Check.PENDING,
                                                          check_enqueued_at=timezone.now())
        enqueue_on_commit("clones.tasks.consent_recording_check", record.pk)
    record.refresh_from_db()
    return record


def consent_checks_sweep(*, now=None) -> int:
    """Hand again the checks whose task was lost: records still `pending` with a recording, not revoked, whose
    task went to the queue longer ago than the task timeout (Q_TIMEOUT_S). Without this a lost check would keep
    its voice `creating` for good (the clone waits for the check). A conditional update claims each record, so
    two sweeps never both enqueue it, and a record is handed again at most once per timeout. The check itself is
    idempotent (only a pending record is checked). Part of `voiceclone.background.stuck_work_sweep`."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.Q_CLUSTER["timeout"])
    lost = (ConsentRecord.objects.filter(check_status=ConsentRecord.Check.PENDING, revoked_at__isnull=True)
            .exclude(statement_file="")
            .filter(Q(check_enqueued_at__isnull=True) | Q(check_enqueued_at__lt=cutoff)))
    handed = [pk for pk in lost.values_list("pk", flat=True)[:200]
              if lost.filter(pk=pk).update(check_enqueued_at=now)]
    for pk in handed:
        async_task("clones.tasks.consent_recording_check", pk)
    if handed:
        logger.warning("re-enqueued %s consent check(s) whose task was lost: %s", len(handed), handed)
    return len(handed)


# --- the consent gate: a voice whose only consent recordings failed their check is held ---------------------

STANDS, PENDING, FAILED = "stands", "pending", "failed"


def consent_standing(voice: Voice) -> tuple[str, str]:
    """Whether `voice`'s consent stands: (STANDS | PENDING | FAILED, reason). A read.

    A consent record stands unless its recording is waiting for its check (`pending`) or failed it without a staff
    acceptance. So a record without a recording stands (an API client's statement with
    CONSENT_RECORDING_REQUIRED=false, staff tools), and so does one whose check could not run (`error`: staff see
    it and can check again). Revoked records do not count. The voice's consent stands when one record stands (or
    it has none, as voices made before consent records); otherwise it is PENDING while a check runs, else FAILED,
    with the failed checks' reasons.
    """
    records = list(voice.consents.filter(revoked_at__isnull=True).order_by("created_at", "id"))
    if not records:
        return STANDS, ""
    failed = []
    pending = False
    for record in records:
        if record.accepted_at is not None or record.check_status not in (ConsentRecord.Check.PENDING,
                                                                         ConsentRecord.Check.FAILED):
            return STANDS, ""
        if record.check_status == ConsentRecord.Check.PENDING:
            pending = True
        else:
            failed.append(record)
    if pending:
        return PENDING, "The speaker's consent recording is being checked."
    details = "; ".join(dict.fromkeys(r.check_detail or "the check failed" for r in failed))
    return FAILED, (f"The recording of the consent phrase failed its check ({details}). Staff review it: they "
                    "listen and accept it, or a new recording of the phrase that passes releases the voice.")[:2000]


def voice_consent_gate(*, voice_id) -> Voice:
    """Apply the standing of a voice's consent (after a check ends, a staff acceptance, before the clone):

    - FAILED: a `creating` or `ready` voice becomes `held` with the reason (not cloned; a cloned one stops
      speaking, its conversations answer 409), audited `voice.consent_held`;
    - STANDS: a `held` voice is released (`ready` when it has a version, else `creating` and the clone is
      enqueued), audited `voice.consent_released`; a `creating` voice that waited for the check is cloned now;
    - PENDING: nothing (the check's end comes back here).
    Idempotent; any other status (failed, disabled, revoked) is left alone.
    """
    with transaction.atomic():
        voice = Voice.objects.select_for_update().get(pk=voice_id)
        standing, reason = consent_standing(voice)
        if standing == FAILED and voice.status in (Voice.Status.CREATING, Voice.Status.READY):
            before = voice.status
            voice.status, voice.hold_reason, voice.claimed_at = Voice.Status.HELD, reason, None
            voice.save(update_fields=["status", "hold_reason", "claimed_at", "updated_at"])
            audit_record(action="voice.consent_held", obj=voice, changes={"status": [before, voice.status]},
                         data={"reason": reason})
        elif standing == STANDS and voice.status == Voice.Status.HELD:
            voice.status = Voice.Status.READY if voice.current_version_id else Voice.Status.CREATING
            voice.hold_reason = ""
            voice.save(update_fields=["status", "hold_reason", "updated_at"])
            audit_record(action="voice.consent_released", obj=voice,
                         changes={"status": [Voice.Status.HELD, voice.status]})
            if voice.status == Voice.Status.CREATING:
                enqueue_on_commit("clones.tasks.voice_provider_create", voice.pk)
        elif standing == STANDS and voice.status == Voice.Status.CREATING and voice.current_version_id is None:
            enqueue_on_commit("clones.tasks.voice_provider_create", voice.pk)
    return voice


def consent_accept(*, record: ConsentRecord, by, note: str) -> ConsentRecord:
    """Staff listened to a consent recording whose check failed (or could not run) and accept it as the speaker's
    consent: kept on the record (`accepted_at`, `accepted_by`, `accept_note`; the check's scores stay), audited
    `consent.accepted`, and a voice held for it is released. Idempotent for an accepted record.

    Raises PermissionDenied (not staff), InvalidState (`consent_not_reviewable`) for a revoked record, one without
    a recording or one whose check passed or is still running, ValidationError without a note.
    """
    from django.core.exceptions import PermissionDenied

    if not (by and by.is_active and by.is_staff):
        raise PermissionDenied("Only staff accept a consent recording.")
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": ["Say what you heard: the note is kept with the acceptance."]})
    with transaction.atomic():
        locked = ConsentRecord.objects.select_for_update().get(pk=record.pk)
        if locked.accepted_at is not None:
            return locked
        if (locked.revoked_at is not None or not locked.statement_file
                or locked.check_status not in (ConsentRecord.Check.FAILED, ConsentRecord.Check.ERROR)):
            raise InvalidState("Only a consent recording whose check failed or could not run can be accepted "
                               f"(this one: {locked.get_check_status_display().lower()}"
                               f"{', revoked' if locked.revoked_at else ''}).", code="consent_not_reviewable")
        locked.accepted_at, locked.accepted_by, locked.accept_note = timezone.now(), by, note[:500]
        locked.save(update_fields=["accepted_at", "accepted_by", "accept_note"])
        audit_record(actor=by, action="consent.accepted", obj=locked, data={
            "check_status": locked.check_status, "phrase_wer": locked.phrase_wer,
            "speaker_similarity": locked.speaker_similarity, "check_detail": locked.check_detail[:500], "note": note,
        })
        if locked.voice_id:
            voice_consent_gate(voice_id=locked.voice_id)
    return locked


# --- remote consent ---------------------------------------------------------------------------------------


def consent_link_issue(*, voice: Voice, speaker_name: str, by) -> str:
    """A signed token for a remote speaker's consent page (valid CONSENT_LINK_MAX_AGE_S, no account needed).
    Raises InvalidState for a voice that cannot take consent, ValidationError without a speaker name."""
    _require_consentable(voice)
    speaker_name = (speaker_name or "").strip()
    if not speaker_name:
        raise ValidationError({"speaker_name": ["Name the speaker who will record their consent."]})
    token = signing.dumps({"voice": str(voice.pk), "s": speaker_name, "by": by.pk}, salt=LINK_SALT)
    audit_record(actor=by, action="consent.link_issued", obj=voice, data={"speaker_name": speaker_name})
    return token


@dataclass(frozen=True)
class ConsentLink:
    voice: Voice
    speaker_name: str
    issued_by_id: int


def consent_link_read(*, token: str) -> ConsentLink:
    """The voice and speaker a link is for. Raises InvalidState when it is invalid, expired, or the voice
    can no longer take consent."""
    try:
        data = signing.loads(token or "", salt=LINK_SALT, max_age=settings.CONSENT_LINK_MAX_AGE_S)
    except signing.SignatureExpired:
        raise InvalidState("This consent link has expired; ask the voice's owner for a new one.") from None
    except signing.BadSignature:
        raise InvalidState("This consent link is not valid.") from None
    voice = Voice.objects.select_related("owner").filter(pk=data["voice"]).first()
    if voice is None:
        raise InvalidState("This consent link is not valid.")
    _require_consentable(voice)
    return ConsentLink(voice=voice, speaker_name=data["s"], issued_by_id=data["by"])


def consent_remote_give(*, link_token: str, phrase_token: str, recording, ip_address=None, user_agent: str = ""
                        ) -> ConsentRecord:
    """A remote speaker recorded the phrase on the consent page: store it as the voice's consent
    (method `remote`, given on behalf of the owner who issued the link) and check it in the background."""
    from .voices import CONSENT_STATEMENT

    link = consent_link_read(token=link_token)
    prepared = consent_recording_prepare(token=phrase_token, recording=recording, voice_name=link.voice.name,
                                         speaker_name=link.speaker_name)
    path = consent_recording_store(voice_id=link.voice.pk, recording=prepared)
    with transaction.atomic():
        record = consent_record_create(
            voice=link.voice, given_by_id=link.issued_by_id, speaker_name=link.speaker_name,
            statement_version=settings.CONSENT_STATEMENT_VERSION, statement_text=CONSENT_STATEMENT,
            ip_address=ip_address, user_agent=(user_agent or "")[:400],
            **consent_record_fields(recording=prepared, path=path, method=ConsentRecord.Method.REMOTE),
        )
        audit_record(action="consent.given_remotely", obj=record, kind="create",
                     data={"speaker_name": link.speaker_name, "voice_name": link.voice.name})
    return record


def _require_consentable(voice: Voice) -> None:
    if voice.status in (Voice.Status.REVOKED, Voice.Status.DISABLED):
        raise InvalidState(f"The voice “{voice.name}” is {voice.get_status_display().lower()}; it takes no consent.")


# --- revocation ---------------------------------------------------------------------------------------------


def consent_revoke(*, voice: Voice, by=None, reason: str = "") -> Voice:
    """Withdraw the speaker's consent and cascade, in one transaction:

    the voice becomes `revoked` (read-only for good: no reply, no change, no retrain, no promotion); open
    retrain runs are cancelled; pending replies fail (`consent_revoked`); every provider version gets a
    deletion intent (reason `consent_revoked`, never withdrawn, retried by the cleanup until the provider
    confirms) and is deleted in the background; with CONSENT_REVOKE_PURGE the audio of its originals and
    clips is deleted, otherwise kept but never served (410). Writes `voice.consent_revoked` and an audit
    entry; the consent records stay, marked revoked. Idempotent: a revoked voice is returned unchanged.
    """
    from conversations.models import Message
    from retraining.models import RetrainRun
    from retraining.services.runs import CANCELLABLE, retrain_run_cancel

    with transaction.atomic():
        locked = Voice.objects.select_for_update().get(pk=voice.pk)
        if locked.status == Voice.Status.REVOKED:
            return locked
        before = locked.status
        now = timezone.now()
        locked.status = Voice.Status.REVOKED
        locked.save(update_fields=["status", "updated_at"])
        ConsentRecord.objects.filter(voice=locked, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=by if getattr(by, "pk", None) else None, revoke_reason=(reason or "")[:500]
        )
        cancelled = []
        for run in RetrainRun.objects.filter(voice=locked, state__in=CANCELLABLE).order_by("pk"):
            retrain_run_cancel(run=run, by=by, reason="The speaker's consent was revoked.")
            cancelled.append(run.pk)
        failed = Message.objects.filter(
            conversation__voice=locked, role=Message.Role.ASSISTANT, status=Message.Status.PENDING
        ).update(status=Message.Status.FAILED, failure_code="consent_revoked",
                 failure_reason="The speaker's consent was revoked; this voice no longer speaks.", claimed_at=None)
        deletions = voice_provider_versions_delete_request(voice=locked, by=by)
        if settings.CONSENT_REVOKE_PURGE:
            enqueue_on_commit("clones.tasks.voice_audio_purge", locked.pk)
        payload = {"reason": reason, "runs_cancelled": cancelled, "replies_failed": failed,
                   "provider_versions": len(deletions), "audio": "purged" if settings.CONSENT_REVOKE_PURGE else "locked"}
        event_emit(type="voice.consent_revoked", user=locked.owner, voice=locked, payload=payload)
        audit_record(actor=by, action="consent.revoked", obj=locked, changes={"status": [before, locked.status]},
                     data=payload)
    return locked


def voice_provider_versions_delete_request(*, voice: Voice, by=None) -> list:
    """Record a `consent_revoked` deletion intent for every version of `voice` still at the provider and
    enqueue each deletion after commit. An existing intent (cleanup, staff) is reused."""
    from retraining.models import ProviderVoiceDeletion

    deletions = []
    for version in VoiceVersion.objects.filter(voice=voice).exclude(state=VoiceVersion.State.DELETED):
        deletion, _ = ProviderVoiceDeletion.objects.get_or_create(
            version=version,
            defaults={"provider_voice_id": version.provider_voice_id,
                      "reason": ProviderVoiceDeletion.Reason.CONSENT_REVOKED,
                      "requested_by": by if getattr(by, "pk", None) else None},
        )
        if deletion.completed_at is None:
            enqueue_on_commit("retraining.tasks.version_provider_delete", deletion.pk)
        deletions.append(deletion)
    return deletions


def voice_audio_purge(*, voice_id) -> int:
    """Delete the stored audio of a revoked voice's originals, replies and previews (CONSENT_REVOKE_PURGE);
    the clip rows stay, without a file. Returns how many files were deleted. Idempotent."""
    voice = Voice.objects.get(pk=voice_id)
    if voice.status != Voice.Status.REVOKED:
        raise InvalidState("Only a revoked voice's audio is purged.")
    removed = 0
    for clip in ClipSample.objects.filter(voice=voice).exclude(file=""):
        if storage.default_storage.exists(clip.file.name):
            storage.default_storage.delete(clip.file.name)
            removed += 1
        ClipSample.objects.filter(pk=clip.pk).update(file="")
    audit_record(action="voice.audio_purged", obj=voice, data={"files_deleted": removed})
    return removed


def voice_audio_is_locked(voice: Voice | None) -> bool:
    """A revoked voice's audio is never served again (410), whether it was purged or only locked."""
    return voice is not None and voice.status == Voice.Status.REVOKED


def voice_audio_refuse_if_locked(voice: Voice | None) -> None:
    """Raise ConsentRevoked (410 `consent_revoked`) for audio of a revoked voice."""
    if voice_audio_is_locked(voice):
        raise ConsentRevoked("The speaker revoked their consent: this voice's audio is no longer available.")


# --- hard delete (data-subject request) ------------------------------------------------------------------


def voice_hard_delete(*, voice: Voice, by=None, reason: str = "") -> dict:
    """Erase a voice: its provider voices (deleted now, synchronously), every file (originals, replies,
    previews, the users' recordings in its conversations, the consent recordings) and every row
    (conversations, messages, clips, versions, runs). The consent records stay with the voice's id, name
    and the recording's hash, marked revoked, and an audit entry (kind delete) lists what was removed.

    Raises a ProviderError when a provider voice cannot be deleted: nothing local is removed then, so the
    request can be repeated. Returns the report.
    """
    from conversations.models import Conversation, Message
    from retraining.models import RetrainRun

    if voice.status != Voice.Status.REVOKED:
        voice = consent_revoke(voice=voice, by=by, reason=reason or "data-subject request (hard delete)")
    provider_deleted = []
    for version in VoiceVersion.objects.filter(voice=voice).exclude(state=VoiceVersion.State.DELETED):
        try:
            provider.delete_voice(voice_id=version.provider_voice_id)
        except provider.VoiceNotFound:
            pass
        provider_deleted.append(version.provider_voice_id)
        VoiceVersion.objects.filter(pk=version.pk).update(state=VoiceVersion.State.DELETED, deleted_at=timezone.now())

    files = [c.file.name for c in ClipSample.objects.filter(voice=voice).exclude(file="")]
    files += [m.user_audio.name for m in Message.objects.filter(conversation__voice=voice).exclude(user_audio="")]
    consents = list(ConsentRecord.objects.filter(voice=voice))
    files += [c.statement_file.name for c in consents if c.statement_file]
    files_deleted = 0
    for name in files:
        if storage.default_storage.exists(name):
            storage.default_storage.delete(name)
            files_deleted += 1

    voice_pk, voice_name = voice.pk, voice.name
    rows: dict[str, int] = {}
    with transaction.atomic():
        ConsentRecord.objects.filter(voice=voice).update(statement_file="")
        # Protected references first: messages and runs point at clips and versions, clips at versions,
        # the voice at its current version.
        Voice.objects.filter(pk=voice_pk).update(current_version=None)
        for queryset in (Conversation.objects.filter(voice=voice), RetrainRun.objects.filter(voice=voice),
                         ClipSample.objects.filter(voice=voice), Voice.objects.filter(pk=voice_pk)):
            _, per_model = queryset.delete()
            for label, count in per_model.items():
                rows[label] = rows.get(label, 0) + count
        report = {
            "voice": str(voice_pk), "voice_name": voice_name, "provider_voices_deleted": provider_deleted,
            "files_deleted": files_deleted, "rows_deleted": dict(sorted((k, v) for k, v in rows.items() if v)),
            "consent_records_kept": [c.pk for c in consents],
        }
        voice.pk = voice_pk  # the audit entry names the voice it erased (entries have no foreign key)
        audit_record(actor=by, action="voice.hard_deleted", obj=voice, kind="delete", data=report)
    logger.info("hard-deleted voice %s: %s", voice_pk, report)
    return report
