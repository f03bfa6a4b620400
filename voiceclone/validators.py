"""Checks of user-written text and codes that neither DRF nor Django's forms make.

Services call them, so the API, the pages and management commands refuse the same input.
"""

import unicodedata
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

# Embeddings, overrides and isolates: they reorder how text is displayed, so a name can read as
# something it is not ("Trojan Source", CVE-2021-42574). The marks LRM/RLM/ALM stay allowed: right-
# to-left scripts use them legitimately and they cannot reorder a run of text.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_MULTILINE_ALLOWED = frozenset("\n\r\t")
_LINE_SEPARATORS = frozenset("\u2028\u2029")


def plain_text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why `value` is not plain text a person typed, or None: control characters (except line
    breaks and tabs when `multiline`), bidirectional overrides, unpaired surrogates."""
    for char in value:
        if char in _BIDI_CONTROLS:
            return (f"contains a right-to-left/left-to-right override or isolate character (U+{ord(char):04X}), "
                    "which can disguise how the text reads; remove it.")
        if multiline and char in _MULTILINE_ALLOWED:
            continue
        category = unicodedata.category(char)
        if category == "Cs":
            return "contains an invalid character (an unpaired UTF-16 surrogate)."
        if category == "Cc" or char in _LINE_SEPARATORS:
            what = "a line break" if char in "\n\r\x0b\x0c\x85" or char in _LINE_SEPARATORS else "a control character"
            return f"contains {what} (U+{ord(char):04X}); use plain text on one line."
    return None


def plain_text_validate(**fields) -> None:
    """Raise one ValidationError keyed by field for every value that is not plain text.

    Keyword arguments are `name=value` (single line) or `name=(value, True)` (multi-line); None is skipped.
    """
    errors = {}
    for name, spec in fields.items():
        value, multiline = spec if isinstance(spec, tuple) else (spec, False)
        if value is None:
            continue
        problem = plain_text_problem(value, multiline=multiline)
        if problem:
            errors[name] = [f"This text {problem}"]
    if errors:
        raise ValidationError(errors)


def language_code_validate(code: str) -> str:
    """A lower-case ISO 639-1 code (`en`, `pt`, `zh`), the form ElevenLabs' speech-to-text accepts.

    The list is pycountry's (Debian's iso-codes data: 184 two-letter codes). Raises ValidationError
    keyed `language` for anything else, e.g. `zz`, `english` or `en-GB`.
    """
    import pycountry

    normalised = (code or "").strip().lower()
    if len(normalised) == 2 and normalised.isascii() and pycountry.languages.get(alpha_2=normalised) is not None:
        return normalised
    raise ValidationError({"language": [
        f"“{code}” is not a language code: use a two-letter ISO 639-1 code such as en, es, fr, de, ja or zh."]})



class PlainTextValidator(RegexValidator):
    """`plain_text_problem` for API serializers: its message names the character, and its regex (the same
    rule) becomes the field's `pattern` in the OpenAPI schema. Unpaired surrogates never reach a
    serializer (the JSON parser refuses them)."""

    _NOT_PLAIN = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"

    def __init__(self, *, multiline: bool):
        allowed_breaks = "" if multiline else r"\t\n\r"
        super().__init__(rf"^[^{allowed_breaks}{self._NOT_PLAIN}]*$", code="invalid")
        self.multiline = multiline

    def __call__(self, value):
        problem = plain_text_problem(str(value), multiline=self.multiline)
        if problem:
            raise ValidationError(f"This text {problem}", code="invalid")


plain_text_line = PlainTextValidator(multiline=False)
plain_text_multiline = PlainTextValidator(multiline=True)


def is_uuid(value) -> bool:
    """Whether `value` reads as a UUID (a query parameter, a URL part) before it is used in a lookup."""
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
