"""Local sign-in through allauth: audited, rate-limited in Redis, and the admin's login goes the same way."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from access.audit import services as audit
from access.models import AuditEvent, User
from portal.demo import DEMO_PASSWORD, Persona
from tests.factories import PASSWORD, make_user

ROOT = Path(__file__).resolve().parent.parent.parent
SIGN_IN = "/accounts/login/"
TOO_MANY = "Too many failed login attempts"


def stranger() -> Client:
    """A fresh browser from an address of its own, so tests never share the per-IP budget."""
    return Client(REMOTE_ADDR=f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}")


def sign_in(client: Client, username: str, password: str, **extra: str) -> Any:
    return client.post(SIGN_IN, {"login": username, "password": password, **extra})


@pytest.fixture
def local_user(db: None) -> User:
    user = make_user(username=f"local-{uuid.uuid4().hex[:8]}")
    return user


def test_the_old_sign_in_address_forwards_to_the_sign_in_page_keeping_next(client: Client) -> None:
    response = client.get("/sign-in/?next=/regions/")

    assert response.status_code == 302
    assert response.headers["Location"] == f"{SIGN_IN}?next=/regions/"


@pytest.mark.django_db
def test_the_sign_in_page_is_in_the_portal_layout(client: Client) -> None:
    response = client.get(SIGN_IN)

    assert response.status_code == 200
    content = response.content.decode()
    assert "Platform Portal" in content
    assert "vendor/bootstrap/css/bootstrap.min.css" in content
    assert 'autocomplete="current-password"' in content


@pytest.mark.parametrize("who", [Persona.DEVELOPER, Persona.AUDITOR])
def test_a_demo_person_signs_in_with_username_and_password_and_it_is_audited(
    who: Persona, persona: Callable[[Persona], User]
) -> None:
    client = stranger()

    response = sign_in(client, persona(who).username, DEMO_PASSWORD)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    event = AuditEvent.objects.get(verb=audit.SIGN_IN)
    assert event.actor == persona(who)
    assert event.extra == {"method": "password"}


def test_a_wrong_password_is_refused_on_the_page_and_audited_without_the_password(local_user: User) -> None:
    client = stranger()

    response = sign_in(client, local_user.username, "not-the-password")

    assert response.status_code == 200
    assert "username and/or password you specified are not correct" in response.content.decode()
    assert f'value="{local_user.username}"' in response.content.decode()
    event = AuditEvent.objects.get(verb=audit.SIGN_IN_FAILED)
    assert event.actor_label == local_user.username
    assert event.extra == {"reason": "wrong username or password"}
    assert "not-the-password" not in str(event.extra) + event.object_repr + event.actor_label


def test_signing_out_is_audited(local_user: User) -> None:
    client = stranger()
    sign_in(client, local_user.username, PASSWORD)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert AuditEvent.objects.filter(verb=audit.SIGN_OUT, actor=local_user).count() == 1
    assert client.get("/").status_code == 302


def test_nobody_can_sign_themselves_up(db: None, client: Client) -> None:
    response = client.post(
        "/accounts/signup/", {"username": "newcomer", "password1": "a-long-enough-passw0rd", "password2": "x"}
    )

    assert response.status_code == 200
    assert "Sign Up Closed" in response.content.decode() or "closed" in response.content.decode().lower()
    assert not User.objects.filter(username="newcomer").exists()


def test_too_many_failures_lock_the_account_even_with_the_right_password(local_user: User) -> None:
    for _ in range(settings.SIGN_IN_FAILURES_PER_USER):
        sign_in(stranger(), local_user.username, "wrong-password")

    response = sign_in(stranger(), local_user.username, PASSWORD)

    assert TOO_MANY in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session
    assert AuditEvent.objects.filter(verb=audit.SIGN_IN_FAILED, extra__reason="too many failed sign-ins").exists()


@pytest.mark.parametrize(
    "host", ["localhost:8001", "localhost:65535", "LOCALHOST", "LocalHost:8443", "127.0.0.1:1234", "testserver:80"]
)
def test_a_locked_account_stays_locked_whatever_port_or_case_the_host_header_says(local_user: User, host: str) -> None:
    for _ in range(settings.SIGN_IN_FAILURES_PER_USER):
        sign_in(stranger(), local_user.username, "wrong-password")
    client = Client(REMOTE_ADDR=stranger().defaults["REMOTE_ADDR"], HTTP_HOST=host)

    response = sign_in(client, local_user.username, PASSWORD)

    assert response.status_code == 200
    assert TOO_MANY in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_wrong_passwords_spread_over_ports_of_the_host_header_still_lock(local_user: User) -> None:
    """No port gets as many failures as the limit, so a count per ``Host`` would never lock."""
    for attempt in range(settings.SIGN_IN_FAILURES_PER_USER):
        client = Client(REMOTE_ADDR=stranger().defaults["REMOTE_ADDR"], HTTP_HOST=f"localhost:{8000 + attempt}")
        sign_in(client, local_user.username, "wrong-password")

    response = sign_in(stranger(), local_user.username, PASSWORD)

    assert TOO_MANY in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session


def test_failures_count_for_the_account_whatever_the_case_or_spaces_of_its_name(local_user: User) -> None:
    spellings = [local_user.username.upper(), f"  {local_user.username}", local_user.username.capitalize()]
    for attempt in range(settings.SIGN_IN_FAILURES_PER_USER):
        sign_in(stranger(), spellings[attempt % len(spellings)], "wrong-password")

    response = sign_in(stranger(), local_user.username, PASSWORD)

    assert TOO_MANY in response.content.decode()


def test_the_lockout_holds_in_a_new_web_process(transactional_db: None) -> None:
    """The failures are counted in Redis, so a restarted web process (here: a new one) still refuses."""
    user = make_user(username=f"locked-{uuid.uuid4().hex[:8]}")
    for _ in range(settings.SIGN_IN_FAILURES_PER_USER):
        sign_in(stranger(), user.username, "wrong-password")
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        f"response = Client(REMOTE_ADDR='10.250.0.1').post('{SIGN_IN}', "
        f"{{'login': '{user.username}', 'password': '{PASSWORD}'}})\n"
        "print(response.status_code, 'LOCKED' if b'Too many failed' in response.content else 'OPEN')\n"
    )
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings_test",
        "TEST_DATABASE_NAME": str(settings.DATABASES["default"]["NAME"]),
        "REDIS_URL": settings.REDIS_URL,
    }

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["200", "LOCKED"]


def test_the_admin_login_sends_people_to_the_same_rate_limited_sign_in(local_user: User) -> None:
    client = stranger()

    response = client.get("/admin/login/?next=/admin/access/")
    posted = client.post("/admin/login/", {"username": local_user.username, "password": PASSWORD})

    assert response.status_code == 302
    assert response.headers["Location"] == f"{SIGN_IN}?next=%2Fadmin%2Faccess%2F"
    # The admin has no password form of its own to bypass the limit with.
    assert posted.status_code == 302
    assert posted.headers["Location"].startswith(SIGN_IN)
    assert "_auth_user_id" not in client.session


def test_a_locked_out_account_cannot_sign_in_through_the_admin_either(local_user: User) -> None:
    for _ in range(settings.SIGN_IN_FAILURES_PER_USER):
        sign_in(stranger(), local_user.username, "wrong-password")
    client = stranger()
    forwarded = client.get("/admin/login/?next=/admin/")

    response = client.post(forwarded.headers["Location"], {"login": local_user.username, "password": PASSWORD})

    assert TOO_MANY in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_someone_signed_in_but_not_an_admin_gets_a_403_from_the_admin_login(
    client_for: Callable[[Persona | None], Client],
) -> None:
    response = client_for(Persona.DEVELOPER).get("/admin/login/")

    assert response.status_code == 403


def test_too_many_sign_in_requests_from_one_address_get_a_page_in_the_portal_layout(db: None, settings: Any) -> None:
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "2/m/ip"}
    client = stranger()
    for _ in range(2):
        sign_in(client, "somebody", "wrong-password")

    response = sign_in(client, "somebody", "wrong-password")

    assert response.status_code == 429
    assert "Too many sign-in requests came from your address" in response.content.decode()
    assert "vendor/bootstrap/css/bootstrap.min.css" in response.content.decode()
