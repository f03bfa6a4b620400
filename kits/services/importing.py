"""Importing a voice kit as a new voice: the normal consented creation path, then the clips.

The request validates the whole kit (kits.services.validation), stores it, and creates the voice with
`clones.services.voice_create` from the kit's originals: consent is required of the importer, the
originals are checked like any upload, and a new provider voice is cloned from them by the usual task.
The kit's approved clips are then stored by `kits.tasks.kit_import_clips` in the background (thousands
of files), each one decoded in full first, with progress on the VoiceKitImport row. Versions, runs and
consent hashes of the kit stay readable on that row; persona versions become this voice's history.
"""

from __future__ import annotations

import json
import logging
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record
from clones import storage
from clones.audio import AudioProbeError, probe_audio
from clones.models import ClipSample, Voice
from clones.services import SampleUpload, generated_audio_register, voice_create
from voiceclone.background import enqueue_on_commit
from voiceclone.errors import ConsentMissing

from .. import manifest as kit
from ..models import ImportedClip, VoiceKitImport
from .validation import kit_validate

logger = logging.getLogger(__name__)

BATCH = 100


@dataclass(frozen=True)
class KitImportResult:
    voice: Voice
    kit_import: VoiceKitImport


def _parse_time(value) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else timezone.make_aware(parsed, timezone.utc)


def _kept_manifest(manifest: dict) -> dict:
    """What the import row keeps of the manifest: everything but the per-file lists (ImportedClip holds those)."""
    kept = {k: v for k, v in manifest.items() if k not in ("originals", "clips")}
    kept["counts"] = {"originals": len(manifest["originals"]), "clips": len(manifest["clips"])}
    return kept


def voice_kit_import(
    *, owner, upload, consent: bool, speaker_name: str = "", name: str = "", ip_address: str | None = None,
    user_agent: str = "",
) -> KitImportResult:
    """Create a new voice from an uploaded kit (a file object). Returns the voice (`creating`) and its import.

    Raises ConsentMissing without the importer's consent, KitInvalid (400, with a code) for a kit that
    fails any check, ValidationError for originals the creation path refuses. Enqueues the provider
    clone (by voice_create) and `kits.tasks.kit_import_clips` on commit.
    """
    if not consent:
        raise ConsentMissing("Importing a voice clones it again: the speaker's consent is required.")
    validated = kit_validate(upload)
    manifest = validated.manifest
    samples = [
        SampleUpload(filename=entry.get("original_filename") or entry["path"].rsplit("/", 1)[-1],
                     data=validated.read(entry["path"]))
        for entry in manifest["originals"]
    ]
    # The kit stays in storage until its clips are imported (the task reads them from it).
    upload.seek(0)
    kit_path = default_storage.save(f"kits/imports/{uuid.uuid4().hex}.zip", File(upload))
    voice_data = manifest["voice"]
    try:
        voice = voice_create(
            owner=owner, name=(name or voice_data["name"])[:100], persona=voice_data["persona"],
            language=voice_data.get("language") or "en", samples=samples, consent=consent, via="system",
            speaker_name=speaker_name, ip_address=ip_address, user_agent=user_agent,
            # Every original of the kit is kept; the provider clone takes at most VOICE_MAX_SAMPLES of them
            # (clones.services.voice_originals_for_provider: not retired, oldest first = the kit's order).
            every_sample=True,
        )
    except (ValidationError, ConsentMissing):
        default_storage.delete(kit_path)
        raise
    with transaction.atomic():
        kit_import = VoiceKitImport.objects.create(
            voice=voice, imported_by=owner, kit_file=kit_path, kit_sha256=validated.sha256,
            kit_bytes=validated.size_bytes, source_voice_id=str(voice_data.get("id", ""))[:64],
            source_installation=str((manifest.get("generator") or {}).get("installation", ""))[:300],
            manifest=_kept_manifest(manifest), clips_total=len(manifest["clips"]),
            status=VoiceKitImport.Status.IMPORTING if manifest["clips"] else VoiceKitImport.Status.DONE,
            finished_at=None if manifest["clips"] else timezone.now(),
        )
        _import_persona_history(voice, manifest)
        audit_record(actor=owner, action="voice.kit_imported", obj=voice, kind="create", data={
            "kit_sha256": validated.sha256, "source_voice": kit_import.source_voice_id,
            "source_installation": kit_import.source_installation, "originals": len(samples),
            "clips": len(manifest["clips"]),
        })
        if manifest["clips"]:
            enqueue_on_commit("kits.tasks.kit_import_clips", kit_import.pk)
        else:
            transaction.on_commit(lambda: default_storage.delete(kit_path))
    return KitImportResult(voice=voice, kit_import=kit_import)


def _import_persona_history(voice: Voice, manifest: dict) -> None:
    from personas.models import PersonaVersion

    sources = set(PersonaVersion.Source.values)
    history = sorted(manifest.get("persona_versions") or [], key=lambda p: p["number"])
    rows, seen = [], set()
    for item in history:
        if item["number"] in seen:
            continue
        seen.add(item["number"])
        rows.append(PersonaVersion(
            voice=voice, number=item["number"], text=item["text"],
            source=item["source"] if item["source"] in sources else PersonaVersion.Source.IMPORTED,
            created_by_label=str(item.get("created_by") or "")[:200],
        ))
    if not rows or rows[-1].text != voice.persona:
        rows.append(PersonaVersion(
            voice=voice, number=(rows[-1].number + 1) if rows else 1, text=voice.persona,
            source=PersonaVersion.Source.IMPORTED, created_by=voice.owner,
        ))
    created = PersonaVersion.objects.bulk_create(rows)
    stamps = {item["number"]: _parse_time(item.get("created_at")) for item in history}
    dated = []
    for row in created:
        if stamps.get(row.number):
            row.created_at = stamps[row.number]
            dated.append(row)
    if dated:
        PersonaVersion.objects.bulk_update(dated, ["created_at"])


def _claim(import_id) -> bool:
    now = timezone.now()
    lease = now - timedelta(seconds=settings.Q_CLUSTER["timeout"])
    return bool(
        VoiceKitImport.objects.filter(pk=import_id, status=VoiceKitImport.Status.IMPORTING)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=lease)).update(claimed_at=now)
    )


def _imported_path(voice_id, entry: dict) -> str:
    ext = entry["path"].rsplit(".", 1)[-1]
    return f"clone_responses/{voice_id}/imported_{entry['id']}_{entry['sha256'][:12]}.{ext}"


def _clip_row(voice: Voice, entry: dict, path: str, info) -> ClipSample:
    metrics = entry.get("metrics") or {}
    review = entry.get("review") or {}
    return ClipSample(
        voice=voice, source=ClipSample.Source.GENERATED, version=None, file=path,
        content_type=entry["content_type"], text=entry.get("text", ""), size_bytes=entry["size_bytes"],
        sha256=entry["sha256"], duration_s=info.duration_s, sample_rate=info.sample_rate,
        lineage_depth=entry.get("lineage_depth", 1), is_lineage_unknown=bool(entry.get("lineage_unknown")),
        character_cost=entry.get("character_cost"),
        quality_flags=list(entry.get("quality_flags") or []), analysed_at=_parse_time(entry.get("analysed_at")),
        review_status=review.get("status", ClipSample.ReviewStatus.APPROVED),
        reviewed_at=_parse_time(review.get("reviewed_at")), review_reason=(review.get("reason") or "")[:255],
        **{name: metrics.get(name) for name in kit.CLIP_METRICS if name not in ("duration_s", "sample_rate")},
    )


def kit_import_clips(*, import_id) -> VoiceKitImport | None:
    """Store a kit's approved clips on the imported voice (the task). Idempotent and resumable:
    clips already imported (by kit id) are skipped, so a retry after a crash continues where it stopped.
    A clip whose audio does not decode is not imported and is listed in `rejected`."""
    if not _claim(import_id):
        return VoiceKitImport.objects.filter(pk=import_id).first()
    kit_import = VoiceKitImport.objects.select_related("voice").get(pk=import_id)
    voice = kit_import.voice
    try:
        with default_storage.open(kit_import.kit_file, "rb") as fh, zipfile.ZipFile(fh) as archive:
            entries = json.loads(archive.read(kit.MANIFEST))["clips"]
            _import_entries(kit_import, voice, archive, entries)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        logger.warning("kit import %s failed: %s", import_id, exc)
        VoiceKitImport.objects.filter(pk=import_id).update(
            status=VoiceKitImport.Status.FAILED, error=f"The stored kit could not be read: {exc}",
            finished_at=timezone.now(), claimed_at=None,
        )
        return VoiceKitImport.objects.get(pk=import_id)
    with transaction.atomic():
        VoiceKitImport.objects.filter(pk=import_id).update(
            status=VoiceKitImport.Status.DONE, finished_at=timezone.now(), claimed_at=None,
        )
        path = kit_import.kit_file
        transaction.on_commit(lambda: default_storage.delete(path))
    return VoiceKitImport.objects.get(pk=import_id)


def _import_entries(kit_import: VoiceKitImport, voice: Voice, archive: zipfile.ZipFile, entries: list[dict]) -> None:
    done = set(ImportedClip.objects.filter(kit_import=kit_import).values_list("kit_id", flat=True))
    rejected = {item["id"]: item for item in kit_import.rejected}
    todo = [e for e in entries if e["id"] not in done and e["id"] not in rejected]
    for start in range(0, len(todo), BATCH):
        batch = []
        for entry in todo[start:start + BATCH]:
            data = archive.read(entry["path"])
            if storage.sha256_hex(data) != entry["sha256"]:
                rejected[entry["id"]] = {"id": entry["id"], "reason": "checksum mismatch in the stored kit"}
                continue
            try:
                info = probe_audio(data, filename=entry["path"])
            except AudioProbeError as exc:
                rejected[entry["id"]] = {"id": entry["id"], "reason": exc.message}
                continue
            path = storage.save_bytes(_imported_path(voice.pk, entry), data)
            batch.append((entry, _clip_row(voice, entry, path, info), data))
        try:
            with transaction.atomic():
                clips = ClipSample.objects.bulk_create([row for _e, row, _d in batch])
                for (entry, _row, _d), clip in zip(batch, clips):
                    clip.created_at = _parse_time(entry["created_at"]) or clip.created_at
                ClipSample.objects.bulk_update(clips, ["created_at"])
                ImportedClip.objects.bulk_create([
                    ImportedClip(kit_import=kit_import, kit_id=entry["id"], clip=clip,
                                 source_version=entry.get("version"),
                                 reviewed_by_label=str((entry.get("review") or {}).get("reviewed_by") or "")[:200])
                    for (entry, _row, _d), clip in zip(batch, clips)
                ])
                VoiceKitImport.objects.filter(pk=kit_import.pk).update(
                    clips_done=ImportedClip.objects.filter(kit_import=kit_import).count(),
                    rejected=list(rejected.values()), claimed_at=timezone.now(),
                )
        except IntegrityError:
            # Another worker imported this batch meanwhile (its lease had expired): keep its rows.
            continue
        # Imported speech is synthetic: remember it (and its fingerprint) so it is refused as an original.
        for (_entry, _row, data), clip in zip(batch, clips):
            generated_audio_register(sha256=clip.sha256, clip=clip, audio=data)
        for clip in clips:
            if clip.analysed_at is None:
                enqueue_on_commit("clones.tasks.clip_analyse", clip.pk)
    VoiceKitImport.objects.filter(pk=kit_import.pk).update(rejected=list(rejected.values()))
