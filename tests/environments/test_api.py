"""The read API of templates and prices: scoped like the pages, in the schema, no N+1."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from costs.models import PriceItem
from environments.models import EnvironmentTemplate
from portal.demo import Persona
from regions.models import Region
from tests.environments.factories import saved_template
from tests.helpers import queries_for

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = pytest.mark.shared_demo

ClientFor = Callable[[Persona | None], Client]


@pytest.fixture
def developer(client_for: ClientFor) -> Client:
    return client_for(Persona.DEVELOPER)


def test_the_template_list_gives_every_setting(developer: Client) -> None:
    body = developer.get("/api/environment-templates/", {"page_size": "500"}).json()

    by_slug = {template["slug"]: template for template in body["results"]}
    assert set(by_slug) == {"preview", "team-sandbox", "staging", "production"}
    staging = by_slug["staging"]
    assert staging["tier"] == "staging"
    assert len(staging["namespaces"]) == 6
    assert (staging["postgresql_size"], staging["redis_size"], staging["bucket_size_gb"]) == ("medium", "small", 100)
    assert staging["approval"] == "team_lead"
    assert by_slug["production"]["max_ttl_hours"] is None
    assert by_slug["production"]["allowed_zones"] == ["EU", "AU", "US"]


def test_a_template_detail_names_its_allowed_regions(developer: Client) -> None:
    template = EnvironmentTemplate.objects.get(slug="preview")
    region = Region.objects.get(provider="aws", code="eu-west-1")
    template.allowed_regions.set([region])

    body = developer.get(f"/api/environment-templates/{template.pk}/").json()

    assert body["allowed_regions"] == [region.pk]


def test_inactive_templates_are_listed_only_for_those_who_may_change_them(
    developer: Client, client_for: ClientFor
) -> None:
    retired = saved_template(slug="retired", name="Retired", active=False)

    assert developer.get(f"/api/environment-templates/{retired.pk}/").status_code == 404
    assert developer.get("/api/environment-templates/", {"active": "false"}).json()["count"] == 0
    admin = client_for(Persona.PLATFORM_ADMIN)
    assert [row["slug"] for row in admin.get("/api/environment-templates/", {"active": "false"}).json()["results"]] == [
        "retired"
    ]


def test_templates_filter_by_tier_and_provider(developer: Client) -> None:
    production = developer.get("/api/environment-templates/", {"tier": "production"}).json()["results"]
    on_prem = developer.get("/api/environment-templates/", {"provider": "on_prem"}).json()["results"]

    assert [row["slug"] for row in production] == ["production"]
    assert [row["slug"] for row in on_prem] == ["preview"]


def test_the_template_list_runs_the_same_queries_however_many_templates_there_are(developer: Client) -> None:
    path = "/api/environment-templates/"
    queries_for(developer, path)
    before = queries_for(developer, path)
    regions = list(Region.objects.all()[:4])
    for number in range(12):
        saved_template(slug=f"t-{number}", name=f"T {number}").allowed_regions.set(regions)

    assert queries_for(developer, path) == before


def test_managers_read_the_price_table_and_team_limited_readers_get_nothing(
    client_for: ClientFor, developer: Client
) -> None:
    manager = client_for(Persona.MANAGER)
    item = PriceItem.objects.get(provider="aws", region_code="ap-southeast-2", kind="cpu")

    listed = manager.get("/api/prices/", {"provider": "aws", "region_code": "ap-southeast-2"}).json()["results"]

    assert {(row["kind"], row["price"], row["unit"]) for row in listed} == {
        ("cpu", "0.042000", "vcpu_hour"),
        ("memory", "0.005300", "gib_hour"),
    }
    assert manager.get(f"/api/prices/{item.pk}/").json()["currency"] == "USD"
    assert developer.get("/api/prices/").json()["count"] == 0
    assert developer.get(f"/api/prices/{item.pk}/").json()["error"]["code"] == "not_found"


def test_the_schema_describes_the_new_endpoints(developer: Client) -> None:
    schema = developer.get("/api/schema/", {"format": "json"}).json()

    assert {
        "/api/environment-templates/",
        "/api/environment-templates/{id}/",
        "/api/prices/",
        "/api/prices/{id}/",
    } <= set(schema["paths"])
    assert set(schema["paths"]["/api/prices/"]) == {"get"}
