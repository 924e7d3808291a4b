"""A password at /api/auth/token/ passes the same checks as the sign-in form: two-factor codes, administrators, lockout.

Every request comes from an address of its own unless a test is about the
address, so only the per-username limit is at work.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.conf import settings
from django.test import Client
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken

from access.audit import services as audit
from access.models import AuditEvent, User
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token/"
SIGN_IN = "/accounts/login/"
MFA_SIGN_IN = "/accounts/2fa/authenticate/"
TOO_MANY = "Too many failed login attempts"


def address() -> str:
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


def ask_for_pair(
    username: str, password: str, *, remote_addr: str = "", code: str | None = None, forwarded_for: str = ""
) -> Any:
    """POST /api/auth/token/ as a script would, from ``remote_addr`` (a fresh address by default)."""
    body = {"username": username, "password": password} | ({} if code is None else {"code": code})
    client = Client(REMOTE_ADDR=remote_addr or address())
    if forwarded_for:
        client.defaults["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client.post(TOKEN, body, content_type="application/json")


def sign_in_on_the_form(username: str, password: str, *, remote_addr: str = "") -> Client:
    """The sign-in page, from a browser of its own; returns the browser (signed in or not)."""
    browser = Client(REMOTE_ADDR=remote_addr or address())
    browser.post(SIGN_IN, {"login": username, "password": password})
    return browser


def is_locked_on_the_form(user: User) -> bool:
    """Whether the sign-in page refuses ``user``'s right password for too many failures."""
    browser = Client(REMOTE_ADDR=address())
    response = browser.post(SIGN_IN, {"login": user.username, "password": PASSWORD})
    return TOO_MANY in response.content.decode() and "_auth_user_id" not in browser.session


def current_code(secret: str) -> str:
    """The authenticator app's code now, not one about to expire (allauth accepts the current period only)."""
    remaining = 30 - time.time() % 30
    if remaining < 3:
        time.sleep(remaining + 0.1)
    return str(pyotp.TOTP(secret).now())


def pairs_of(user: User) -> int:
    return OutstandingToken.objects.filter(user=user).count()


def error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def enrol_totp(user: User) -> str:
    """Give ``user`` an authenticator app and recovery codes, as /accounts/2fa/ does; returns the TOTP secret."""
    secret = pyotp.random_base32()
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
    return secret


@pytest.fixture
def person() -> User:
    """Someone with a local password and no second factor."""
    return make_user(username=f"person-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def person_with_totp(person: User) -> tuple[User, str]:
    """Someone (not an administrator) who enrolled an authenticator app; returns them and its secret."""
    return person, enrol_totp(person)


@pytest.fixture
def break_glass() -> User:
    """What `manage.py createsuperuser` makes."""
    return User.objects.create_superuser(f"breakglass-{uuid.uuid4().hex[:6]}", "", PASSWORD)


@pytest.fixture
def break_glass_with_totp(break_glass: User) -> tuple[User, str]:
    return break_glass, enrol_totp(break_glass)


# --- two-factor authentication --------------------------------------------------------------------


def test_a_superuser_with_totp_gets_no_pair_from_its_password(break_glass_with_totp: tuple[User, str]) -> None:
    user, _secret = break_glass_with_totp

    response = ask_for_pair(user.username, PASSWORD)

    assert response.status_code == 403
    assert error(response)["code"] == "password_sign_in_not_allowed"
    assert "Sign in to the portal in the browser" in error(response)["message"]
    assert "access" not in response.json()
    assert pairs_of(user) == 0


def test_a_superuser_gets_no_pair_from_its_password_even_with_the_right_code(
    break_glass_with_totp: tuple[User, str],
) -> None:
    user, secret = break_glass_with_totp
    code = current_code(secret)

    response = ask_for_pair(user.username, PASSWORD, code=code)

    assert response.status_code == 403
    assert pairs_of(user) == 0
    # The code was not even looked at, so not spent: it still signs in on the form.
    browser = sign_in_on_the_form(user.username, PASSWORD)
    browser.post(MFA_SIGN_IN, {"code": code})
    assert browser.get("/").status_code == 200


def test_a_superuser_without_mfa_gets_no_pair_from_its_password(break_glass: User) -> None:
    response = ask_for_pair(break_glass.username, PASSWORD)

    assert response.status_code == 403
    assert error(response)["code"] == "password_sign_in_not_allowed"
    assert pairs_of(break_glass) == 0


def test_a_refused_superuser_is_in_the_audit_log(break_glass: User) -> None:
    ask_for_pair(break_glass.username, PASSWORD)

    event = AuditEvent.objects.get(verb=audit.SIGN_IN_FAILED)
    assert (event.actor_label, event.object_id) == (break_glass.username, str(break_glass.pk))
    assert event.extra == {"reason": "an administrator asked for API tokens with a password"}
    assert PASSWORD not in str(event.extra)


def test_a_superuser_signed_in_with_its_code_gets_a_pair_from_its_browser_session(
    break_glass_with_totp: tuple[User, str],
) -> None:
    user, secret = break_glass_with_totp
    browser = Client(REMOTE_ADDR=address(), enforce_csrf_checks=True)
    browser.get(SIGN_IN)
    browser.post(SIGN_IN, {"login": user.username, "password": PASSWORD, "csrfmiddlewaretoken": csrf(browser)})
    browser.post(MFA_SIGN_IN, {"code": current_code(secret), "csrfmiddlewaretoken": csrf(browser)})

    response = browser.post(TOKEN, {}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf(browser))

    assert response.status_code == 200, response.content
    assert str(AccessToken(response.json()["access"])["user_id"]) == str(user.pk)


def csrf(browser: Client) -> str:
    return str(browser.cookies["csrftoken"].value)


def test_someone_with_an_authenticator_gets_no_pair_from_the_password_alone(
    person_with_totp: tuple[User, str],
) -> None:
    user, _secret = person_with_totp

    response = ask_for_pair(user.username, PASSWORD)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert error(response)["code"] == "mfa_code_required"
    assert (
        'send the current code from your authenticator app (or an unused recovery code) as "code"'
        in (error(response)["message"])
    )
    assert pairs_of(user) == 0
    event = AuditEvent.objects.get(verb=audit.SIGN_IN_FAILED)
    assert (event.actor_label, event.extra) == (user.username, {"reason": "two-factor code missing"})


def test_an_empty_code_is_no_code(person_with_totp: tuple[User, str]) -> None:
    user, _secret = person_with_totp

    response = ask_for_pair(user.username, PASSWORD, code="  ")

    assert response.status_code == 401
    assert error(response)["code"] == "mfa_code_required"
    assert pairs_of(user) == 0


def test_someone_with_an_authenticator_gets_a_pair_with_the_right_code(person_with_totp: tuple[User, str]) -> None:
    user, secret = person_with_totp

    response = ask_for_pair(user.username, PASSWORD, code=current_code(secret))

    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access", "refresh"}
    assert str(AccessToken(response.json()["access"])["user_id"]) == str(user.pk)
    issued = AuditEvent.objects.get(verb=audit.JWT_ISSUED)
    assert (issued.actor, issued.after) == (user, {"via": "password", "second_factor": "totp"})
    assert Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP).last_used_at is not None


def test_a_code_gives_one_pair_only(person_with_totp: tuple[User, str]) -> None:
    user, secret = person_with_totp
    code = current_code(secret)

    first = ask_for_pair(user.username, PASSWORD, code=code)
    replayed = ask_for_pair(user.username, PASSWORD, code=code)

    assert first.status_code == 200
    assert replayed.status_code == 401
    assert error(replayed)["code"] == "mfa_code_incorrect"
    assert pairs_of(user) == 1


def test_a_recovery_code_gives_a_pair_once(person_with_totp: tuple[User, str]) -> None:
    user, _secret = person_with_totp
    [code, *_] = RecoveryCodes(
        Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    ).get_unused_codes()

    first = ask_for_pair(user.username, PASSWORD, code=code)
    again = ask_for_pair(user.username, PASSWORD, code=code)

    assert first.status_code == 200
    assert AuditEvent.objects.get(verb=audit.JWT_ISSUED).after == {"via": "password", "second_factor": "recovery_codes"}
    assert again.status_code == 401
    assert pairs_of(user) == 1


def test_a_wrong_code_gives_no_pair_and_is_audited(person_with_totp: tuple[User, str]) -> None:
    user, secret = person_with_totp
    wrong = pyotp.TOTP(secret).at(time.time() - 3600)

    response = ask_for_pair(user.username, PASSWORD, code=wrong)

    assert response.status_code == 401
    assert error(response)["code"] == "mfa_code_incorrect"
    assert "The two-factor code is not correct" in error(response)["message"]
    assert pairs_of(user) == 0
    event = AuditEvent.objects.get(verb=audit.SIGN_IN_FAILED)
    assert (event.actor_label, event.extra) == (user.username, {"reason": "wrong two-factor code"})
    assert wrong not in str(event.extra) + event.object_repr


def test_wrong_codes_count_as_failed_sign_ins_and_lock_the_sign_in_form(person_with_totp: tuple[User, str]) -> None:
    user, secret = person_with_totp
    wrong = pyotp.TOTP(secret).at(time.time() - 3600)

    for _ in range(settings.SIGN_IN_FAILURES_PER_USER):
        ask_for_pair(user.username, PASSWORD, code=wrong)

    # The password page itself (not only the code page) now refuses the right password.
    assert is_locked_on_the_form(user)
    locked = ask_for_pair(user.username, PASSWORD, code=current_code(secret))
    assert locked.status_code == 429
    assert pairs_of(user) == 0


def test_wrong_codes_on_the_sign_in_page_are_audited_too(person_with_totp: tuple[User, str]) -> None:
    user, secret = person_with_totp
    browser = sign_in_on_the_form(user.username, PASSWORD)

    browser.post(MFA_SIGN_IN, {"code": pyotp.TOTP(secret).at(time.time() - 3600)})

    event = AuditEvent.objects.get(verb=audit.SIGN_IN_FAILED)
    assert (event.actor_label, event.extra) == (user.username, {"reason": "wrong two-factor code"})


def test_wrong_codes_on_the_sign_in_page_and_at_the_api_share_one_limit(person_with_totp: tuple[User, str]) -> None:
    user, secret = person_with_totp
    wrong = pyotp.TOTP(secret).at(time.time() - 3600)
    for _ in range(settings.SIGN_IN_FAILURES_PER_USER):
        browser = sign_in_on_the_form(user.username, PASSWORD)
        browser.post(MFA_SIGN_IN, {"code": wrong})

    response = ask_for_pair(user.username, PASSWORD, code=current_code(secret))

    assert response.status_code == 429
    assert error(response)["code"] == "sign_in_locked"
    assert pairs_of(user) == 0


# --- one lockout for the form and the API ----------------------------------------------------------


def test_a_person_locked_on_the_sign_in_form_gets_no_pair_with_the_right_password(person: User) -> None:
    for _ in range(settings.SIGN_IN_FAILURES_PER_USER):
        sign_in_on_the_form(person.username, "wrong-password")

    response = ask_for_pair(person.username, PASSWORD)

    assert response.status_code == 429
    assert error(response)["code"] == "sign_in_locked"
    assert error(response)["message"] == (
        "Too many failed sign-ins for this account or from your address: sign-in is refused, even with the "
        f"right password, for up to {settings.SIGN_IN_LOCKOUT_MINUTES} minutes."
    )
    assert response.headers["Retry-After"] == str(settings.SIGN_IN_LOCKOUT_MINUTES * 60)
    assert pairs_of(person) == 0
    assert AuditEvent.objects.filter(
        verb=audit.SIGN_IN_FAILED, actor_label=person.username, extra__reason="too many failed sign-ins"
    ).exists()


@pytest.mark.parametrize("host", ["localhost:8001", "LOCALHOST", "127.0.0.1:9443"])
def test_a_locked_person_gets_no_pair_whatever_the_host_header_says(person: User, host: str) -> None:
    for _ in range(settings.SIGN_IN_FAILURES_PER_USER):
        sign_in_on_the_form(person.username, "wrong-password")

    response = Client(REMOTE_ADDR=address(), HTTP_HOST=host).post(
        TOKEN, {"username": person.username, "password": PASSWORD}, content_type="application/json"
    )

    assert response.status_code == 429
    assert pairs_of(person) == 0


def test_wrong_passwords_at_the_api_lock_the_sign_in_form(person: User) -> None:
    answers = [ask_for_pair(person.username, "wrong-password") for _ in range(settings.SIGN_IN_FAILURES_PER_USER)]

    assert [answer.status_code for answer in answers] == [401] * settings.SIGN_IN_FAILURES_PER_USER
    assert {error(answer)["code"] for answer in answers} == {"no_active_account"}
    assert is_locked_on_the_form(person)
    assert ask_for_pair(person.username, PASSWORD).status_code == 429


def test_wrong_passwords_on_the_form_and_at_the_api_add_up(person: User) -> None:
    sign_in_on_the_form(person.username, "wrong-password")
    for _ in range(settings.SIGN_IN_FAILURES_PER_USER - 1):
        ask_for_pair(person.username, "wrong-password")

    assert ask_for_pair(person.username, PASSWORD).status_code == 429
    assert is_locked_on_the_form(person)


def test_api_failures_count_for_the_account_however_its_name_is_spelt(person: User) -> None:
    spellings = [person.username.upper(), f" {person.username} ", person.username.title()]
    for attempt in range(settings.SIGN_IN_FAILURES_PER_USER):
        ask_for_pair(spellings[attempt % len(spellings)], "wrong-password")

    assert ask_for_pair(person.username, PASSWORD).status_code == 429


def test_a_right_password_does_not_reset_the_count(person: User) -> None:
    for _ in range(settings.SIGN_IN_FAILURES_PER_USER - 1):
        ask_for_pair(person.username, "wrong-password")
    assert ask_for_pair(person.username, PASSWORD).status_code == 200

    ask_for_pair(person.username, "wrong-password")

    assert ask_for_pair(person.username, PASSWORD).status_code == 429


def test_failures_from_one_address_at_the_api_and_on_the_form_share_the_address_limit(db: None, settings: Any) -> None:
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "3/15m/ip,100/15m/key"}
    somebody = make_user(username=f"somebody-{uuid.uuid4().hex[:8]}")
    attacker = address()
    for attempt in range(3):
        ask_for_pair(f"guess-{attempt}", "wrong-password", remote_addr=attacker)

    from_the_api = ask_for_pair(somebody.username, PASSWORD, remote_addr=attacker)
    on_the_form = Client(REMOTE_ADDR=attacker).post(SIGN_IN, {"login": somebody.username, "password": PASSWORD})

    assert from_the_api.status_code == 429
    assert TOO_MANY in on_the_form.content.decode()
    # Another address is not held back.
    assert ask_for_pair(somebody.username, PASSWORD).status_code == 200


def test_a_person_without_mfa_still_gets_a_pair_from_a_password(person: User) -> None:
    response = ask_for_pair(person.username, PASSWORD)

    assert response.status_code == 200
    assert AuditEvent.objects.get(verb=audit.JWT_ISSUED).after == {"via": "password"}


def test_behind_the_trusted_proxy_failures_count_for_the_address_the_proxy_saw(db: None, settings: Any) -> None:
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1  # what PORTAL_TRUST_X_FORWARDED_PROTO sets (tests/test_settings.py)
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "3/15m/ip,100/15m/key"}
    somebody = make_user(username=f"somebody-{uuid.uuid4().hex[:8]}")
    proxy = address()
    for attempt in range(3):
        # The client makes up the first entry of X-Forwarded-For; the proxy appends the address it saw.
        ask_for_pair(f"guess-{attempt}", "wrong", remote_addr=proxy, forwarded_for=f"198.51.100.{attempt}, 203.0.113.7")

    same_client = ask_for_pair(
        somebody.username, PASSWORD, remote_addr=proxy, forwarded_for="198.51.100.99, 203.0.113.7"
    )
    another_client = ask_for_pair(somebody.username, PASSWORD, remote_addr=proxy, forwarded_for="203.0.113.8")

    assert same_client.status_code == 429
    assert another_client.status_code == 200
