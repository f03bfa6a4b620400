"""Checking an uploaded voice kit before anything is stored (docs/voice-kits.md, "Import checks").

Everything a kit says is untrusted: it may come from another installation or be hand-made. Checked
here, each failure a 400 with a code and a sentence naming the file:

- the upload is a zip within KIT_IMPORT_MAX_BYTES, not encrypted, with at most KIT_IMPORT_MAX_FILES entries;
- zip bombs: declared sizes within per-file limits and KIT_IMPORT_MAX_UNCOMPRESSED_BYTES in total, no
  entry compressed more than KIT_IMPORT_MAX_RATIO times, and reads stop at the declared size;
- paths: only the kit layout (no absolute paths, `..`, backslashes, links, duplicates or stray files);
- checksums: SHA256SUMS lists exactly the kit's files and each one matches, and the manifest agrees;
- the manifest: JSON within the schema (kits.manifest.SCHEMA), ids unique, every audio file present;
- metadata.csv: exactly the lines the manifest implies;
- audio: every file starts like the audio container its manifest entry names. Originals are then
  decoded in full by the voice creation path; clips are decoded in full before each is stored.
"""

from __future__ import annotations

import hashlib
import json
import stat
import zipfile
import zlib
from dataclasses import dataclass, field

import jsonschema
from django.conf import settings

from clones.audio import audio_format_of
from voiceclone.errors import ApplicationError

from .. import manifest as kit

TEXT_LIMITS = {kit.MANIFEST: 256 * 1024 * 1024, kit.METADATA: 64 * 1024 * 1024, kit.CHECKSUMS: 16 * 1024 * 1024,
               kit.README: 64 * 1024}
_FORMAT_CONTENT_TYPES = {
    "wav": {"audio/wav", "audio/x-wav", "audio/wave"}, "mp3": {"audio/mpeg", "audio/mp3"},
    "ogg": {"audio/ogg", "audio/opus"}, "flac": {"audio/flac", "audio/x-flac"},
    "webm": {"audio/webm", "video/webm"}, "m4a": {"audio/mp4", "audio/m4a", "audio/x-m4a", "video/mp4"},
}
READ_CHUNK = 1024 * 1024


class KitInvalid(ApplicationError):
    """The uploaded kit cannot be imported. `code` says which check failed; `extra.errors` lists details."""

    status_code = 400
    default_code = "invalid_kit"


@dataclass
class ValidatedKit:
    archive: zipfile.ZipFile
    manifest: dict
    sha256: str
    size_bytes: int
    checksums: dict[str, str] = field(default_factory=dict)

    def read(self, path: str) -> bytes:
        return _read_bounded(self.archive, self.archive.getinfo(path))

    def entries(self, group: str) -> list[dict]:
        return list(self.manifest[group])


def _fail(code: str, message: str, errors: list[str] | None = None) -> KitInvalid:
    return KitInvalid(message, code=code, extra={"errors": errors[:50]} if errors else None)


def audio_file_limit() -> int:
    return max(settings.UPLOAD_MAX_BYTES, settings.PROVIDER_IVC_MAX_FILE_BYTES)


def _bounded_chunks(archive: zipfile.ZipFile, info: zipfile.ZipInfo):
    """The entry's bytes in chunks, never more than it declares: reading stops with `zip_bomb` one byte past the
    declared size, so a lying header cannot inflate memory or time."""
    total = 0
    with archive.open(info) as fh:
        while chunk := fh.read(min(READ_CHUNK, info.file_size - total + 1)):
            total += len(chunk)
            if total > info.file_size:
                raise _fail("zip_bomb", f"{info.filename}: holds more data than its header declares.")
            yield chunk


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The entry's bytes, never more than it declares (a lying header cannot inflate memory)."""
    return b"".join(_bounded_chunks(archive, info))


def _check_path(name: str) -> str | None:
    """A reason the entry name is refused, or None."""
    if not name or "\x00" in name or "\\" in name or name.startswith("/") or ":" in name.split("/", 1)[0]:
        return "is not a relative path inside the kit"
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts[:-1]) or parts[-1] in (".", ".."):
        return "leaves the kit's folder"
    if name in TEXT_LIMITS:
        return None
    if len(parts) == 2 and parts[0] + "/" in (kit.ORIGINALS_DIR, kit.CLIPS_DIR) and parts[1]:
        return None
    if name.endswith("/") and name in (kit.ORIGINALS_DIR, kit.CLIPS_DIR):
        return None
    return "is not part of the voice kit layout"


def _open_zip(upload) -> tuple[zipfile.ZipFile, str, int]:
    size = getattr(upload, "size", None)
    if size is not None and size > settings.KIT_IMPORT_MAX_BYTES:
        raise _fail("too_large", f"The kit is larger than {settings.KIT_IMPORT_MAX_BYTES // (1024 * 1024)} MB.")
    upload.seek(0)
    digest, total = hashlib.sha256(), 0
    while chunk := upload.read(READ_CHUNK):
        digest.update(chunk)
        total += len(chunk)
        if total > settings.KIT_IMPORT_MAX_BYTES:
            raise _fail("too_large", f"The kit is larger than {settings.KIT_IMPORT_MAX_BYTES // (1024 * 1024)} MB.")
    upload.seek(0)
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise _fail("not_a_zip", "The kit is not a zip file.") from None
    return archive, digest.hexdigest(), total


def _check_entries(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > settings.KIT_IMPORT_MAX_FILES:
        raise _fail("too_many_files", f"The kit has {len(infos)} files; at most {settings.KIT_IMPORT_MAX_FILES} are accepted.")
    errors, by_name, total = [], {}, 0
    for info in infos:
        name = info.filename
        reason = _check_path(name)
        if reason:
            errors.append(f"{name} {reason}.")
            continue
        if name in by_name:
            errors.append(f"{name} appears twice.")
            continue
        if info.flag_bits & 0x1:
            errors.append(f"{name} is encrypted.")
            continue
        mode = info.external_attr >> 16
        if mode and stat.S_ISLNK(mode):
            errors.append(f"{name} is a link.")
            continue
        if info.is_dir():
            continue
        limit = TEXT_LIMITS.get(name, audio_file_limit())
        if info.file_size > limit:
            errors.append(f"{name} is {info.file_size} bytes; at most {limit} are accepted.")
        if info.file_size > READ_CHUNK and info.file_size > settings.KIT_IMPORT_MAX_RATIO * max(info.compress_size, 1):
            errors.append(f"{name} is compressed {info.file_size // max(info.compress_size, 1)} times (a zip bomb?).")
        total += info.file_size
        by_name[name] = info
    if errors:
        code = "zip_bomb" if any("zip bomb" in e or "bytes; at most" in e for e in errors) else "invalid_layout"
        raise _fail(code, "The kit contains files that cannot be imported.", errors)
    if total > settings.KIT_IMPORT_MAX_UNCOMPRESSED_BYTES:
        raise _fail("zip_bomb", f"The kit unpacks to {total} bytes; at most "
                                f"{settings.KIT_IMPORT_MAX_UNCOMPRESSED_BYTES} are accepted.")
    for required in (kit.MANIFEST, kit.CHECKSUMS, kit.METADATA):
        if required not in by_name:
            raise _fail("invalid_layout", f"The kit has no {required}.")
    _check_manifest_size(by_name)
    return by_name


# What one audio file's entry may add to the manifest: a clip's entry is about 1 KB (text, review, metrics,
# flags); 32 KB leaves room for long texts and every metric while a padded manifest is refused.
MANIFEST_BYTES_PER_AUDIO_FILE = 32 * 1024


def manifest_size_limit(audio_files: int) -> int:
    """The largest manifest.json a kit of `audio_files` audio files may carry: KIT_IMPORT_MAX_MANIFEST_BYTES for
    the voice, its persona history and the lineage, plus an allowance per audio file (never above TEXT_LIMITS)."""
    return min(TEXT_LIMITS[kit.MANIFEST],
               settings.KIT_IMPORT_MAX_MANIFEST_BYTES + MANIFEST_BYTES_PER_AUDIO_FILE * audio_files)


def _check_manifest_size(by_name: dict) -> None:
    """A manifest is parsed whole and kept on the import's row, so its size follows what the kit holds: a
    60 MB manifest for six audio files is refused before it is read (issue 15 re-check)."""
    audio_files = sum(1 for name in by_name if name.startswith((kit.ORIGINALS_DIR, kit.CLIPS_DIR)))
    limit = manifest_size_limit(audio_files)
    size = by_name[kit.MANIFEST].file_size
    if size > limit:
        raise _fail("invalid_manifest", f"manifest.json is {size} bytes; a kit of {audio_files} audio file(s) may "
                                        f"carry at most {limit}.")


def _check_manifest(archive, infos) -> dict:
    try:
        manifest = json.loads(_read_bounded(archive, infos[kit.MANIFEST]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail("invalid_manifest", f"manifest.json is not JSON: {exc}") from None
    except RecursionError:
        raise _fail("invalid_manifest", "manifest.json is nested too deeply.") from None
    validator = jsonschema.Draft202012Validator(kit.SCHEMA)
    problems = sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    if problems:
        if isinstance(manifest, dict) and manifest.get("format") == kit.FORMAT and \
                manifest.get("format_version") != kit.FORMAT_VERSION:
            raise _fail("unsupported_version", f"This kit is format version {manifest.get('format_version')!r}; "
                                               f"this installation reads version {kit.FORMAT_VERSION}.")
        errors = [f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message[:300]}" for e in problems]
        raise _fail("invalid_manifest", "manifest.json does not follow the voice kit format.", errors)
    return manifest


def _check_consistency(manifest: dict, infos: dict, checksums: dict[str, str]) -> None:
    errors, ids, paths = [], set(), set()
    for group, prefix in (("originals", "original_"), ("clips", "clip_")):
        for entry in manifest[group]:
            if not entry["id"].startswith(prefix):
                errors.append(f"{group}: {entry['id']} is not a {group[:-1]} id.")
            if not entry["path"].startswith(("originals/" if group == "originals" else "clips/") + entry["id"] + "."):
                errors.append(f"{entry['id']}: path {entry['path']} does not match its id.")
            if entry["id"] in ids:
                errors.append(f"{entry['id']} is listed twice.")
            ids.add(entry["id"])
            paths.add(entry["path"])
            info = infos.get(entry["path"])
            if info is None:
                errors.append(f"{entry['path']} is in the manifest but not in the kit.")
                continue
            if info.file_size != entry["size_bytes"]:
                errors.append(f"{entry['path']}: {info.file_size} bytes, the manifest says {entry['size_bytes']}.")
            if checksums.get(entry["path"]) != entry["sha256"]:
                errors.append(f"{entry['path']}: the manifest's sha256 differs from SHA256SUMS.")
            if group == "clips" and entry.get("review", {}).get("status") not in (None, "approved"):
                errors.append(f"{entry['id']}: only approved clips are imported.")
    audio_in_zip = {n for n, i in infos.items() if not i.is_dir() and n not in TEXT_LIMITS}
    for stray in sorted(audio_in_zip - paths):
        errors.append(f"{stray} is in the kit but not in the manifest.")
    for name, facts in manifest["files"].items():
        if name not in infos or name not in TEXT_LIMITS or name == kit.MANIFEST:
            errors.append(f"files: {name} is not a kit file it may describe.")
        elif checksums.get(name) != facts["sha256"]:
            errors.append(f"files: {name}'s sha256 differs from SHA256SUMS.")
    if errors:
        raise _fail("inconsistent_kit", "The manifest and the kit's files disagree.", errors)


def _check_checksums(archive, infos) -> dict[str, str]:
    try:
        checksums = kit.parse_checksums(_read_bounded(archive, infos[kit.CHECKSUMS]))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _fail("invalid_checksums", f"SHA256SUMS cannot be read: {exc}.") from None
    files = {n for n, i in infos.items() if not i.is_dir() and n != kit.CHECKSUMS}
    errors = [f"{n} is not listed in SHA256SUMS." for n in sorted(files - set(checksums))]
    errors += [f"SHA256SUMS lists {n}, which is not in the kit." for n in sorted(set(checksums) - files)]
    for name in sorted(files & set(checksums)):
        digest = hashlib.sha256()
        for chunk in _bounded_chunks(archive, infos[name]):
            digest.update(chunk)
        if digest.hexdigest() != checksums[name]:
            errors.append(f"{name}: sha256 does not match SHA256SUMS (the file is damaged or was changed).")
    if errors:
        raise _fail("checksum_mismatch", "The kit's files do not match their checksums.", errors)
    return checksums


def _check_metadata(archive, infos, manifest) -> None:
    expected = kit.metadata_csv(manifest["originals"] + manifest["clips"])
    if _read_bounded(archive, infos[kit.METADATA]) != expected:
        raise _fail("invalid_metadata", "metadata.csv does not match the manifest's clips and texts "
                                        "(one `id|text|normalized text` line per clip with a transcript).")


def _check_audio_headers(archive, infos, manifest) -> None:
    errors = []
    for entry in manifest["originals"] + manifest["clips"]:
        info = infos[entry["path"]]
        with archive.open(info) as fh:
            head = fh.read(4096)
        found = audio_format_of(head)
        declared = entry["path"].rsplit(".", 1)[-1]
        if found is None:
            errors.append(f"{entry['path']} is not audio (WAV, MP3, OGG, FLAC, WebM or M4A).")
        elif found != declared or entry["content_type"] not in _FORMAT_CONTENT_TYPES[found]:
            errors.append(f"{entry['path']} is {found.upper()} audio, not what its name and content type say.")
    if errors:
        raise _fail("invalid_audio", "Some of the kit's audio files are not what they claim to be.", errors)


def kit_validate(upload) -> ValidatedKit:
    """Check an uploaded kit (a file object) from its bytes to its manifest. Raises KitInvalid (400)."""
    archive, digest, size = _open_zip(upload)
    try:
        infos = _check_entries(archive)
        checksums = _check_checksums(archive, infos)
        manifest = _check_manifest(archive, infos)
        _check_consistency(manifest, infos, checksums)
        _check_metadata(archive, infos, manifest)
        _check_audio_headers(archive, infos, manifest)
    except zipfile.BadZipFile as exc:
        raise _fail("not_a_zip", f"The kit is a damaged zip file: {exc}.") from None
    except (zlib.error, EOFError) as exc:
        raise _fail("not_a_zip", f"The kit is a damaged zip file: {exc}.") from None
    return ValidatedKit(archive=archive, manifest=manifest, sha256=digest, size_bytes=size, checksums=checksums)
