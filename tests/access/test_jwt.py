"""JWT for the REST API: a pair from a session or a password, rotation, revocation, sign-out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from access.models import AuditEvent, User
from portal.demo import DEMO_PASSWORD, Persona
from tests.factories import UserFactory

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = pytest.mark.shared_demo

PersonaOf = Callable[[Persona], User]
ClientFor = Callable[[Persona | None], Client]


@pytest.fixture(autouse=True)
def fresh_throttle() -> Iterator[None]:
    """Sign-in throttling counts in the shared cache; each test starts with a clean count."""
    cache.clear()
    yield
    cache.clear()


def password_pair(username: str = "developer", password: str = DEMO_PASSWORD) -> dict[str, str]:
    response = Client().post(
        "/api/auth/token/", {"username": username, "password": password}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    pair: dict[str, str] = response.json()
    return pair


def with_access(access: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {access}")


def refresh(token: str):
    return Client().post("/api/auth/token/refresh/", {"refresh": token}, content_type="application/json")


def test_a_local_account_gets_a_pair_that_opens_the_api(demo: None) -> None:
    pair = password_pair()

    response = with_access(pair["access"]).get("/api/regions/")

    assert response.status_code == 200
    assert response.json()["count"] > 0


def test_a_wrong_password_is_a_structured_401(demo: None) -> None:
    response = Client().post(
        "/api/auth/token/", {"username": "developer", "password": "nope"}, content_type="application/json"
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "no_active_account"


def test_password_attempts_are_throttled(demo: None) -> None:
    """Every attempt from one client counts, whichever account it tries (each name here stays under its lockout)."""
    client = Client()
    statuses = [
        client.post(
            "/api/auth/token/", {"username": f"someone-{attempt}", "password": "guess"}, content_type="application/json"
        ).status_code
        for attempt in range(11)
    ]

    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    assert client.post("/api/auth/token/", {}, content_type="application/json").json()["error"]["code"] == "throttled"


def test_a_made_up_forwarded_address_does_not_escape_the_throttle(demo: None) -> None:
    client = Client()
    statuses = [
        client.post(
            "/api/auth/token/",
            {"username": f"someone-{attempt}", "password": "guess"},
            content_type="application/json",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{attempt}",
        )
        for attempt in range(11)
    ]

    assert [answer.status_code for answer in statuses[:10]] == [401] * 10
    assert statuses[10].status_code == 429
    assert statuses[10].json()["error"]["code"] == "throttled"


def test_a_signed_in_browser_session_gets_a_pair_with_its_csrf_token(persona: PersonaOf) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(persona(Persona.MANAGER))
    client.get("/")  # sets the CSRF cookie, as a page would
    csrf = client.cookies["csrftoken"].value

    without = client.post("/api/auth/token/", {}, content_type="application/json")
    with_token = client.post("/api/auth/token/", {}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)

    assert without.status_code == 403
    assert with_token.status_code == 200
    access = AccessToken(with_token.json()["access"])
    assert str(access["user_id"]) == str(persona(Persona.MANAGER).pk)


def test_the_access_token_lives_five_minutes_and_the_refresh_token_a_day(demo: None) -> None:
    pair = password_pair()

    # simplejwt's type hints say Token; the constructors take the encoded string.
    access = AccessToken(pair["access"])  # type: ignore[arg-type]
    refresh_token = RefreshToken(pair["refresh"])  # type: ignore[arg-type]

    # simplejwt counts the access token's life from its refresh token's creation, its "iat" from its own: a
    # second boundary crossed between the two reads one second short.
    assert access["exp"] - access["iat"] in (5 * 60 - 1, 5 * 60)
    assert refresh_token["exp"] - refresh_token["iat"] == 24 * 60 * 60
    assert OutstandingToken.objects.get().jti == refresh_token["jti"]


def test_refreshing_rotates_the_refresh_token_and_the_old_one_is_refused(demo: None) -> None:
    pair = password_pair()

    rotated = refresh(pair["refresh"])
    reused = refresh(pair["refresh"])

    assert rotated.status_code == 200
    assert set(rotated.json()) == {"access", "refresh"}
    assert rotated.json()["refresh"] != pair["refresh"]
    assert reused.status_code == 401
    assert reused.json()["error"] == {
        "status": 401,
        "code": "token_not_valid",
        "message": "The token is not valid: Token is blacklisted.",
    }
    assert refresh(rotated.json()["refresh"]).status_code == 200


def test_an_expired_access_token_is_refused_with_401(persona: PersonaOf) -> None:
    access = AccessToken.for_user(persona(Persona.DEVELOPER))
    access.set_exp(lifetime=-timedelta(seconds=1))

    response = with_access(str(access)).get("/api/regions/")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "token_not_valid"


def test_a_deactivated_users_tokens_are_refused(persona: PersonaOf) -> None:
    pair = password_pair()
    developer = persona(Persona.DEVELOPER)
    developer.is_active = False
    developer.save(update_fields=["is_active"])

    assert with_access(pair["access"]).get("/api/regions/").status_code == 401
    assert refresh(pair["refresh"]).status_code == 401


def test_revoking_signs_one_client_out(demo: None) -> None:
    laptop, ci = password_pair(), password_pair()

    response = Client().post("/api/auth/token/revoke/", {"refresh": laptop["refresh"]}, content_type="application/json")
    again = Client().post("/api/auth/token/revoke/", {"refresh": laptop["refresh"]}, content_type="application/json")

    assert response.status_code == 200
    assert response.json() == {"revoked": 1}
    assert again.json() == {"revoked": 0}
    assert refresh(laptop["refresh"]).status_code == 401
    assert refresh(ci["refresh"]).status_code == 200


def test_revoking_all_signs_every_client_of_the_person_out(demo: None) -> None:
    laptop, ci = password_pair(), password_pair()
    other_person = password_pair("manager")

    response = Client().post(
        "/api/auth/token/revoke/", {"refresh": laptop["refresh"], "all": True}, content_type="application/json"
    )

    assert response.status_code == 200
    assert refresh(ci["refresh"]).status_code == 401
    assert refresh(other_person["refresh"]).status_code == 200


def test_a_forged_refresh_token_revokes_nothing(demo: None) -> None:
    pair = password_pair()
    header, payload, _signature = pair["refresh"].split(".")

    response = Client().post(
        "/api/auth/token/revoke/",
        {"refresh": f"{header}.{payload}.forged", "all": True},
        content_type="application/json",
    )

    assert response.status_code == 401
    assert not BlacklistedToken.objects.exists()


def test_signing_out_of_the_browser_revokes_the_persons_refresh_tokens(persona: PersonaOf) -> None:
    pair = password_pair()
    browser = Client()
    browser.force_login(persona(Persona.DEVELOPER))

    browser.post("/accounts/logout/")

    assert refresh(pair["refresh"]).status_code == 401


def test_an_api_token_cannot_be_swapped_for_a_jwt(persona: PersonaOf) -> None:
    from tests.access.test_api_tokens import create

    created = create(persona(Persona.DEVELOPER))

    response = Client(HTTP_AUTHORIZATION=f"Bearer {created.secret}").post(
        "/api/auth/token/", {}, content_type="application/json"
    )

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"username", "password"}


def test_a_refresh_token_of_a_deleted_person_is_refused(demo: None) -> None:
    # Someone the audit log never saw act (an issued pair is audited, and audited people are kept).
    short_lived = UserFactory.create(username="short-lived")
    token = str(RefreshToken.for_user(short_lived))
    short_lived.delete()

    response = refresh(token)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "no_active_account"


def test_issuing_and_revoking_pairs_is_in_the_audit_log_with_the_refresh_tokens_id(demo: None) -> None:
    pair = password_pair()
    Client().post("/api/auth/token/revoke/", {"refresh": pair["refresh"]}, content_type="application/json")

    jti = RefreshToken(pair["refresh"], verify=False)["jti"]  # type: ignore[arg-type]  # simplejwt's stubs
    issued = AuditEvent.objects.get(verb="auth.jwt_issued")
    revoked = AuditEvent.objects.get(verb="auth.jwt_revoked")
    assert (issued.actor_label, issued.after, issued.extra["jti"]) == ("developer", {"via": "password"}, jti)
    assert (revoked.after, revoked.extra["jti"]) == ({"revoked": 1, "all": False}, jti)
    assert pair["refresh"] not in str(issued.extra) + str(revoked.extra), "never the token itself"
