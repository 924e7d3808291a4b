"""``GET /api/auth/me/``: who a script is to the portal — its teams, and the roles a token of theirs may carry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from access.models import Role, Team, User
from access.tokens import services
from portal.demo import Persona

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = pytest.mark.shared_demo


def test_a_developer_sees_their_team_and_the_token_roles_the_tokens_service_accepts(
    client_for: Callable[[Persona | None], Client], persona: Callable[[Persona], User]
) -> None:
    answer = client_for(Persona.DEVELOPER).get("/api/auth/me/")

    assert answer.status_code == 200
    body = answer.json()
    developer = persona(Persona.DEVELOPER)
    assert body["username"] == developer.username
    assert body["platform_admin"] is False
    assert body["token"] is None
    place = next(team for team in body["teams"] if team["slug"] == "student-experience")
    assert "developer" in place["token_roles"]
    assert "team_lead" not in place["token_roles"]
    # What it says a token may carry, the tokens service accepts; what it leaves out, the service refuses.
    team = Team.objects.get(slug="student-experience")
    for slug in ("developer", "team_lead"):
        make = lambda role=slug: services.api_token_create(  # noqa: E731
            actor=developer,
            name=f"cli {role}",
            team=team,
            role=Role.objects.get(slug=role),
            expires_at=timezone.now() + timedelta(days=1),
        )
        if slug in place["token_roles"]:
            make()
        else:
            with pytest.raises(ValidationError, match="cannot give a token"):
                make()


def test_the_lead_may_give_a_token_the_lead_role_and_the_platform_admin_is_one(
    client_for: Callable[[Persona | None], Client],
) -> None:
    lead = client_for(Persona.TEAM_LEAD).get("/api/auth/me/").json()
    admin = client_for(Persona.PLATFORM_ADMIN).get("/api/auth/me/").json()

    assert any("team_lead" in team["token_roles"] for team in lead["teams"])
    assert admin["platform_admin"] is True
    assert client_for(None).get("/api/auth/me/").status_code in (401, 403)


def test_through_a_token_it_names_the_token_in_use(persona: Callable[[Persona], User]) -> None:
    developer = persona(Persona.DEVELOPER)
    made = services.api_token_create(
        actor=developer,
        name="ci",
        team=Team.objects.get(slug="student-experience"),
        role=Role.objects.get(slug="developer"),
        expires_at=timezone.now() + timedelta(days=1),
    )

    body = Client().get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {made.secret}").json()

    assert body["token"]["name"] == "ci"
    assert body["token"]["role"] == "developer"
    assert body["username"] == developer.username
