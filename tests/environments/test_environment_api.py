"""The environments API: list and detail scoped by the policy; requests with an Idempotency-Key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from environments.models import Environment, TeamLimits
from portal.demo import Persona
from regions.models import Cluster
from tests.helpers import queries_for

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]
URL = "/api/environments/"


@pytest.fixture(autouse=True)
def sandbox(demo: None, settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path


def body(**changes: Any) -> dict[str, Any]:
    return {
        "name": "api-preview",
        "team": "student-experience",
        "template": "preview",
        "cluster": Cluster.objects.get(name="eks-eu-west-1").pk,
        "size": "S",
        **changes,
    }


def test_a_request_with_the_same_idempotency_key_twice_creates_one_environment(client_for: ClientFor) -> None:
    developer = client_for(Persona.DEVELOPER)

    first = developer.post(URL, body(), content_type="application/json", HTTP_IDEMPOTENCY_KEY="ci-42")
    second = developer.post(URL, body(), content_type="application/json", HTTP_IDEMPOTENCY_KEY="ci-42")

    assert first.status_code == 201
    assert second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["status"] == "provisioning"
    assert Environment.objects.count() == 1


def test_a_refusal_is_a_structured_error_with_the_reasons(client_for: ClientFor) -> None:
    TeamLimits.objects.filter(team__slug="student-experience").update(max_environments=1)
    developer = client_for(Persona.DEVELOPER)
    developer.post(URL, body(name="first"), content_type="application/json")

    response = developer.post(URL, body(name="second"), content_type="application/json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert any("tear one down first" in reason for reason in error["fields"]["non_field_errors"])


def test_a_region_outside_the_teams_residency_zone_is_a_structured_400_with_the_reason(
    client_for: ClientFor,
) -> None:
    developer = client_for(Persona.DEVELOPER)

    response = developer.post(
        URL, body(cluster=Cluster.objects.get(name="eks-us-east-1").pk), content_type="application/json"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"] == {
        "non_field_errors": [
            "The team's data must stay in the EU zone; us-east-1 is in US. "
            "Choose a region in EU: eu-central-1, eu-west-1, northeurope or westeurope."
        ]
    }
    assert not Environment.objects.exists()


def test_a_taken_name_is_reported_on_the_name_field(client_for: ClientFor) -> None:
    developer = client_for(Persona.DEVELOPER)
    developer.post(URL, body(), content_type="application/json")

    response = developer.post(URL, body(), content_type="application/json")

    assert response.status_code == 400
    assert "name" in response.json()["error"]["fields"]


def test_managers_may_not_request(client_for: ClientFor) -> None:
    response = client_for(Persona.MANAGER).post(URL, body(), content_type="application/json")

    assert response.status_code == 403
    assert not Environment.objects.exists()


def test_the_list_is_scoped_and_filtered(client_for: ClientFor) -> None:
    client_for(Persona.DEVELOPER).post(URL, body(), content_type="application/json")

    mine = client_for(Persona.DEVELOPER).get(URL, {"status": "provisioning"}).json()
    others = client_for(Persona.TEAM_LEAD).get(URL, {"team": "tutor-tools"}).json()

    assert [row["name"] for row in mine["results"]] == ["api-preview"]
    assert mine["results"][0]["team"] == "student-experience"
    assert others["results"] == []
    assert client_for(Persona.AUDITOR).get(URL).json()["results"] == []  # holds no environments.view


def test_the_list_runs_the_same_queries_however_many_environments_there_are(client_for: ClientFor) -> None:
    developer = client_for(Persona.DEVELOPER)
    developer.post(URL, body(name="first"), content_type="application/json")
    queries_for(developer, URL)
    before = queries_for(developer, URL)
    for number in range(5):
        developer.post(URL, body(name=f"more-{number}"), content_type="application/json")

    assert queries_for(developer, URL) == before
