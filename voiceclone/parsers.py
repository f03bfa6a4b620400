"""Request parsers of the API (settings.REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]).

A module of its own: DRF's views import the parser setting, so it cannot live beside the exception
handler in voiceclone.api, which imports DRF's views.
"""

import re

from rest_framework import exceptions, parsers

_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing with a 400 (not a 500) what Python's json accepts but we cannot use:
    documents nested deeper than the recursion limit, and strings with an unpaired surrogate escape
    (`"\\ud800"`), which no database can store as UTF-8."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - the document is nested too deeply.") from None
        if _has_surrogate(data):
            raise exceptions.ParseError("JSON parse error - a string contains an unpaired surrogate escape.")
        return data


def _has_surrogate(data) -> bool:
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
