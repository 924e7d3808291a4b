"""Redaction of secrets from log records, installed on every handler in ``LOGGING``.

:class:`RedactSecrets` rewrites a record before any formatter sees it: the
message with its arguments merged, every ``extra`` field, and a traceback.
Values of keys named like a secret (``password``, ``token``, ``client_secret``,
``authorization``…) are replaced whole; inside free text, ``key=value`` pairs
with such keys, bearer tokens, the portal's ``ppt_`` API tokens, JWTs and the
password of a connection string (``postgres://user:pass@host``) are replaced.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

REDACTED = "[REDACTED]"

# Key names whose values are secrets (matched anywhere in the name, case-insensitively).
SECRET_KEY_NAME = re.compile(
    r"passw(or)?d|passwd|secret|token|authori[sz]ation|api[_-]?key|private[_-]?key|credential|cookie|session[_-]?id",
    re.IGNORECASE,
)

_KEY_WORDS = r"passw(?:or)?d|passwd|secret|token|authori[sz]ation|api[_-]?key|private[_-]?key|credential|cookie"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # key=value, key: value, "key": "value" (an optional auth scheme such as "Bearer " is kept).
    (
        re.compile(
            rf"""(?ix)
            (\b[\w.-]*(?:{_KEY_WORDS})[\w.-]*["']?\s*[:=]\s*["']?)   # the key and its separator
            ((?:bearer|basic|token)\s+)?                              # an auth scheme, kept
            (?!\[REDACTED\])[^\s"',;&}}\]]+                          # the value
            """
        ),
        rf"\1\2{REDACTED}",
    ),
    # Authorization headers and the like written without a key.
    (re.compile(r"(?i)\b(bearer\s+)(?!\[REDACTED\])[A-Za-z0-9._~+/=-]+"), rf"\1{REDACTED}"),
    # The portal's API tokens.
    (re.compile(r"\bppt_[A-Za-z0-9_-]+"), REDACTED),
    # JSON Web Tokens (and any base64url JSON object starting '{"').
    (re.compile(r"\beyJ[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){0,2}"), REDACTED),
    # The password of a URL: scheme://user:password@host.
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)[^@\s/]+(@)", re.IGNORECASE), rf"\1{REDACTED}\2"),
]

# Attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# Set by other filters (django-guid's request id): known-safe, and read by the formatters as they are.
_SAFE_EXTRAS = {"correlation_id", "celery_parent_id", "celery_current_id"}


def redact_text(text: str) -> str:
    """``text`` with every secret it contains replaced by ``[REDACTED]``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any) -> Any:
    """A copy of ``value`` with secrets redacted: by key name in mappings, by pattern in text."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            key: REDACTED if isinstance(key, str) and SECRET_KEY_NAME.search(key) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(redact(item) for item in value)
    if value is None or isinstance(value, int | float | bool):
        return value
    return redact_text(str(value))


class RedactSecrets(logging.Filter):
    """Rewrites each record so no formatter can print a secret; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the message (arguments merged in), ``extra`` fields and traceback of ``record``."""
        try:
            if isinstance(record.msg, dict):
                record.msg = redact(record.msg)
            else:
                record.msg = redact_text(record.getMessage())
                record.args = None
        except (TypeError, ValueError, KeyError):  # a broken %-format: keep the raw parts, redacted
            record.msg = redact_text(str(record.msg))
            record.args = redact(record.args) if isinstance(record.args, tuple | dict) else None
        for name, value in list(vars(record).items()):
            if name in _STANDARD or name in _SAFE_EXTRAS:
                continue
            setattr(record, name, REDACTED if SECRET_KEY_NAME.search(name) else redact(value))
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact_text("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


# The JSON lines' field names: those of the portal's log records, and django-guid's request id.
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s"
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger", "correlation_id": "request_id"}
TEXT_FORMAT = "%(asctime)s %(levelname)-7s [%(correlation_id)s] %(name)s: %(message)s"


def formatter(kind: str) -> logging.Formatter:
    """The formatter of ``PORTAL_LOG_FORMAT`` (json or text), for ``LOGGING`` and for gunicorn's own lines."""
    if kind == "json":
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter(JSON_FIELDS, rename_fields=JSON_RENAMES)
    return _TextFormatter(TEXT_FORMAT)


class _TextFormatter(logging.Formatter):
    """The text format; a record from outside a request (no request id filter ran) shows ``None``."""

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "correlation_id"):
            record.correlation_id = None
        return super().format(record)
