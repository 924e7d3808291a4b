"""Field-level encryption of secrets at rest, with key rotation.

Secrets the portal must hold itself (an Azure client secret, say) are
encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``)
before they reach the database. The keys come from ``PORTAL_ENCRYPTION_KEYS``
(comma-separated Fernet keys): the first encrypts, every key decrypts, so a
new key is put first, ``manage.py reencrypt_secrets`` rewrites every secret
with it, and the old key can then be dropped.

A small field of our own rather than a package: the maintained ones derive
their keys from ``SECRET_KEY`` (so rotating the Django key would lose every
secret) or lag behind Django releases; ``MultiFernet`` already does rotation.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from marshmallow import ValidationError


class DecryptionError(Exception):
    """A stored secret cannot be decrypted by any configured key (a key was dropped too early)."""


def validate_keys(keys: list[str]) -> None:
    """environs' validator for ``PORTAL_ENCRYPTION_KEYS``: errors join the start-up report, never echoing a key."""
    if not keys:
        raise ValidationError("give at least one Fernet key (python -m portal.crypto prints a new one).")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, binascii.Error, TypeError):
            raise ValidationError(
                f"key {position} is not a Fernet key (32 url-safe base64-encoded bytes; "
                "python -m portal.crypto prints a new one)."
            ) from None
    if len(set(keys)) != len(keys):
        raise ValidationError("a key is listed twice.")


def development_key(secret_key: str) -> str:
    """A Fernet key derived from ``SECRET_KEY``, for DEBUG only (never for real secrets)."""
    digest = hashlib.sha256(b"platform-portal field encryption\0" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


@functools.lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    """The configured keys as one ``MultiFernet``: the first encrypts, all decrypt."""
    return _fernet(tuple(settings.ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    """The Fernet token of ``plaintext`` under the newest key."""
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The plaintext of a stored token; :class:`DecryptionError` if no configured key opens it."""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "A stored secret cannot be decrypted with PORTAL_ENCRYPTION_KEYS: "
            "was the key that encrypted it removed before `manage.py reencrypt_secrets` ran?"
        ) from None


def rotate(token: str) -> str:
    """``token`` re-encrypted with the newest key; :class:`DecryptionError` if no configured key opens it."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("A stored secret cannot be decrypted with PORTAL_ENCRYPTION_KEYS.") from None


def is_current(token: str) -> bool:
    """Whether ``token`` was encrypted with the newest (first) key."""
    try:
        Fernet(settings.ENCRYPTION_KEYS[0]).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def main() -> None:
    """Print a new random Fernet key, for ``PORTAL_ENCRYPTION_KEYS``."""
    print(Fernet.generate_key().decode())


if __name__ == "__main__":
    main()
