"""Small helpers for the words staff and users read."""


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """"1 voice", "2 voices", "0 clips": a count with its noun in the right number (never "voice(s)")."""
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"
