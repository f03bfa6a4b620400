"""Exporting a voice as a kit, streamed: the zip is written while it is sent, never held whole.

Audio is stored uncompressed in the zip (MP3 and the other formats do not compress further), so
zipstream-ng knows the archive's exact length before the first byte and the response carries a
Content-Length: the browser or client shows real download progress, and a truncated download is
detectable. Every file's sha256 is in the manifest and SHA256SUMS before it is sent (from the
database); each file is hashed again while it streams and a mismatch aborts the download rather
than hand out a kit whose checksums lie.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.text import slugify
from zipstream import ZipStream

from audit.services import audit_record
from clones.models import ClipSample, Voice

from .. import manifest as kit

logger = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024


class KitFileChanged(Exception):
    """A stored file no longer matches the checksum recorded when it was stored."""


@dataclass
class KitExport:
    filename: str
    size_bytes: int
    file_count: int
    clip_count: int
    stream: ZipStream

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.stream)


def _audio_entry(clip: ClipSample, kit_id: str, directory: str) -> tuple[dict, kit.KitFile]:
    path = f"{directory}{kit_id}.{kit.extension_of(clip.file.name)}"
    entry = {
        "id": kit_id,
        "path": path,
        "sha256": clip.sha256,
        "size_bytes": clip.size_bytes,
        "content_type": clip.content_type,
        "created_at": kit.iso(clip.created_at),
        "text": clip.text,
        "lineage_depth": clip.lineage_depth,
        "lineage_unknown": clip.is_lineage_unknown,
        "metrics": {name: getattr(clip, name) for name in kit.CLIP_METRICS},
        "quality_flags": list(clip.quality_flags or []),
        "analysed_at": kit.iso(clip.analysed_at),
        "review": {
            "status": clip.review_status,
            "reviewed_by": clip.reviewed_by.get_username() if clip.reviewed_by_id else None,
            "reviewed_at": kit.iso(clip.reviewed_at),
            "reason": clip.review_reason,
        },
    }
    if clip.source == ClipSample.Source.ORIGINAL:
        entry["original_filename"] = clip.original_filename
    else:
        entry["version"] = clip.version.number if clip.version_id else None
        entry["character_cost"] = clip.character_cost
    return entry, kit.KitFile(path=path, storage_name=clip.file.name, sha256=clip.sha256, size_bytes=clip.size_bytes)


def _exportable_clips(voice: Voice):
    """Active originals and approved generated clips with stored audio, in kit order."""
    base = (
        ClipSample.objects.filter(voice=voice).exclude(file="").exclude(sha256="")
        .select_related("reviewed_by", "version").order_by("created_at", "id")
    )
    # A retired original is never used to clone or retrain this voice again, so it does not travel either.
    originals = list(base.filter(source=ClipSample.Source.ORIGINAL, retired_at__isnull=True))
    generated = list(base.filter(source=ClipSample.Source.GENERATED, review_status=ClipSample.ReviewStatus.APPROVED))
    return originals, generated


def build_manifest(voice: Voice) -> tuple[dict, list[kit.KitFile]]:
    """The kit manifest of `voice` (without `files`) and its audio files in kit order. Reads only."""
    from personas.models import PersonaVersion
    from retraining.models import RetrainRun, RetrainRunClip

    from kits.models import ImportedClip, VoiceKitImport

    originals, generated = _exportable_clips(voice)
    origins = {o.clip_id: o for o in ImportedClip.objects.filter(clip__voice=voice)}
    kit_ids: dict[int, str] = {}
    files: list[kit.KitFile] = []
    entries = {"originals": [], "clips": []}
    for index, clip in enumerate(originals, start=1):
        kit_ids[clip.pk] = f"original_{index:03d}"
    for index, clip in enumerate(generated, start=1):
        kit_ids[clip.pk] = f"clip_{index:05d}"
    for group, clips, directory in (("originals", originals, kit.ORIGINALS_DIR), ("clips", generated, kit.CLIPS_DIR)):
        for clip in clips:
            entry, file = _audio_entry(clip, kit_ids[clip.pk], directory)
            origin = origins.get(clip.pk)
            if origin is not None:
                # Facts from the kit this clip was imported from (no local row holds them).
                entry["version"] = entry.get("version") or origin.source_version
                entry["review"]["reviewed_by"] = entry["review"]["reviewed_by"] or origin.reviewed_by_label or None
            entries[group].append(entry)
            files.append(file)

    runs = list(
        RetrainRun.objects.filter(voice=voice).select_related("old_version", "new_version").order_by("created_at", "id")
    )
    run_clips: dict[int, list] = {}
    for row in RetrainRunClip.objects.filter(run__voice=voice).order_by("run_id", "position"):
        run_clips.setdefault(row.run_id, []).append(
            {"clip": kit_ids.get(row.clip_id), "role": row.role, "use_s": row.use_s}
        )
    versions = [
        {
            "number": v.number, "state": v.state, "provider_voice_id": v.provider_voice_id,
            "training_lineage_depth": v.training_lineage_depth, "created_by_run": v.created_by_run_id,
            "created_at": kit.iso(v.created_at), "archived_at": kit.iso(v.archived_at),
            "deleted_at": kit.iso(v.deleted_at),
        }
        for v in voice.versions.order_by("number")
    ]
    persona_versions = [
        {"number": p.number, "text": p.text, "source": p.source, "created_by": p.author,
         "created_at": kit.iso(p.created_at)}
        for p in PersonaVersion.objects.filter(voice=voice).select_related("created_by").order_by("number")
    ]
    kit_import = VoiceKitImport.objects.filter(voice=voice).first()
    imported_from = []
    if kit_import is not None:
        imported_from = list(kit_import.manifest.get("imported_from", [])) + [{
            "voice_id": kit_import.source_voice_id,
            "installation": kit_import.source_installation,
            "kit_sha256": kit_import.kit_sha256,
            "imported_at": kit.iso(kit_import.created_at),
            "versions": kit_import.manifest.get("versions", []),
            "runs": kit_import.manifest.get("runs", []),
        }]
    manifest = {
        "format": kit.FORMAT,
        "format_version": kit.FORMAT_VERSION,
        "created_at": kit.iso(timezone.now()),
        "generator": {"app": "voiceclone", "installation": kit.site_installation()},
        "voice": {
            "id": str(voice.pk), "name": voice.name, "persona": voice.persona, "language": voice.language or "en",
            "status": voice.status, "created_at": kit.iso(voice.created_at),
            "current_version": voice.current_version.number if voice.current_version_id else None,
        },
        "persona_versions": persona_versions,
        "versions": versions,
        "runs": [
            {
                "id": r.pk, "state": r.state, "strategy": r.strategy,
                "old_version": r.old_version.number if r.old_version_id else None,
                "new_version": r.new_version.number if r.new_version_id else None,
                "approved_at": kit.iso(r.approved_at), "finished_at": kit.iso(r.finished_at),
                "created_at": kit.iso(r.created_at), "clips": run_clips.get(r.pk, []),
                "eligibility_snapshot": r.eligibility_snapshot, "selection_report": r.selection_report,
            }
            for r in runs
        ],
        "consent": [
            {
                "statement_version": c.statement_version,
                "statement_sha256": kit.sha256_hex(c.statement_text.encode()),
                "method": c.method,
                "given_at": kit.iso(c.created_at),
                "record_hash": kit.consent_record_hash(c),
            }
            for c in voice.consents.order_by("created_at", "id")
        ],
        "originals": entries["originals"],
        "clips": entries["clips"],
        "fidelity": _fidelity(voice, generated),
        "imported_from": imported_from,
    }
    return manifest, files


def _fidelity(voice: Voice, generated: list[ClipSample]) -> dict:
    """What the fidelity package has recorded about the voice: today, which clips carry a perceptual
    fingerprint (the lineage guard). Reports stored by later fidelity work belong here too."""
    from clones.models import GeneratedAudio

    fingerprinted = set(
        GeneratedAudio.objects.filter(sha256__in=[c.sha256 for c in generated], fingerprint__isnull=False)
        .values_list("sha256", flat=True)
    )
    return {"fingerprinted_clips": sum(1 for c in generated if c.sha256 in fingerprinted)}


def _file_chunks(file: kit.KitFile) -> Iterator[bytes]:
    digest = hashlib.sha256()
    size = 0
    with default_storage.open(file.storage_name, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
            yield chunk
    if digest.hexdigest() != file.sha256 or size != file.size_bytes:
        logger.error("kit export: %s (%s) does not match its recorded checksum", file.storage_name, file.path)
        raise KitFileChanged(f"{file.storage_name} changed since it was stored")


def voice_kit_export(*, voice: Voice, by=None) -> KitExport:
    """The kit of `voice` as a sized stream (iterate it to get the zip's bytes), and an audit entry.

    Reads everything it needs from the database now; iterating reads only storage. Raises nothing for
    a voice without clips (a kit then holds its originals only).
    """
    from clones.services import voice_audio_refuse_if_locked

    voice_audio_refuse_if_locked(voice)  # a revoked voice's audio leaves no more (410, docs/consent.md)
    manifest, files = build_manifest(voice)
    metadata = kit.metadata_csv(manifest["originals"] + manifest["clips"])
    readme = kit.readme_text(manifest)
    manifest["files"] = {
        kit.METADATA: {"sha256": kit.sha256_hex(metadata), "size_bytes": len(metadata)},
        kit.README: {"sha256": kit.sha256_hex(readme), "size_bytes": len(readme)},
    }
    body = kit.manifest_bytes(manifest)
    hashes = {f.path: f.sha256 for f in files}
    hashes.update({kit.MANIFEST: kit.sha256_hex(body), kit.METADATA: kit.sha256_hex(metadata),
                   kit.README: kit.sha256_hex(readme)})
    stream = ZipStream(sized=True)
    stream.add(readme, kit.README)
    stream.add(body, kit.MANIFEST)
    stream.add(metadata, kit.METADATA)
    for file in files:
        stream.add(_file_chunks(file), file.path, size=file.size_bytes)
    stream.add(kit.checksums_file(hashes), kit.CHECKSUMS)
    audit_record(actor=by, action="voice.kit_exported", obj=voice, kind="access",
                 data={"files": len(files) + 4, "clips": len(manifest["clips"]), "bytes": len(stream)})
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return KitExport(
        filename=f"voice-kit-{slugify(voice.name) or 'voice'}-{stamp}.zip",
        size_bytes=len(stream),
        file_count=len(files) + 4,
        clip_count=len(manifest["clips"]),
        stream=stream,
    )
