"""django-q2 entry points for voice kits: load by id, call one service."""

from .services import importing


def kit_import_clips(import_id: int) -> None:
    importing.kit_import_clips(import_id=import_id)
