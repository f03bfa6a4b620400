"""The voice kit format (docs/voice-kits.md): layout, manifest schema, metadata.csv, checksums.

    manifest.json    the voice, persona versions, provider versions, runs (lineage), consent hashes,
                     every audio file with its sha256, size, text, review and metrics
    metadata.csv     LJSpeech style, `id|text|normalized text`, one line per clip with a transcript
    originals/…      the consented recordings the clone was made from (original_001.wav, …)
    clips/…          the approved generated clips (clip_00001.mp3, …)
    README.txt       what the kit is, for a person who opens it
    SHA256SUMS       `sha256  path` for every other file, manifest.json included (`sha256sum -c` checks it)

Kit ids follow creation order (originals, then clips, by created_at then id), so a voice imported
from a kit exports the same ids, files and metadata.csv again.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.utils.crypto import salted_hmac

FORMAT = "voiceclone.voice-kit"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
METADATA = "metadata.csv"
CHECKSUMS = "SHA256SUMS"
README = "README.txt"
ORIGINALS_DIR = "originals/"
CLIPS_DIR = "clips/"
CONSENT_HASH_SALT = "voiceclone.kits.consent"

KIT_ID = r"^(original_[0-9]{3}|clip_[0-9]{5,})$"
KIT_PATH = r"^(originals/original_[0-9]{3}|clips/clip_[0-9]{5,})\.(wav|mp3|ogg|flac|webm|m4a)$"
SHA256 = r"^[0-9a-f]{64}$"
AUDIO_EXTENSIONS = {"wav", "mp3", "ogg", "flac", "webm", "m4a"}

CLIP_METRICS = (
    "duration_s", "sample_rate", "loudness_lufs", "peak_dbfs", "clipping_ratio", "leading_silence_s",
    "trailing_silence_s", "speech_ratio", "snr_db", "quality_score", "pitch_median_hz", "pitch_range_st",
    "energy_range_db", "speaking_rate_cps",
)

_nullable_number = {"type": ["number", "null"]}
# Integers the import stores in integer columns: bounded by the smallest such column (PositiveIntegerField),
# so a huge number (or 1e308, which JSON Schema counts as an integer) is refused, not an overflow.
_MAX_INT = 2**31 - 1
_nullable_string = {"type": ["string", "null"]}
_datetime = {"type": "string", "maxLength": 40}
_audio_file = {
    "type": "object",
    "required": ["id", "path", "sha256", "size_bytes", "content_type", "created_at"],
    "properties": {
        "id": {"type": "string", "pattern": KIT_ID},
        "path": {"type": "string", "pattern": KIT_PATH},
        "sha256": {"type": "string", "pattern": SHA256},
        "size_bytes": {"type": "integer", "minimum": 1},
        "content_type": {"type": "string", "maxLength": 100},
        "created_at": _datetime,
        "text": {"type": "string", "maxLength": 20000},
        "original_filename": {"type": "string", "maxLength": 255},
        "lineage_depth": {"type": "integer", "minimum": 0, "maximum": 1000},
        "lineage_unknown": {"type": "boolean"},
        "version": {"type": ["integer", "null"], "minimum": 1, "maximum": _MAX_INT},
        "character_cost": {"type": ["integer", "null"], "minimum": 0, "maximum": _MAX_INT},
        "metrics": {"type": "object", "additionalProperties": _nullable_number,
                    "propertyNames": {"enum": list(CLIP_METRICS)}},
        "quality_flags": {"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": 50},
        "analysed_at": _nullable_string,
        "review": {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"enum": ["pending", "approved", "rejected"]},
                "reviewed_by": _nullable_string,
                "reviewed_at": _nullable_string,
                "reason": {"type": "string", "maxLength": 255},
            },
        },
    },
}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "voiceclone voice kit manifest",
    "type": "object",
    "required": ["format", "format_version", "voice", "originals", "clips", "files"],
    "properties": {
        "format": {"const": FORMAT},
        "format_version": {"const": FORMAT_VERSION},
        "created_at": _datetime,
        "generator": {"type": "object"},
        "voice": {
            "type": "object",
            "required": ["id", "name", "persona", "language"],
            "properties": {
                "id": {"type": "string", "maxLength": 64},
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                "persona": {"type": "string", "minLength": 1, "maxLength": 20000},
                "language": {"type": "string", "maxLength": 16},
                "created_at": _datetime,
            },
        },
        "persona_versions": {
            "type": "array",
            "maxItems": 10000,
            "items": {
                "type": "object",
                "required": ["number", "text", "source"],
                "properties": {
                    "number": {"type": "integer", "minimum": 1, "maximum": _MAX_INT},
                    "text": {"type": "string", "minLength": 1, "maxLength": 20000},
                    "source": {"type": "string", "maxLength": 16},
                    "created_by": _nullable_string,
                    "created_at": _nullable_string,
                },
            },
        },
        "versions": {"type": "array", "maxItems": 10000, "items": {"type": "object"}},
        "runs": {"type": "array", "maxItems": 10000, "items": {"type": "object"}},
        "consent": {
            "type": "array",
            "maxItems": 1000,
            "items": {
                "type": "object",
                "required": ["statement_version", "statement_sha256", "record_hash"],
                "properties": {
                    "statement_version": {"type": "string", "maxLength": 32},
                    "statement_sha256": {"type": "string", "pattern": SHA256},
                    "record_hash": {"type": "string", "maxLength": 200},
                    "method": {"type": "string", "maxLength": 16},
                    "given_at": _nullable_string,
                },
            },
        },
        "originals": {"type": "array", "minItems": 1, "maxItems": 1000, "items": _audio_file},
        "clips": {"type": "array", "maxItems": 100000, "items": _audio_file},
        "fidelity": {"type": "object"},
        "imported_from": {"type": "array", "maxItems": 1000, "items": {"type": "object"}},
        "files": {
            "type": "object",
            "maxProperties": 10,
            "additionalProperties": {
                "type": "object",
                "required": ["sha256", "size_bytes"],
                "properties": {"sha256": {"type": "string", "pattern": SHA256},
                               "size_bytes": {"type": "integer", "minimum": 0}},
            },
        },
    },
}


@dataclass(frozen=True)
class KitFile:
    """One audio file of a kit: where it goes in the zip and where it is read from in storage."""

    path: str
    storage_name: str
    sha256: str
    size_bytes: int


def iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(value) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def manifest_bytes(manifest: dict) -> bytes:
    return (json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def consent_record_hash(consent) -> str:
    """An HMAC (keyed by this installation's SECRET_KEY) of the whole consent record.

    The kit carries no consenter data beyond the statement version and when and how consent was given;
    the installation that holds the record can prove the kit's consent is that record by recomputing
    this, and nobody else can guess names or addresses from it (a plain hash of a name can be guessed).
    """
    record = {
        "voice": str(consent.voice_id),
        "given_by": consent.given_by_id,
        "speaker_name": consent.speaker_name,
        "statement_version": consent.statement_version,
        "statement_text": consent.statement_text,
        "method": consent.method,
        "statement_file": consent.statement_file.name if consent.statement_file else "",
        "ip_address": consent.ip_address,
        "user_agent": consent.user_agent,
        "created_at": iso(consent.created_at),
    }
    return "hmac-sha256:" + salted_hmac(CONSENT_HASH_SALT, canonical_json(record), algorithm="sha256").hexdigest()


_SPACES = re.compile(r"\s+")
_ABBREVIATIONS = {
    "mr.": "mister", "mrs.": "missus", "ms.": "miss", "dr.": "doctor", "st.": "saint", "no.": "number",
    "etc.": "et cetera", "e.g.": "for example", "i.e.": "that is", "vs.": "versus",
}
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _number_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else "-" + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + _number_words(rest))
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            rest = n % size
            return _number_words(n // size) + " " + name + ("" if rest == 0 else " " + _number_words(rest))
    return str(n)


def clean_text(text: str) -> str:
    """The transcript on one line, without the column separator."""
    return _SPACES.sub(" ", (text or "").replace("|", " ")).strip()


def normalize_text(text: str) -> str:
    """LJSpeech's third column: ASCII-folded, abbreviations and whole numbers up to 10^12 spelled out
    (English), one line. Deterministic; enough for aligners and TTS training front ends."""
    text = clean_text(unicodedata.normalize("NFKC", text))
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"').replace("—", " - ")
    out = []
    for word in text.split(" "):
        lowered = word.lower()
        if lowered in _ABBREVIATIONS:
            word = _ABBREVIATIONS[lowered]
        elif re.fullmatch(r"\d{1,12}", word):
            word = _number_words(int(word))
        elif m := re.fullmatch(r"(\d{1,12})([.,!?;:]+)", word):
            word = _number_words(int(m.group(1))) + m.group(2)
        out.append(word)
    folded = unicodedata.normalize("NFKD", " ".join(out)).encode("ascii", "ignore").decode()
    return _SPACES.sub(" ", folded).strip()


def metadata_csv(entries: list[dict]) -> bytes:
    """`id|text|normalized text` for every audio entry with a transcript, in kit order."""
    lines = [f"{e['id']}|{clean_text(e['text'])}|{normalize_text(e['text'])}" for e in entries if clean_text(e.get("text", ""))]
    return ("\n".join(lines) + ("\n" if lines else "")).encode()


def checksums_file(hashes: dict[str, str]) -> bytes:
    """`sha256sum` format, sorted by path."""
    return "".join(f"{digest}  {path}\n" for path, digest in sorted(hashes.items())).encode()


def parse_checksums(data: bytes) -> dict[str, str]:
    """Raises ValueError for a line that is not `<64 hex>  <path>` or a path listed twice."""
    out = {}
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        match = re.fullmatch(r"([0-9a-f]{64}) [ *](\S.*)", line)
        if not match:
            raise ValueError(f"line {number} is not `<sha256>  <path>`")
        if match.group(2) in out:
            raise ValueError(f"{match.group(2)} is listed twice")
        out[match.group(2)] = match.group(1)
    return out


def readme_text(manifest: dict) -> bytes:
    voice = manifest["voice"]
    return (
        f"voiceclone voice kit (format {FORMAT} v{FORMAT_VERSION})\n\n"
        f"Voice: {voice['name']} ({voice['language']}), exported {manifest['created_at']}.\n"
        f"{len(manifest['originals'])} consented original recording(s) in originals/, "
        f"{len(manifest['clips'])} approved generated clip(s) in clips/.\n\n"
        "The generated clips are AI-generated speech in a cloned voice. The originals are recordings of a "
        "person who consented to the cloning of their voice for voiceclone; use them only within that consent.\n\n"
        "manifest.json describes everything (versions, lineage, review, metrics, consent hashes); metadata.csv\n"
        "lists id|text|normalized text (LJSpeech style); SHA256SUMS checks every file: sha256sum -c SHA256SUMS\n"
    ).encode()


def extension_of(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name.rsplit("/", 1)[-1] else ""
    return ext if ext in AUDIO_EXTENSIONS else "mp3"


def site_installation() -> str:
    return getattr(settings, "SITE_URL", "")
