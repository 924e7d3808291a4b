"""No unsafe request rides on a browser session without its CSRF token: every route, pages and API.

Django's test client skips CSRF checks unless told otherwise; every client here enforces them
(``Client(enforce_csrf_checks=True)``), as a browser meets them. For every URL pattern of the project,
walked from the URL resolver through the authorisation matrix (its route list, and its expectations
to build each URL from the demo), a POST, PUT, PATCH and DELETE is sent signed in as a persona who may
do the action (the first the matrix lets through, else the platform admin, who may do everything),
carrying the CSRF cookie a browser would have but no token, or a wrong one, as a forged cross-site
request does. Each must be refused with 403 by the CSRF check itself (the answer says so: it is not a
permission refusal of someone who could not have done it anyway) and write nothing to the database.

A new route is covered as soon as the authorisation matrix declares it, which that test demands.
``CSRF_EXEMPT`` lists the routes whose caller is not a browser session, each with its reason; they
are still sent the same requests, and must refuse them (4xx) and write nothing. API calls that carry
their own credential (an API token or a JWT) are CSRF-exempt wherever they go:
``test_an_api_call_with_a_bearer_token_needs_no_csrf_token_and_the_session_alone_does``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils.crypto import get_random_string

from access.models import Role, Team, User
from portal.demo import Persona
from tests.factories import ApiTokenFactory, api_token_secret
from tests.test_authorisation_matrix import (
    ADMIN_NAMESPACE,
    ADMIN_SIGN_IN,
    EXPECTATIONS,
    REAUTHENTICATE,
    SIGN_IN,
    SIGNED_IN,
    Outcome,
    Route,
    all_routes,
    url_for,
)

# The demo, loaded once for the module; each test in its own savepoint (tests/fixtures.py).
pytestmark = pytest.mark.shared_demo

UNSAFE_METHODS = ("post", "put", "patch", "delete")

# Routes no browser session drives, so a CSRF token would protect nothing: what authenticates the caller
# is something a forged cross-site request cannot carry.
CSRF_EXEMPT: dict[str, str] = {
    "webhook": "CI systems post here with the source's HMAC signature, token or password "
    "(deployments.hooks.payloads.authenticate), never a session; a cross-site page cannot sign a body.",
    "jwt-refresh": "The refresh token in the body is the credential, not the session; a cross-site page "
    "cannot know it.",
    "jwt-revoke": "Holding the refresh token, sent in the body, is the proof; the session is not read.",
    "healthz": "Probes are answered before sessions and CSRF (portal.middleware.HealthProbeMiddleware) for "
    "load balancers; they take GET only and change nothing.",
    "readyz": "As healthz.",
}

# Placeholders for the Django admin's URLs, which the matrix checks as one group: any object id does,
# since the CSRF check comes before the admin looks anything up.
ADMIN_KWARGS = {"object_id": "1", "id": "1", "content_type_id": "1", "app_label": "access", "url": "no-such-page/"}
CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")
GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def unsafe_routes() -> list[Route]:
    """Every URL pattern, one per name and format variant, as the authorisation matrix walks them."""
    seen: dict[str, Route] = {}
    for route in all_routes():
        seen.setdefault(route.label, route)
    return list(seen.values())


def path_of(route: Route) -> str:
    if route.name in EXPECTATIONS:
        return url_for(route, EXPECTATIONS[route.name])
    assert route.name.startswith(ADMIN_NAMESPACE), f"{route.name} has no expectation in the authorisation matrix"
    if "<unnamed" in route.name:  # the admin's redirects from an object's old address, and its catch-all
        filled = GROUP.sub(lambda match: ADMIN_KWARGS[match.group(1)], route.route)
        filled = CONVERTER.sub(lambda match: ADMIN_KWARGS[match.group(1)], filled)
        return "/" + filled.replace("^", "").replace("$", "")
    return reverse(route.name, kwargs={name: ADMIN_KWARGS[name] for name in route.kwargs})


def gets_through(outcome: Outcome) -> bool:
    return any(200 <= status < 400 for status in outcome.statuses) and outcome.location not in {
        SIGN_IN,
        ADMIN_SIGN_IN,
        REAUTHENTICATE,
    }


def actor_for(route: Route) -> Persona:
    """A persona who may do what the route does: the first the matrix lets through, else the platform admin."""
    expectation = EXPECTATIONS.get(route.name)
    if expectation is not None:
        for persona in SIGNED_IN:
            if gets_through(expectation.outcomes[persona]):
                return persona
    return Persona.PLATFORM_ADMIN


def rows_written() -> int:
    """Rows inserted, updated or deleted so far in this transaction (the test's), the session table aside.

    A session's own bookkeeping (when it was last seen) is written on any request; it is not a change a
    forged request makes to anything of the portal's.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_user_tables"
            " WHERE relname <> 'django_session'"
        )
        (count,) = cursor.fetchone()
    return int(count)


@pytest.fixture
def browser_of(persona: Callable[[Persona], User]) -> Callable[[Persona], Client]:
    """A signed-in browser that enforces CSRF checks and already holds a CSRF cookie, as after any page."""

    def make(who: Persona) -> Client:
        client = Client(enforce_csrf_checks=True)
        client.force_login(persona(who))
        client.cookies[settings.CSRF_COOKIE_NAME] = get_random_string(32)
        return client

    return make


def forged(client: Client, method: str, path: str) -> list[Any]:
    """The request as a cross-site page could send it: without the token, and with a made-up one."""
    body = {"name": "forged", "confirm": "yes"}
    return [
        getattr(client, method)(path, body, content_type="application/json"),
        getattr(client, method)(path, body, content_type="application/json", headers={"X-CSRFToken": "x" * 32}),
    ]


def refused_by_the_csrf_check(answer: Any, method: str) -> bool:
    """Django's CSRF page and the API's error both say CSRF; an API page rendered as HTML (the API docs)
    says only "403 Forbidden", and lists in ``Allow`` that it takes no such method anyway."""
    allowed = {name.strip() for name in answer.headers.get("Allow", "").split(",") if name.strip()}
    return b"CSRF" in answer.content or (bool(allowed) and method.upper() not in allowed)


ROUTES = [pytest.param(route, id=route.label) for route in unsafe_routes()]


def test_the_exemptions_name_routes_that_exist() -> None:
    names = {route.name for route in all_routes()}

    assert set(CSRF_EXEMPT) <= names, f"exemptions for routes that no longer exist: {set(CSRF_EXEMPT) - names}"


@pytest.mark.parametrize("route", ROUTES)
def test_every_unsafe_request_without_a_valid_csrf_token_is_refused_and_changes_nothing(
    route: Route, browser_of: Callable[[Persona], Client]
) -> None:
    path = path_of(route)  # builds the route's objects first, as the authorisation matrix does
    client = browser_of(actor_for(route))

    for method in UNSAFE_METHODS:
        before = rows_written()
        answers = forged(client, method, path)

        assert rows_written() == before, f"{method.upper()} {path} without a valid CSRF token wrote to the database"
        for answer in answers:
            if route.name in CSRF_EXEMPT:
                assert 400 <= answer.status_code < 500, f"{method.upper()} {path}: {answer.status_code}"
                continue
            assert answer.status_code == 403, f"{method.upper()} {path} without a valid token: {answer.status_code}"
            assert refused_by_the_csrf_check(answer, method), f"{method.upper()} {path}: refused, but not for CSRF"


def test_the_same_browser_with_the_token_of_its_page_gets_through(persona: Callable[[Persona], User]) -> None:
    """The control: what the test refuses is the missing token, not the method or the browser."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(persona(Persona.DEVELOPER))
    page = client.get(reverse("notifications:inbox")).content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]

    response = client.post(reverse("notifications:mark_all_read"), {"csrfmiddlewaretoken": token})

    assert response.status_code == 302


def test_an_api_call_with_a_bearer_token_needs_no_csrf_token_and_the_session_alone_does(
    browser_of: Callable[[Persona], Client], persona: Callable[[Persona], User]
) -> None:
    admin = persona(Persona.PLATFORM_ADMIN)
    team = Team.objects.get(slug="student-experience")
    token = ApiTokenFactory.create(owner=admin, role=Role.objects.get(slug="platform_admin"), team=team)
    client = browser_of(Persona.PLATFORM_ADMIN)  # a session too: the bearer token is what is used
    budget = {"name": "Token budget", "team": "student-experience", "amount": "100.00"}

    with_token = client.post(
        "/api/budgets/",
        budget,
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_token_secret(token)}"},
    )
    with_the_session = client.post(
        "/api/budgets/", {**budget, "name": "Session budget"}, content_type="application/json"
    )

    assert with_token.status_code == 201, with_token.content
    assert with_the_session.status_code == 403
    assert "CSRF" in with_the_session.json()["error"]["message"]
