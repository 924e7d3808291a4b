"""The audit chain's keys: secrets that live outside the database, each known by a short id.

``PORTAL_AUDIT_KEYS`` lists them newest first. The first signs every new
event and checkpoint; every key in the list still verifies what it signed,
because each event stores the id of the key that signed it. Rotating is
therefore: put a new key first, keep the old ones after it for as long as
events they signed are kept. A key dropped from the list turns every event
it signed into a verification failure that names its id.

The id is derived from the key (an HMAC of a fixed label), so it can be
shown and stored without revealing the key, and nobody has to name keys.
Each use gets its own derived key, so an event's MAC can never pass for a
checkpoint's signature or the other way round.

This module imports nothing of the portal: the settings validate the keys with it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from marshmallow import ValidationError

MIN_LENGTH = 32
ID_LENGTH = 16
_ID_LABEL = b"platform-portal audit key id"
EVENT_LABEL = b"platform-portal audit event"
CHECKPOINT_LABEL = b"platform-portal audit checkpoint"


def key_id(secret: str) -> str:
    """The short public name of a key, stored with every event it signs."""
    return hmac.new(secret.encode(), _ID_LABEL, hashlib.sha256).hexdigest()[:ID_LENGTH]


def derived_key(secret: str, label: bytes) -> bytes:
    """The key for one use (events or checkpoints) of a configured secret."""
    return hmac.new(secret.encode(), label, hashlib.sha256).digest()


def validate_audit_keys(keys: list[str]) -> None:
    """environs' validator for ``PORTAL_AUDIT_KEYS``: errors join the start-up report, never echoing a key."""
    if not keys:
        raise ValidationError("give at least one key (python -m access.audit.keys prints a new one).")
    for position, key in enumerate(keys, start=1):
        if len(key) < MIN_LENGTH:
            raise ValidationError(
                f"key {position} is shorter than {MIN_LENGTH} characters "
                "(python -m access.audit.keys prints a new one)."
            )
    if len({key_id(key) for key in keys}) != len(keys):
        raise ValidationError("a key is listed twice.")


def development_audit_key(secret_key: str) -> str:
    """A key derived from ``SECRET_KEY``, for DEBUG only (``make run`` generates a random one under ``.data/``)."""
    return hashlib.sha256(b"platform-portal audit chain\0" + secret_key.encode()).hexdigest()


def new_key() -> str:
    """A new random key for ``PORTAL_AUDIT_KEYS``."""
    return secrets.token_urlsafe(48)


if __name__ == "__main__":
    print(new_key())
