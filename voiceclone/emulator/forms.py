"""Form bodies: multipart/form-data (as the SDK sends) and urlencoded, parsed with python-multipart.

The low-level `MultipartParser` is used instead of the higher-level helpers because the emulator
needs each file part's own Content-Type and filename, and repeated `files` parts in order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from . import errors


@dataclass(frozen=True)
class UploadedFile:
    field: str
    filename: str
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def summary(self) -> dict:
        """What the request log records about a file (its bytes are not kept there)."""
        return {
            "field": self.field,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": len(self.data),
            "sha256": self.sha256,
        }


@dataclass
class Form:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)

    def value(self, name: str) -> str | None:
        """Last value of a text field, or None when the field was not sent."""
        values = self.fields.get(name)
        return values[-1] if values else None

    def files_named(self, name: str) -> list[UploadedFile]:
        return [upload for upload in self.files if upload.field == name]

    def log_fields(self) -> dict[str, object]:
        """Text fields for the request log: a single value as a string, repeated ones as a list."""
        return {name: values[0] if len(values) == 1 else list(values) for name, values in self.fields.items()}


class _PartCollector:
    """Callbacks for MultipartParser that assemble each part's headers and data."""

    def __init__(self) -> None:
        self.form = Form()
        self._headers: dict[bytes, bytes] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._data = bytearray()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_name.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_part_data": lambda data, start, end: self._data.extend(data[start:end]),
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._data = bytearray()

    def _header_end(self) -> None:
        self._headers[bytes(self._header_name).strip().lower()] = bytes(self._header_value).strip()
        self._header_name = bytearray()
        self._header_value = bytearray()

    def _part_end(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in params:
            self.form.files.append(
                UploadedFile(
                    field=name,
                    filename=params[b"filename"].decode("utf-8", "replace"),
                    content_type=self._headers.get(b"content-type", b"application/octet-stream").decode("latin-1"),
                    data=bytes(self._data),
                )
            )
        else:
            self.form.fields.setdefault(name, []).append(bytes(self._data).decode("utf-8", "replace"))


def parse_form(body: bytes, content_type: str) -> Form:
    mime, params = parse_options_header(content_type)
    if mime == b"multipart/form-data":
        boundary = params.get(b"boundary")
        if not boundary:
            raise errors.api_error(400, "invalid_request", "There was an error parsing the body")
        collector = _PartCollector()
        parser = MultipartParser(boundary, collector.callbacks())
        try:
            parser.write(body)
            parser.finalize()
        except MultipartParseError as exc:
            raise errors.api_error(400, "invalid_request", "There was an error parsing the body") from exc
        return collector.form
    if mime == b"application/x-www-form-urlencoded":
        return Form(fields=parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))
    return Form()
