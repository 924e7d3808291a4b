"""Typed environment settings that fail fast, naming the variable at fault.

Every setting the portal reads comes through :data:`env`. Values can also be
read from a file (``NAME_FILE=/run/secrets/name``), which is how container
platforms hand out secrets. Errors are collected, so one start-up reports
every bad variable at once, and any ``PORTAL_*`` variable the portal does not
know is an error too: a typo such as ``PORTAL_DEBGU=1`` must not be silently
ignored.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from environs import EnvValidationError, FileAwareEnv

PREFIX = "PORTAL_"
# The command-line client's variables (docs/cli.md): the portal reads none of them, but a shell that signs the
# client in may also start the portal, which must not refuse them as misspelt settings.
CLIENT_VARIABLES = frozenset({"PORTAL_URL", "PORTAL_TOKEN", "PORTAL_CONFIG"})
EMAIL_URL_PATTERN = r"^$|^(smtp|smtps|submission|console|file|memory|dummy)://([^/@]*@)?[^/:@]*(:[0-9]+)?(/.*)?$"
FILE_SUFFIX = "_FILE"


class PortalEnv(FileAwareEnv):
    """Reports an unreadable ``NAME_FILE`` with the other errors; environs would raise at once."""

    def _get_value(self, env_key: str, default: Any) -> Any:
        try:
            return super()._get_value(env_key, default)
        except ValueError as error:  # environs' only signal for an unreadable *_FILE path
            file_key = env_key + FILE_SUFFIX
            reason = getattr(error.__cause__, "strerror", None) or "unreadable"
            self._errors[file_key].append(f"cannot read {os.environ.get(file_key)!r}: {reason}.")
            return default


env = PortalEnv(eager=False, strip_whitespace=True, file_suffix=FILE_SUFFIX)


class SettingsError(ImproperlyConfigured):
    """One or more environment variables are missing, malformed or unknown."""


def seal() -> None:
    """Validate everything read so far and reject unknown ``PORTAL_*`` names."""
    problems: dict[str, list[str]] = {}
    try:
        env.seal()
    except EnvValidationError as error:
        messages = error.error_messages
        problems.update(messages.items() if isinstance(messages, dict) else {"environment": list(messages)}.items())
    known = set(env.dump()) | set(problems)
    for name in sorted(os.environ):
        if not name.startswith(PREFIX) or name in CLIENT_VARIABLES:
            continue
        base = name.removesuffix(FILE_SUFFIX)
        if base not in known:
            problems[name] = ["unknown setting (see docs/operations.md for the variables the portal reads)"]
    if problems:
        lines = [f"{name}: {' '.join(map(str, messages))}" for name, messages in sorted(problems.items())]
        raise SettingsError("Invalid configuration:\n  " + "\n  ".join(lines))


def parse_email_url(url: str) -> dict[str, Any]:
    """Django's ``EMAIL_*`` settings from an e-mail URL; empty for an empty or malformed one (``seal`` reports it)."""
    import re

    import dj_email_url

    if not url or not re.match(EMAIL_URL_PATTERN, url):
        return {}
    try:
        return {name: value for name, value in dj_email_url.parse(url).items() if value is not None}
    except ValueError:
        return {}
