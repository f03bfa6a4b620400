"""Request parsers of the API (settings.REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]).

A module of its own: DRF's views import the parser setting, so it cannot live beside the exception
handler in voiceclone.api, which imports DRF's views.
"""

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, but JSON nested deeper than Python's recursion limit is a 400, not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - the document is nested too deeply.") from None
