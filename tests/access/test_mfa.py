"""The break-glass administrator: a local superuser who must enrol TOTP.

Then it signs in with a code from an authenticator app, or once with each recovery code.
The TOTP secret and the recovery-code seed are stored encrypted with the portal's keys.
"""

from __future__ import annotations

import importlib
import json
import re
import time
import uuid
from io import StringIO
from typing import Any

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from cryptography.fernet import Fernet
from django.apps import apps as django_apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings

from access.audit import services as audit
from access.models import AuditEvent, User
from portal.crypto import DecryptionError
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

SIGN_IN = "/accounts/login/"
MFA_SIGN_IN = "/accounts/2fa/authenticate/"
ACTIVATE = "/accounts/2fa/totp/activate/"


@pytest.fixture
def break_glass() -> User:
    """What `manage.py createsuperuser` makes."""
    return User.objects.create_superuser(f"breakglass-{uuid.uuid4().hex[:6]}", "", PASSWORD)


@pytest.fixture
def enrolled(break_glass: User) -> tuple[User, str]:
    """The break-glass account with TOTP and recovery codes; returns it and its TOTP secret."""
    secret = pyotp.random_base32()
    TOTP.activate(break_glass, secret)
    RecoveryCodes.activate(break_glass)
    return break_glass, secret


def browser() -> Client:
    return Client(REMOTE_ADDR=f"10.99.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}")


def test_a_superuser_without_mfa_is_sent_to_enrol_a_totp_authenticator(break_glass: User) -> None:
    client = browser()
    client.post(SIGN_IN, {"login": break_glass.username, "password": PASSWORD})

    for path in ["/", "/regions/", "/admin/"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == ACTIVATE, path


def test_the_break_glass_admin_enrols_totp_like_with_an_authenticator_app(break_glass: User) -> None:
    client = browser()
    client.post(SIGN_IN, {"login": break_glass.username, "password": PASSWORD})
    # Changing MFA asks for the password once more, then shows the secret (and its QR code).
    reauthenticate = client.get(ACTIVATE).headers["Location"]
    page = client.post(reauthenticate, {"password": PASSWORD}, follow=True).content.decode()
    found = re.search(r'id="authenticator_secret"[^>]*?value="([A-Z2-7]+)"', page)
    assert found is not None, page
    secret = found.group(1)

    response = client.post(ACTIVATE, {"code": pyotp.TOTP(secret).now()})

    assert response.status_code == 302
    assert Authenticator.objects.filter(user=break_glass, type=Authenticator.Type.TOTP).exists()
    assert client.get("/").status_code == 200


def test_signing_in_asks_for_the_authenticator_code_after_the_password(enrolled: tuple[User, str]) -> None:
    user, secret = enrolled
    client = browser()

    response = client.post(SIGN_IN, {"login": user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == MFA_SIGN_IN
    assert client.get("/").status_code == 302  # not signed in until the code is given

    response = client.post(MFA_SIGN_IN, {"code": pyotp.TOTP(secret).now()})

    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert AuditEvent.objects.filter(verb=audit.SIGN_IN, actor=user).count() == 1


def test_a_wrong_authenticator_code_is_refused_on_the_page(enrolled: tuple[User, str]) -> None:
    user, secret = enrolled
    client = browser()
    client.post(SIGN_IN, {"login": user.username, "password": PASSWORD})
    wrong = pyotp.TOTP(secret).at(time.time() - 3600)

    response = client.post(MFA_SIGN_IN, {"code": wrong})

    assert response.status_code == 200
    assert "Incorrect code" in response.content.decode()
    assert client.get("/").status_code == 302


def test_a_recovery_code_signs_in_once(enrolled: tuple[User, str]) -> None:
    user, _ = enrolled
    [code, *_] = RecoveryCodes(
        Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    ).get_unused_codes()
    first = browser()
    first.post(SIGN_IN, {"login": user.username, "password": PASSWORD})

    first.post(MFA_SIGN_IN, {"code": code})

    assert first.get("/").status_code == 200
    second = browser()
    second.post(SIGN_IN, {"login": user.username, "password": PASSWORD})
    refused = second.post(MFA_SIGN_IN, {"code": code})
    assert "Incorrect code" in refused.content.decode()
    assert second.get("/").status_code == 302


# --- the secrets at rest ----------------------------------------------------------------------------


def stored_data(user: User, kind: str) -> dict[str, Any]:
    """An authenticator's ``data`` as the database holds it, read past the ORM and allauth."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM mfa_authenticator WHERE user_id = %s AND type = %s", [user.pk, kind])
        [raw] = cursor.fetchone()
    data: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else raw
    return data


def enrol_through_the_pages(user: User) -> tuple[str, list[str]]:
    """Enrol TOTP as a person does (password again, scan, confirm); returns the secret and the recovery codes."""
    client = browser()
    client.post(SIGN_IN, {"login": user.username, "password": PASSWORD})
    reauthenticate = client.get(ACTIVATE).headers["Location"]
    page = client.post(reauthenticate, {"password": PASSWORD}, follow=True).content.decode()
    found = re.search(r'id="authenticator_secret"[^>]*?value="([A-Z2-7]+)"', page)
    assert found is not None, page
    secret = found.group(1)
    assert client.post(ACTIVATE, {"code": pyotp.TOTP(secret).now()}).status_code == 302
    codes = RecoveryCodes(Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES))
    return secret, codes.get_unused_codes()


def test_the_totp_secret_and_the_recovery_code_seed_are_not_readable_in_the_database(break_glass: User) -> None:
    secret, recovery_codes = enrol_through_the_pages(break_glass)

    totp = stored_data(break_glass, Authenticator.Type.TOTP)
    recovery = stored_data(break_glass, Authenticator.Type.RECOVERY_CODES)

    rows = json.dumps([totp, recovery])
    assert secret not in rows
    assert secret.lower() not in rows
    assert not any(code in rows for code in recovery_codes)
    # Encrypted with the portal's key (PORTAL_ENCRYPTION_KEYS), like every other secret it holds.
    portal_key = Fernet(settings.ENCRYPTION_KEYS[0])
    assert portal_key.decrypt(totp["secret"].encode()).decode() == secret
    seed = portal_key.decrypt(recovery["seed"].encode()).decode()
    assert seed not in rows
    assert re.fullmatch(r"[0-9a-f]{80}", seed)


def test_the_encrypted_secrets_still_sign_in_with_a_code_and_a_recovery_code(break_glass: User) -> None:
    secret, [recovery_code, *_] = enrol_through_the_pages(break_glass)
    assert stored_data(break_glass, Authenticator.Type.TOTP)["secret"] != secret

    with_app, with_recovery_code = browser(), browser()
    for client, code in [(with_app, fresh_code(secret)), (with_recovery_code, recovery_code)]:
        client.post(SIGN_IN, {"login": break_glass.username, "password": PASSWORD})
        client.post(MFA_SIGN_IN, {"code": code})

    assert with_app.get("/").status_code == 200
    assert with_recovery_code.get("/").status_code == 200


def fresh_code(secret: str) -> str:
    """The code now, not one about to expire (allauth accepts the current 30-second period only)."""
    remaining = 30 - time.time() % 30
    if remaining < 3:
        time.sleep(remaining + 0.1)
    return str(pyotp.TOTP(secret).now())


def test_a_secret_no_configured_key_opens_does_not_sign_in(enrolled: tuple[User, str]) -> None:
    """A database copied without the portal's keys mints no codes."""
    user, secret = enrolled
    client = browser()
    client.post(SIGN_IN, {"login": user.username, "password": PASSWORD})

    with override_settings(ENCRYPTION_KEYS=[Fernet.generate_key().decode()]), pytest.raises(DecryptionError):
        client.post(MFA_SIGN_IN, {"code": fresh_code(secret)})


# Existing rows, written in plain text before the secrets were encrypted, are encrypted by a migration.
encrypt_existing = importlib.import_module("access.migrations.0008_mfa_secrets_encrypted")


def plain_text_authenticators(user: User) -> tuple[str, str]:
    """A TOTP and recovery codes as the portal stored them before: secret and seed in plain text."""
    secret, seed = pyotp.random_base32(), RecoveryCodes.generate_seed()
    Authenticator.objects.bulk_create(
        [
            Authenticator(user=user, type=Authenticator.Type.TOTP, data={"secret": secret}),
            Authenticator(user=user, type=Authenticator.Type.RECOVERY_CODES, data={"seed": seed, "used_mask": 0}),
        ]
    )
    return secret, seed


def test_the_migration_encrypts_plain_text_secrets_and_they_keep_working(break_glass: User) -> None:
    secret, seed = plain_text_authenticators(break_glass)

    encrypt_existing.encrypt_mfa_secrets(django_apps, None)

    totp = stored_data(break_glass, Authenticator.Type.TOTP)
    recovery = stored_data(break_glass, Authenticator.Type.RECOVERY_CODES)
    assert secret not in json.dumps(totp)
    assert seed not in json.dumps(recovery)
    portal_key = Fernet(settings.ENCRYPTION_KEYS[0])
    assert portal_key.decrypt(totp["secret"].encode()).decode() == secret
    assert portal_key.decrypt(recovery["seed"].encode()).decode() == seed
    assert recovery["used_mask"] == 0
    client = browser()
    client.post(SIGN_IN, {"login": break_glass.username, "password": PASSWORD})
    client.post(MFA_SIGN_IN, {"code": fresh_code(secret)})
    assert client.get("/").status_code == 200


def test_the_migration_run_twice_changes_nothing_and_back_restores_plain_text(break_glass: User) -> None:
    secret, seed = plain_text_authenticators(break_glass)
    encrypt_existing.encrypt_mfa_secrets(django_apps, None)
    once = stored_data(break_glass, Authenticator.Type.TOTP)

    encrypt_existing.encrypt_mfa_secrets(django_apps, None)
    assert stored_data(break_glass, Authenticator.Type.TOTP) == once

    encrypt_existing.decrypt_mfa_secrets(django_apps, None)
    assert stored_data(break_glass, Authenticator.Type.TOTP)["secret"] == secret
    assert stored_data(break_glass, Authenticator.Type.RECOVERY_CODES)["seed"] == seed


def test_a_plain_text_secret_left_behind_is_refused_not_used(break_glass: User) -> None:
    """After the migration nothing is stored in plain text, so a plain value is refused rather than trusted."""
    secret, _seed = plain_text_authenticators(break_glass)
    client = browser()
    client.post(SIGN_IN, {"login": break_glass.username, "password": PASSWORD})

    with pytest.raises(DecryptionError):
        client.post(MFA_SIGN_IN, {"code": fresh_code(secret)})


def test_reencrypting_secrets_moves_the_two_factor_secrets_to_the_newest_key(enrolled: tuple[User, str]) -> None:
    user, secret = enrolled
    old_key, new_key = settings.ENCRYPTION_KEYS[0], Fernet.generate_key().decode()
    output = StringIO()

    with override_settings(ENCRYPTION_KEYS=[new_key, old_key]):
        call_command("reencrypt_secrets", stdout=output)

    assert "mfa.authenticator.data: 2 re-encrypted" in output.getvalue()
    assert secret not in output.getvalue()
    assert Fernet(new_key).decrypt(stored_data(user, Authenticator.Type.TOTP)["secret"].encode()).decode() == secret
    Fernet(new_key).decrypt(stored_data(user, Authenticator.Type.RECOVERY_CODES)["seed"].encode())
    with override_settings(ENCRYPTION_KEYS=[new_key]):
        client = browser()
        client.post(SIGN_IN, {"login": user.username, "password": PASSWORD})
        client.post(MFA_SIGN_IN, {"code": fresh_code(secret)})
        assert client.get("/").status_code == 200
