"""GET /v2/voices: filtering, sorting and keyset pagination over voice records (spec §5.4).

The page token is opaque to clients (base64 of a small JSON document). It carries the sort key of
the last voice on the page rather than an offset, so deleting or creating voices between two page
requests neither skips nor repeats the voices that were already there.
"""

from __future__ import annotations

import base64
import binascii
import json

from . import errors
from .shapes import render_voice

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100

# voice_type values that select the account's own voices vs. the premade ("default") ones.
_OWN_TYPES = {"personal", "workspace", "non-default"}
_NOTHING_TYPES = {"community", "saved"}  # the emulator has no library or saved voices


def _last(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _page_size(query: dict[str, list[str]]) -> int:
    raw = _last(query, "page_size")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        raise errors.validation_error(
            (["query", "page_size"], "Input should be a valid integer, unable to parse string as an integer",
             "int_parsing")
        ) from None
    if size > MAX_PAGE_SIZE:
        raise errors.validation_error(
            (["query", "page_size"], f"Input should be less than or equal to {MAX_PAGE_SIZE}", "less_than_equal")
        )
    if size < 1:
        raise errors.validation_error(
            (["query", "page_size"], "Input should be greater than or equal to 1", "greater_than_equal")
        )
    return size


def _matches(record: dict, query: dict[str, list[str]]) -> bool:
    category = _last(query, "category")
    if category and record["category"] != category:
        return False
    voice_type = _last(query, "voice_type")
    is_premade = record["category"] == "premade"
    if voice_type in _NOTHING_TYPES:
        return False
    if voice_type == "default" and not is_premade:
        return False
    if voice_type in _OWN_TYPES and is_premade:
        return False
    voice_ids = query.get("voice_ids")
    if voice_ids and record["voice_id"] not in voice_ids:
        return False
    labels = {key: str(value).lower() for key, value in (record.get("labels") or {}).items()}
    for label in ("gender", "age", "accent"):
        wanted = _last(query, label)
        if wanted and labels.get(label) != wanted.lower():
            return False
    for param, label in (("language", "language"), ("use_cases", "use_case")):
        wanted = [value.lower() for value in query.get(param, [])]
        if wanted and labels.get(label) not in wanted:
            return False
    term = (_last(query, "search") or "").strip().lower()
    if term:
        haystack = " ".join([record["name"], record.get("description") or "", record["category"], *labels.values()])
        if term not in haystack.lower():
            return False
    return True


def _sort_key(record: dict, sort: str) -> list:
    if sort == "name":
        return [record["name"].lower(), record["seq"]]
    return [record.get("created_at_unix") or 0, record["seq"]]


def _encode_token(key: list, sort: str, direction: str) -> str:
    raw = json.dumps({"after": key, "sort": sort, "dir": direction}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii")


def _decode_token(token: str, sort: str, direction: str) -> list:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        if data["sort"] != sort or data["dir"] != direction:
            raise ValueError("token was issued for another ordering")
        return list(data["after"])
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeEncodeError) as exc:
        raise errors.api_error(
            400, "invalid_parameters", "The next_page_token is invalid.", param="next_page_token"
        ) from exc


def search_voices(records: list[dict], query: dict[str, list[str]]) -> dict:
    sort = _last(query, "sort") or "created_at_unix"
    if sort not in {"created_at_unix", "name"}:
        raise errors.validation_error((["query", "sort"], "Input should be 'created_at_unix' or 'name'", "enum"))
    direction = _last(query, "sort_direction") or ("asc" if sort == "name" else "desc")
    if direction not in {"asc", "desc"}:
        raise errors.validation_error((["query", "sort_direction"], "Input should be 'asc' or 'desc'", "enum"))
    page_size = _page_size(query)
    descending = direction == "desc"

    selected = sorted((r for r in records if _matches(r, query)), key=lambda r: _sort_key(r, sort), reverse=descending)
    total = len(selected)
    token = _last(query, "next_page_token")
    if token:
        after = _decode_token(token, sort, direction)
        selected = [r for r in selected if (_sort_key(r, sort) < after if descending else _sort_key(r, sort) > after)]
    page, rest = selected[:page_size], selected[page_size:]
    next_token = _encode_token(_sort_key(page[-1], sort), sort, direction) if rest and page else None
    return {
        "voices": [render_voice(record) for record in page],
        "has_more": bool(rest),
        "total_count": total,
        "next_page_token": next_token,
    }
