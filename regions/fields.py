"""Model fields of the inventory: text encrypted at rest (see :mod:`portal.crypto`)."""

from __future__ import annotations

from typing import Any

from django.db import models

from portal.crypto import decrypt, encrypt


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """Text kept encrypted in the database and plain in Python; empty means "no secret".

    Every save encrypts with the newest key. The value is never part of a
    lookup (ciphertexts differ on each encryption), so only ``""`` and
    ``isnull`` are meaningful in filters.
    """

    description = "Text encrypted at rest (Fernet)"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        """Decrypt what the database holds."""
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        """Encrypt what is about to be stored (``""`` and ``None`` stay as they are)."""
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(str(value))
