"""What fuzzing the API with its own schema found (tests/test_api_fuzz.py), each held by a test of its own: text
with a NUL character is a 400 in words, not a database error; answers match what the schema promises."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from access.models import Team, User
from deployments.models import Service
from environments.models import Environment, EnvironmentTemplate
from portal.api.parsers import REFUSAL
from portal.demo import Persona
from regions.models import Cluster
from tests.factories import make_workload

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]


def schema_property(client: Client, component: str, name: str) -> dict[str, Any]:
    schema = client.get("/api/schema/", {"format": "json"}).json()
    found: dict[str, Any] = schema["components"]["schemas"][component]["properties"][name]
    return found


def allowed_values(client: Client, component: str, name: str) -> set[Any]:
    """The values the schema allows for a property given as an enum (or a choice of enums)."""
    schema = client.get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    found = components[component]["properties"][name]
    values: set[Any] = set()
    for option in found.get("oneOf", found.get("allOf", [found])):
        target = components[option["$ref"].rsplit("/", 1)[1]] if "$ref" in option else option
        values.update(target.get("enum", []))
    return values


def test_a_nul_character_in_a_body_is_refused_in_words_and_nothing_is_made(demo: None, client_for: ClientFor) -> None:
    developer = client_for(Persona.DEVELOPER)

    as_json = developer.post(
        "/api/services/",
        {"slug": "checkout", "name": "Checkout", "team": "student\x00"},
        content_type="application/json",
    )
    as_form = developer.post("/api/services/", {"slug": "checkout", "name": "Checkout", "team": "student\x00"})

    for answer in (as_json, as_form):
        assert answer.status_code == 400
        assert answer.json()["error"]["message"] == REFUSAL
    assert not Service.objects.filter(slug="checkout").exists()


def test_a_nul_character_in_a_query_parameter_is_refused_in_words(demo: None, client_for: ClientFor) -> None:
    answer = client_for(Persona.DEVELOPER).get("/api/dora/", {"team": "student\x00experience"})

    assert answer.status_code == 400
    assert answer.json()["error"]["fields"] == {"team": [REFUSAL]}


def test_an_environment_that_needs_no_approval_has_an_empty_approver_the_schema_allows(
    demo: None, client_for: ClientFor, persona: Callable[[Persona], User]
) -> None:
    environment = Environment.objects.create(
        team=Team.objects.get(slug="student-experience"),
        name="no-approval",
        template=EnvironmentTemplate.objects.get(slug="preview"),
        tier="development",
        cluster=Cluster.objects.get(name="eks-eu-west-1"),
        requested_by=persona(Persona.DEVELOPER),
        status="ready",
        monthly_estimate="10.00",
        currency="USD",
    )
    developer = client_for(Persona.DEVELOPER)

    answer = developer.get(f"/api/environments/{environment.pk}/")

    assert answer.json()["approver"] == ""
    assert allowed_values(developer, "Environment", "approver") >= {"", "team_lead", "platform_admin"}


def test_a_workload_of_no_service_is_null_where_the_schema_says_it_may_be(
    demo: None, client_for: ClientFor, persona: Callable[[Persona], User]
) -> None:
    cluster = Cluster.objects.get(name="eks-eu-west-1")
    workload = make_workload(cluster=cluster, team=Team.objects.get(slug="student-experience"), service=None)
    developer = client_for(Persona.DEVELOPER)

    answer = developer.get(f"/api/workloads/{workload.pk}/")

    assert answer.status_code == 200
    assert answer.json()["service"] is None
    for component in ("Workload", "Deployment", "PipelineRun"):
        assert schema_property(developer, component, "service").get("nullable") is True, component


def test_the_rollback_options_of_a_workload_its_cluster_lacks_say_why_none_is_offered(
    demo: None, client_for: ClientFor, settings: Any, tmp_path: Any
) -> None:
    settings.DATA_DIR = tmp_path  # an empty sandbox cluster: it keeps no revision of the workload
    cluster = Cluster.objects.get(name="eks-eu-west-1")
    workload = make_workload(cluster=cluster, team=Team.objects.get(slug="student-experience"), tier="development")

    answer = client_for(Persona.DEVELOPER).get("/api/rollbacks/options/", {"workload": workload.pk})

    assert answer.status_code == 200
    assert answer.json()["revisions"] == []
    assert answer.json()["problem"].startswith("The cluster could not be asked for the workload's revisions:")
