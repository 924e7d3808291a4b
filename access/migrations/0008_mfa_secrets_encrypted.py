"""Encrypt the two-factor secrets stored before they were encrypted (the TOTP keys and recovery-code seeds).

From this migration on, allauth stores them through :class:`access.adapters.MfaAdapter`,
which encrypts with ``PORTAL_ENCRYPTION_KEYS`` and refuses a plain value; this
encrypts the rows written before, in place, so every enrolled authenticator
keeps working and none stays readable in the database. Running it again changes
nothing (a value the keys already open is left alone). Going back decrypts them,
for the code from before, which reads them in plain text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.apps.registry import Apps
from django.db import migrations, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from portal import crypto

# The values of Authenticator.data that allauth passes through the adapter's encrypt(): one string each,
# and a list of strings (recovery codes carried over from django-allauth-2fa).
SECRETS = ("secret", "seed")
SECRET_LISTS = ("migrated_codes",)
# Every Fernet token starts so (version byte 0x80 and a timestamp); no TOTP key (base32, upper case)
# or recovery-code seed (hex) can.
FERNET_START = "gAAAAA"


def _encrypted(value: str) -> str:
    try:
        crypto.decrypt(value)
    except crypto.DecryptionError:
        if value.startswith(FERNET_START):
            raise  # encrypted with a key that is no longer configured: encrypting it again would lose it
        return crypto.encrypt(value)
    return value


def _plain(value: str) -> str:
    try:
        return crypto.decrypt(value)
    except crypto.DecryptionError:
        if value.startswith(FERNET_START):
            raise
        return value


def _rewrite(apps: Apps, convert: Callable[[str], str]) -> None:
    authenticator_model = apps.get_model("mfa", "Authenticator")
    with transaction.atomic():
        for authenticator in authenticator_model.objects.select_for_update().order_by("pk"):
            data: dict[str, Any] = dict(authenticator.data)
            for name in SECRETS:
                if isinstance(data.get(name), str):
                    data[name] = convert(data[name])
            for name in SECRET_LISTS:
                if isinstance(data.get(name), list):
                    data[name] = [convert(value) for value in data[name]]
            if data != authenticator.data:
                authenticator_model.objects.filter(pk=authenticator.pk).update(data=data)


def encrypt_mfa_secrets(apps: Apps, schema_editor: BaseDatabaseSchemaEditor | None) -> None:
    _rewrite(apps, _encrypted)


def decrypt_mfa_secrets(apps: Apps, schema_editor: BaseDatabaseSchemaEditor | None) -> None:
    _rewrite(apps, _plain)


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0007_audit_keyed_chain"),
        ("mfa", "0003_authenticator_type_uniq"),
    ]

    operations = [migrations.RunPython(encrypt_mfa_secrets, decrypt_mfa_secrets)]
