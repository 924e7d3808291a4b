"""Request parsers that refuse text containing the NUL character, which PostgreSQL cannot store or compare.

DRF's ``CharField`` refuses it, but other fields pass text straight to a query (a ``SlugRelatedField`` looks its
value up, a key names a field): there NUL is a database error, a 500. Refusing it where the body is read covers
every field and every key at once, with a 400 in words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError

NUL = "\x00"
REFUSAL = "Text cannot contain control characters such as a null byte: remove them and try again."


def holds_nul(value: Any) -> bool:
    """Whether ``value`` (parsed JSON or form data, nested) has a NUL in any string, key or value."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, QueryDict):
        return any(NUL in key or any(holds_nul(item) for item in value.getlist(key)) for key in value)
    if isinstance(value, Mapping):
        return any(holds_nul(key) or holds_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(holds_nul(item) for item in value)
    return False


def _refused(data: Any) -> Any:
    if holds_nul(data):
        raise ParseError(REFUSAL)
    return data


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return _refused(super().parse(stream, media_type, parser_context))


class FormParser(parsers.FormParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return _refused(super().parse(stream, media_type, parser_context))


class MultiPartParser(parsers.MultiPartParser):
    """The form's fields are checked; uploaded files are bytes and may hold anything."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parsed = super().parse(stream, media_type, parser_context)
        _refused(parsed.data)
        return parsed
