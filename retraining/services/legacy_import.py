"""Adopting a previous installation (issue 14, item 5): `manage.py import_legacy PATH`.

The tree at PATH is a previous installation's uploads:

- `voice_messages/…` — users' speech. Never imported, never a clip: counted in the report, and any file
  elsewhere in the tree with the same bytes is refused as user speech too.
- `clone_responses/<voice id>/response_*.mp3` — the clone's speech, one folder per voice; the folder name is
  the provider voice id (or, for a voiceclone installation, the Voice id).
- `public/generated/…` — more of the clone's speech; a file is attributed to the voice whose id appears
  in its path, or to the only voice of the tree.

And the provider account: its cloned voices that no version owns and that voiceclone did not create are
*foreign* (`retraining.services.foreign`). The plan:

1. a foreign voice the tree speaks for (or named with `--adopt`) is adopted as a voice (version 1);
2. the tree's generated audio becomes clips of that voice with **unknown lineage**, pending review: never
   auto-approved, selected only once staff approve them; their hashes join the generated-audio registry,
   so they can never come back as "original" recordings;
3. an adopted voice's recordings at the provider become originals **only when staff confirm** they are the
   consenting speaker's: `--originals-confirmed VOICE_ID`, or a file `consent/<VOICE_ID>.txt` in the tree
   (its first line is the speaker's name; the text is kept with the consent record);
4. other foreign voices are left alone, or marked deletable (`--mark-deletable VOICE_ID`,
   `--mark-unreferenced-deletable`) so the slot planner may delete them when a retrain needs a slot.

`legacy_plan` only reads (files and the provider's voice list); `legacy_apply` performs the plan. Every step
is keyed on what it creates (provider voice id, clip hash per voice, original hash per voice, the foreign
voice's record), so applying twice changes nothing the second time.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from clones import storage
from clones.audio import AudioProbeError, probe_audio
from clones.models import ClipSample, Voice, VoiceVersion
from clones.services import generated_audio_register
from clones.services.adoption import provider_voice_adopt
from retraining.models import ForeignProviderVoice
from voiceclone.background import enqueue_on_commit
from voiceclone.errors import ApplicationError
from voiceclone.validators import is_uuid

from .foreign import foreign_provider_voices, foreign_voice_adopt, foreign_voice_mark_deletable

logger = logging.getLogger(__name__)

USER_SPEECH_DIR = "voice_messages"
CLONE_RESPONSES_DIR = "clone_responses"
PUBLIC_GENERATED_DIR = "public/generated"
CONFIRMATION_DIR = "consent"
AUDIO_EXTENSIONS = {".mp3", ".wav", ".ogg", ".oga", ".m4a", ".webm", ".flac"}


class LegacyImportError(ApplicationError):
    default_code = "legacy_import_refused"


@dataclass
class VoicePlan:
    """One voice of the tree (or named by staff) and what happens to it."""

    key: str  # the tree folder name / provider voice id
    name: str = ""
    action: str = "adopt"  # adopt | owned | missing
    provider_voice_id: str | None = None
    voice_id: str | None = None  # the voiceclone Voice, once it exists
    sample_count: int = 0
    confirmation: str = ""  # where staff confirmed the originals ("" = not confirmed)
    confirmation_text: str = ""
    speaker_name: str = ""


@dataclass
class ClipFile:
    path: str  # relative to the tree root
    sha256: str
    voice_key: str | None
    action: str  # import | already_imported | duplicate | users_speech | undecodable | unassigned | voice_missing
    detail: str = ""


@dataclass
class LegacyReport:
    root: str
    applied: bool = False
    account_voices: int = 0
    voices: list[VoicePlan] = field(default_factory=list)
    clips: list[ClipFile] = field(default_factory=list)
    user_speech_files: int = 0
    mark_deletable: list[tuple[str, str]] = field(default_factory=list)  # (provider id, name), new marks only
    already_deletable: list[tuple[str, str]] = field(default_factory=list)
    left_alone: list[tuple[str, str]] = field(default_factory=list)
    # Outcomes of --apply.
    adopted: int = 0
    clips_imported: int = 0
    originals_added: int = 0
    originals_refused: list[str] = field(default_factory=list)
    marked: int = 0

    @property
    def changes(self) -> int:
        return self.adopted + self.clips_imported + self.originals_added + self.marked

    def count(self, action: str) -> int:
        return sum(1 for c in self.clips if c.action == action)

    def as_dict(self) -> dict:
        return {
            "root": self.root,
            "applied": self.applied,
            "account_voices": self.account_voices,
            "voices": [v.__dict__ for v in self.voices],
            "clips": {action: self.count(action) for action in sorted({c.action for c in self.clips})},
            "user_speech_files": self.user_speech_files,
            "mark_deletable": [pid for pid, _ in self.mark_deletable],
            "already_deletable": [pid for pid, _ in self.already_deletable],
            "left_alone": [pid for pid, _ in self.left_alone],
            "adopted": self.adopted,
            "clips_imported": self.clips_imported,
            "originals_added": self.originals_added,
            "originals_refused": self.originals_refused,
            "marked": self.marked,
        }

    def lines(self) -> list[str]:
        """The human report the command prints."""
        verb = "Imported" if self.applied else "Dry run (nothing changed; --apply imports)"
        out = [f"{verb}: legacy uploads at {self.root}",
               f"Provider account: {self.account_voices} custom voice(s) voiceclone does not own."]
        for v in self.voices:
            if v.action == "adopt":
                originals = (f"its {v.sample_count} recording(s) at the provider become originals "
                             f"(confirmed: {v.confirmation})" if v.confirmation else
                             "its recordings are NOT imported as originals (not confirmed as the consenting "
                             "speaker's; use --originals-confirmed or consent/<id>.txt)")
                out.append(f"  adopt “{v.name}” ({v.provider_voice_id}) as a voice, version 1; {originals}.")
            elif v.action == "owned":
                note = f"; originals confirmed: {v.confirmation}" if v.confirmation else ""
                out.append(f"  “{v.name}” ({v.key}) is already a voiceclone voice{note}.")
            else:
                out.append(f"  {v.key}: no such voice on the provider account or in voiceclone; its audio is skipped.")
        for pid, name in self.mark_deletable:
            out.append(f"  mark “{name}” ({pid}) deletable: the slot planner may delete it when a retrain needs a slot.")
        for pid, name in self.already_deletable:
            out.append(f"  “{name}” ({pid}) is already marked deletable.")
        for pid, name in self.left_alone:
            out.append(f"  leave “{name}” ({pid}) alone: not in the uploads (--mark-deletable {pid} to free it).")
        labels = {
            "import": "to import as clips (unknown lineage, pending review)",
            "already_imported": "already imported",
            "duplicate": "duplicates of another file in the tree",
            "users_speech": "identical to users' speech (never imported)",
            "undecodable": "not decodable audio",
            "unassigned": "not attributable to one voice",
            "voice_missing": "of a voice that no longer exists",
        }
        out.append(f"Clone speech: {len(self.clips)} file(s).")
        for action, label in labels.items():
            if self.count(action):
                out.append(f"  {self.count(action)} {label}.")
        out.append(f"Users' speech: {self.user_speech_files} file(s) in {USER_SPEECH_DIR}/, never used for training.")
        if self.applied:
            out.append(
                f"Changes: {self.adopted} voice(s) adopted, {self.clips_imported} clip(s) imported, "
                f"{self.originals_added} original(s) added, {self.marked} voice(s) marked deletable."
                if self.changes else "Nothing to change: everything was imported before."
            )
            out.extend(f"  original refused: {message}" for message in self.originals_refused)
        return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _audio_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def _confirmation(root: Path, key: str, confirmed: set[str]) -> tuple[str, str, str]:
    """(source, text, speaker name) of staff's confirmation for a voice's originals, or ("", "", "")."""
    path = root / CONFIRMATION_DIR / f"{key}.txt"
    if path.is_file():
        text = path.read_text(encoding="utf-8", errors="replace").strip()
        speaker = text.splitlines()[0].strip()[:200] if text else ""
        return f"{CONFIRMATION_DIR}/{key}.txt", text[:2000], speaker
    if key in confirmed:
        return "--originals-confirmed", "", ""
    return "", "", ""


def legacy_plan(
    *,
    root: str | Path,
    adopt: list[str] | None = None,
    mark_deletable: list[str] | None = None,
    mark_unreferenced_deletable: bool = False,
    originals_confirmed: list[str] | None = None,
) -> LegacyReport:
    """What importing the tree at `root` would do (reads files and the provider's voice list; writes nothing).

    Raises LegacyImportError when `root` is not a folder; ProviderError when the provider cannot be read.
    """
    root = Path(root)
    if not root.is_dir():
        raise LegacyImportError(f"{root} is not a folder.")
    report = LegacyReport(root=str(root))
    confirmed = set(originals_confirmed or [])

    foreign = {v.provider_voice_id: v for v in foreign_provider_voices()}
    report.account_voices = len(foreign)

    def resolve(key: str) -> VoicePlan:
        version = VoiceVersion.objects.select_related("voice").filter(provider_voice_id=key).first()
        voice = version.voice if version else Voice.objects.filter(pk=key).first() if is_uuid(key) else None
        source, text, speaker = _confirmation(root, key, confirmed)
        if voice is not None:
            adopted = version is not None and version.adopted_at is not None
            return VoicePlan(key=key, name=voice.name, action="owned", provider_voice_id=key if version else None,
                             voice_id=str(voice.pk), confirmation=source if adopted else "",
                             confirmation_text=text, speaker_name=speaker)
        if key in foreign:
            return VoicePlan(key=key, name=foreign[key].name, action="adopt", provider_voice_id=key,
                             sample_count=foreign[key].sample_count, confirmation=source,
                             confirmation_text=text, speaker_name=speaker)
        return VoicePlan(key=key, action="missing")

    responses = root / CLONE_RESPONSES_DIR
    keys = sorted(p.name for p in responses.iterdir() if p.is_dir()) if responses.is_dir() else []
    for key in [*keys, *[k for k in (adopt or []) if k not in keys]]:
        report.voices.append(resolve(key))

    # Users' speech: counted and remembered by content, so the same bytes never become a clip.
    speech_dir = root / USER_SPEECH_DIR
    speech_files = sorted(p for p in speech_dir.rglob("*") if p.is_file()) if speech_dir.is_dir() else []
    user_speech = {_sha256(p) for p in speech_files}
    report.user_speech_files = len(speech_files)

    plans = {v.key: v for v in report.voices}
    targets = [v for v in report.voices if v.action != "missing"]
    seen: set[tuple[str, str]] = set()

    def add_clip(path: Path, key: str | None) -> None:
        relative = str(path.relative_to(root))
        digest = _sha256(path)
        plan = plans.get(key) if key else None
        if digest in user_speech:
            action = "users_speech"
        elif key is None:
            action = "unassigned"
        elif plan is None or plan.action == "missing":
            action = "voice_missing"
        elif (key, digest) in seen:
            action = "duplicate"
        elif plan.voice_id and ClipSample.objects.filter(voice_id=plan.voice_id, sha256=digest).exists():
            action = "already_imported"
        else:
            action = "import"
        detail = ""
        if action == "import":
            try:
                probe_audio(path.read_bytes(), filename=path.name)
            except AudioProbeError as exc:
                action, detail = "undecodable", str(exc)
        seen.add((key or "", digest))
        report.clips.append(ClipFile(path=relative, sha256=digest, voice_key=key, action=action, detail=detail))

    for key in keys:
        for path in _audio_files(responses / key):
            add_clip(path, key)
    for path in _audio_files(root / PUBLIC_GENERATED_DIR):
        relative = str(path.relative_to(root))
        named = [v.key for v in report.voices if v.key in relative]
        key = named[0] if len(named) == 1 else (targets[0].key if len(targets) == 1 and not named else None)
        add_clip(path, key)

    adopting = {v.provider_voice_id for v in report.voices if v.action == "adopt"}
    records = {r.provider_voice_id: r for r in ForeignProviderVoice.objects.filter(provider_voice_id__in=foreign)}
    wanted = set(mark_deletable or [])
    unknown = wanted - set(foreign)
    if unknown:
        raise LegacyImportError(
            f"Cannot mark {', '.join(sorted(unknown))} deletable: not a foreign voice on the provider account."
        )
    for pid, voice in foreign.items():
        if pid in adopting:
            continue
        if pid in wanted or mark_unreferenced_deletable:
            record = records.get(pid)
            target = report.already_deletable if record and record.is_deletable else report.mark_deletable
            target.append((pid, voice.name))
        else:
            report.left_alone.append((pid, voice.name))
    return report


def legacy_apply(*, report: LegacyReport, owner, by=None) -> LegacyReport:
    """Perform a plan from `legacy_plan`: adopt, import clips, add confirmed originals, mark deletable.

    `owner` owns adopted voices (required when the plan adopts). Idempotent (see the module docstring).
    Provider errors propagate; what was done before them stays done and a rerun continues.
    """
    root = Path(report.root)
    adopting = [v for v in report.voices if v.action == "adopt"]
    if adopting and owner is None:
        raise LegacyImportError("Adopting voices needs an owner: pass --owner USERNAME.")
    report.applied = True

    for plan in adopting:
        result = foreign_voice_adopt(provider_voice_id=plan.provider_voice_id, owner=owner, by=by or owner,
                                     name=plan.name)
        plan.voice_id = str(result.voice.pk)
        report.adopted += int(result.created)

    # Clips before originals: their hashes join the generated-audio registry first, so a provider sample that
    # is really the clone's own speech is refused as an original.
    voices = {v.key: v for v in report.voices}
    for clip in report.clips:
        if clip.action != "import":
            continue
        plan = voices[clip.voice_key]
        report.clips_imported += int(_import_clip(root / clip.path, clip=clip, voice_id=plan.voice_id))

    for plan in report.voices:
        if plan.confirmation and plan.voice_id and plan.provider_voice_id:
            result = provider_voice_adopt(
                provider_voice_id=plan.provider_voice_id, owner=owner, originals_confirmed=True,
                confirmed_by=by or owner, speaker_name=plan.speaker_name,
                confirmation_note=f"Confirmation: {plan.confirmation}. {plan.confirmation_text}".strip(),
            )
            report.originals_added += len(result.originals_added)
            report.originals_refused += result.originals_refused

    for pid, name in report.mark_deletable:
        foreign_voice_mark_deletable(provider_voice_id=pid, name=name, by=by,
                                     note="import_legacy: not referenced by the legacy uploads")
        report.marked += 1
    return report


def _import_clip(path: Path, *, clip: ClipFile, voice_id: str) -> bool:
    """Store one legacy audio file as a generated clip of unknown lineage, pending review. False when it
    does not decode or was imported meanwhile."""
    voice = Voice.objects.select_related("current_version").get(pk=voice_id)
    data = path.read_bytes()
    try:
        info = probe_audio(data, filename=path.name)
    except AudioProbeError as exc:
        clip.action, clip.detail = "undecodable", str(exc)
        return False
    if ClipSample.objects.filter(voice=voice, sha256=clip.sha256).exists():
        clip.action = "already_imported"
        return False
    version = (
        VoiceVersion.objects.filter(voice=voice, provider_voice_id=clip.voice_key).first() or voice.current_version
    )
    stored = storage.save_bytes(f"{CLONE_RESPONSES_DIR}/{voice.pk}/legacy_{clip.sha256[:16]}{info.extension}", data)
    with transaction.atomic():
        row = ClipSample.objects.create(
            voice=voice,
            source=ClipSample.Source.GENERATED,
            version=version,
            file=stored,
            original_filename=clip.path[-255:],
            content_type=info.content_type,
            duration_s=info.duration_s,
            sample_rate=info.sample_rate,
            size_bytes=len(data),
            sha256=clip.sha256,
            lineage_depth=version.generated_lineage_depth if version else 1,
            is_lineage_unknown=True,
            review_status=ClipSample.ReviewStatus.PENDING,
        )
        generated_audio_register(sha256=clip.sha256, clip=row)
        enqueue_on_commit("clones.tasks.clip_analyse", row.pk)
    return True
