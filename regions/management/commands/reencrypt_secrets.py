"""``manage.py reencrypt_secrets``: rewrite every encrypted secret with the newest key (key rotation)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from access.audit import services as audit
from access.services import mfa_secrets_reencrypt
from portal.crypto import DecryptionError, is_current, rotate
from regions.fields import EncryptedTextField


def reencrypt_all() -> dict[str, int]:
    """Re-encrypt, with the first key of ``PORTAL_ENCRYPTION_KEYS``, every stored secret of every model
    (and the two-factor secrets inside allauth's authenticators).

    Works on the stored ciphertext (locked, in one transaction), so nothing is
    decrypted into model instances; secrets already under the newest key are
    left alone, so running it twice changes nothing. Returns how many secrets
    were rewritten per ``app_label.model.field``, and audits the run once (the total and the models, no field names).
    """
    rewritten: dict[str, int] = {}
    with transaction.atomic():
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                if not isinstance(field, EncryptedTextField):
                    continue
                label = f"{model._meta.label_lower}.{field.name}"
                pk = model._meta.pk
                if pk is None or pk.column is None or field.column is None:  # every concrete model has both
                    continue
                rewritten[label] = _reencrypt_column(model._meta.db_table, pk.column, field.column)
        # allauth's two-factor secrets live inside a JSON column (access.adapters.MfaAdapter encrypts them).
        rewritten["mfa.authenticator.data"] = mfa_secrets_reencrypt()
        audit.record(
            audit.SECRETS_REENCRYPTED,
            actor_label="system",
            object_type="portal.encryption_keys",
            object_repr="every secret encrypted at rest",
            rewritten=sum(rewritten.values()),
            models=sorted({label.rsplit(".", 1)[0] for label in rewritten}),
        )
    return rewritten


def _reencrypt_column(table: str, pk: str, column: str) -> int:
    quote = connection.ops.quote_name
    count = 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {quote(pk)}, {quote(column)} FROM {quote(table)} "  # noqa: S608 (names from the models)  # nosec B608
            f"WHERE {quote(column)} <> '' ORDER BY {quote(pk)} FOR UPDATE"
        )
        for key, token in cursor.fetchall():
            if is_current(token):
                continue
            cursor.execute(
                f"UPDATE {quote(table)} SET {quote(column)} = %s WHERE {quote(pk)} = %s",  # noqa: S608 # nosec B608
                [rotate(token), key],
            )
            count += 1
    return count


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of PORTAL_ENCRYPTION_KEYS. "
        "Run after putting a new key first; then the old keys can be removed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            rewritten = reencrypt_all()
        except DecryptionError as error:
            raise CommandError(f"{error} Nothing was changed.") from None
        total = sum(rewritten.values())
        for label, count in sorted(rewritten.items()):
            self.stdout.write(f"{label}: {count} re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"{total} secret(s) re-encrypted with the newest key."))
