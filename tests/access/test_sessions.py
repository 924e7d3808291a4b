"""Browser sessions: idle and absolute timeouts, a new session at sign-in, a deactivated user's session ends,
and the cookies a production start sets."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from access.middleware import LAST_SEEN_AT, SIGNED_IN_AT
from access.models import User
from portal.demo import DEMO_PASSWORD, Persona
from tests.test_settings import PRODUCTION, manage

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = pytest.mark.shared_demo

PersonaOf = Callable[[Persona], User]
HOUR = 3600


def signed_in(username: str = "developer") -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"login": username, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    return client


def set_clocks(client: Client, *, signed_in_ago: float, last_seen_ago: float) -> None:
    session = client.session
    now = time.time()
    session[SIGNED_IN_AT] = now - signed_in_ago
    session[LAST_SEEN_AT] = now - last_seen_ago
    session.save()


def test_signing_in_starts_both_clocks(demo: None) -> None:
    before = time.time()

    client = signed_in()

    assert before <= client.session[SIGNED_IN_AT] <= time.time()
    assert client.session[LAST_SEEN_AT] == client.session[SIGNED_IN_AT]


def test_a_session_idle_for_longer_than_an_hour_ends_with_a_message(demo: None) -> None:
    client = signed_in()
    old_key = client.session.session_key
    set_clocks(client, signed_in_ago=2 * HOUR, last_seen_ago=61 * 60)

    response = client.get("/regions/", follow=True)

    assert response.redirect_chain[0][0].startswith("/accounts/login/?next=/regions/")
    assert b"after 60 minutes without activity" in response.content
    assert SESSION_KEY not in client.session
    assert client.session.session_key != old_key
    assert client.get("/").status_code == 302


def test_a_session_ends_twelve_hours_after_sign_in_even_when_active(demo: None) -> None:
    client = signed_in()
    set_clocks(client, signed_in_ago=12 * HOUR + 1, last_seen_ago=10)

    response = client.get("/regions/", follow=True)

    assert response.redirect_chain[0][0].startswith("/accounts/login/")
    assert b"12 hours after sign-in" in response.content
    assert client.get("/regions/").status_code == 302


def test_an_active_session_within_both_limits_goes_on(demo: None) -> None:
    client = signed_in()
    set_clocks(client, signed_in_ago=11 * HOUR, last_seen_ago=59 * 60)

    response = client.get("/regions/")

    assert response.status_code == 200
    assert time.time() - client.session[LAST_SEEN_AT] < 5


def test_activity_is_saved_at_most_once_a_minute(demo: None) -> None:
    client = signed_in()
    set_clocks(client, signed_in_ago=30, last_seen_ago=30)
    seen = client.session[LAST_SEEN_AT]

    client.get("/regions/")

    assert client.session[LAST_SEEN_AT] == seen


def test_an_expired_session_on_the_api_is_a_structured_401(demo: None) -> None:
    client = signed_in()
    set_clocks(client, signed_in_ago=2 * HOUR, last_seen_ago=2 * HOUR)

    response = client.get("/api/regions/")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "session_expired"
    assert client.get("/api/regions/").status_code == 401


def test_signing_in_gives_a_new_session_key(demo: None) -> None:
    client = Client()
    client.get("/accounts/login/")
    session = client.session
    session["planted"] = "by someone else"
    session.save()
    planted_key = session.session_key

    client.post("/accounts/login/", {"login": "developer", "password": DEMO_PASSWORD})

    assert client.session.session_key != planted_key
    assert SESSION_KEY in client.session


def test_a_deactivated_users_session_ends_at_the_next_request(persona: PersonaOf) -> None:
    client = signed_in()
    assert client.get("/regions/").status_code == 200
    developer = persona(Persona.DEVELOPER)
    developer.is_active = False
    developer.save(update_fields=["is_active"])

    assert client.get("/regions/").headers["Location"].startswith("/accounts/login/")
    assert client.get("/api/regions/").status_code == 401


def test_session_cookies_are_http_only_same_site_lax_and_end_with_the_browser(demo: None) -> None:
    client = signed_in()

    cookie = client.cookies["sessionid"]

    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    # No lifetime of its own: the browser drops it when it closes, and the server caps it at 12 hours anyway.
    assert cookie["max-age"] == ""
    assert cookie["expires"] == ""


@pytest.mark.parametrize(
    ("debug", "expected"),
    [
        ("false", "__Host-sessionid True True __Host-csrftoken True True Lax Lax"),
        ("true", "sessionid False True csrftoken False True Lax Lax"),
    ],
    ids=["production", "debug"],
)
def test_cookies_are_secure_and_host_only_outside_debug(debug: str, expected: str) -> None:
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s; print(s.SESSION_COOKIE_NAME, s.SESSION_COOKIE_SECURE,"
        " s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_NAME, s.CSRF_COOKIE_SECURE, s.CSRF_COOKIE_HTTPONLY,"
        " s.SESSION_COOKIE_SAMESITE, s.CSRF_COOKIE_SAMESITE)",
        environment={**PRODUCTION, "PORTAL_DEBUG": debug},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_timeouts_come_from_the_environment() -> None:
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s;"
        " print(s.SESSION_IDLE_SECONDS, s.SESSION_MAX_SECONDS, s.SESSION_COOKIE_AGE)",
        environment={**PRODUCTION, "PORTAL_SESSION_IDLE_MINUTES": "15", "PORTAL_SESSION_MAX_HOURS": "8"},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "900 28800 28800"
