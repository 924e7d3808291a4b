"""The break-glass administrator: a local superuser who must enrol TOTP.

Then it signs in with a code from an authenticator app, or once with each recovery code.
"""

from __future__ import annotations

import re
import time
import uuid

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.test import Client

from access import audit
from access.models import AuditEvent, User
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
