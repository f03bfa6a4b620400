"""Voice kits: export a voice as a portable zip, import one as a new voice (docs/voice-kits.md)."""

from .export import KitExport, voice_kit_export  # noqa: F401
from .importing import KitImportResult, kit_import_clips, voice_kit_import  # noqa: F401
from .validation import KitInvalid, ValidatedKit, kit_validate  # noqa: F401
