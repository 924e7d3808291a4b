"""Which zone each known cloud region counts as: everyone may see it; a platform admin may move a region to
another zone or out of every zone, with a reason, audited; what the move would break is shown first."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from access.models import AuditEvent
from portal.demo import Persona
from regions import catalogue
from regions.choices import ResidencyZone
from regions.models import Region, ZoneOverride, zone_refusal
from regions.residency.report import residency_overview
from tests.regions.test_region_build import admin

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ZONES = reverse("regions:zones")


def move(
    client: Client, region: str, zone: str, reason: str = "Checked with the cloud's legal entity.", **more: str
) -> Any:
    return client.post(ZONES, {"region": region, "zone": zone, "reason": reason, **more})


def test_everyone_signed_in_sees_every_known_region_with_the_zone_it_counts_as(
    demo: None, client_for: Callable[[Persona | None], Client]
) -> None:
    response = client_for(Persona.DEVELOPER).get(ZONES)

    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-region="aws/eu-west-1" data-zone="EU"' in page
    assert 'data-region="aws/eu-west-2" data-zone="outside"' in page  # London is not in the EU
    assert 'data-region="azure/switzerlandnorth" data-zone="outside"' in page
    assert 'data-region="azure/australiaeast" data-zone="AU"' in page
    assert 'id="zone-change-form"' not in page  # only platform admins move regions


def test_who_may_not_move_regions_is_refused_and_nothing_changes(
    demo: None, client_for: Callable[[Persona | None], Client]
) -> None:
    response = move(client_for(Persona.DEVELOPER), "aws/eu-south-2", "outside")

    assert response.status_code == 403
    assert catalogue.residency_zone_of("aws", "eu-south-2") == ResidencyZone.EU
    assert not ZoneOverride.objects.exists()


def test_an_admin_moves_a_region_out_of_every_zone_and_new_eu_data_is_refused_there(
    demo: None, client_for: Callable[[Persona | None], Client]
) -> None:
    response = move(client_for(Persona.PLATFORM_ADMIN), "aws/eu-south-2", "outside")

    assert response.status_code == 302
    assert catalogue.residency_zone_of("aws", "eu-south-2") is None
    assert catalogue.outside_every_zone("aws", "eu-south-2") == "Europe (Spain)"
    assert zone_refusal("aws", "eu-south-2", "EU") == (
        "eu-south-2 (Europe (Spain)) is outside every residency zone: a platform admin has placed it there "
        "(Regions → Residency zones), so no zone's data may live there."
    )
    event = AuditEvent.objects.get(verb="regions.zone_changed")
    assert (event.actor, event.object_id, event.before, event.after, event.extra["reason"]) == (
        admin(),
        "aws/eu-south-2",
        {"zone": "EU", "overridden": False},
        {"zone": "", "overridden": True},
        "Checked with the cloud's legal entity.",
    )
    page = client_for(Persona.PLATFORM_ADMIN).get(ZONES).content.decode()
    assert 'data-region="aws/eu-south-2" data-zone="outside"' in page
    assert 'data-zone-change="aws/eu-south-2"' in page  # the change is listed with its reason


def test_a_move_needs_a_reason(demo: None, client_for: Callable[[Persona | None], Client]) -> None:
    response = move(client_for(Persona.PLATFORM_ADMIN), "aws/eu-south-2", "outside", reason="  ")

    assert response.status_code == 400
    assert response.context["form"].errors["reason"] == ["This field is required."]
    assert not ZoneOverride.objects.exists()


def test_a_move_that_would_break_placements_shows_them_and_waits_for_confirmation(
    demo: None, client_for: Callable[[Persona | None], Client]
) -> None:
    client = client_for(Persona.PLATFORM_ADMIN)

    response = move(client, "aws/eu-west-1", "US")

    assert response.status_code == 400
    assert "DR pair eu-west-1 → eu-central-1" in [breach.subject for breach in response.context["consequences"]]
    assert 'data-zone-change="consequences"' in response.content.decode()
    assert Region.objects.get(code="eu-west-1").residency_zone == "EU"
    assert catalogue.residency_zone_of("aws", "eu-west-1") == ResidencyZone.EU

    confirmed = move(client, "aws/eu-west-1", "US", confirmed="on")

    assert confirmed.status_code == 302
    assert Region.objects.get(code="eu-west-1").residency_zone == "US"
    breaches = [breach.subject for breach in residency_overview(user=admin()).breaches]
    assert "DR pair eu-west-1 → eu-central-1" in breaches
    event = AuditEvent.objects.get(verb="regions.zone_changed")
    assert event.extra["breaches"]


def test_a_region_the_inventory_holds_cannot_be_put_outside_every_zone(
    demo: None, client_for: Callable[[Persona | None], Client]
) -> None:
    response = move(client_for(Persona.PLATFORM_ADMIN), "aws/eu-west-1", "outside", confirmed="on")

    assert response.status_code == 400
    assert response.context["form"].errors["zone"][0].startswith("The inventory holds eu-west-1")
    assert catalogue.residency_zone_of("aws", "eu-west-1") == ResidencyZone.EU


def test_back_to_the_catalogue_default_removes_the_override(
    demo: None, client_for: Callable[[Persona | None], Client]
) -> None:
    client = client_for(Persona.PLATFORM_ADMIN)
    move(client, "aws/eu-south-2", "outside")

    response = move(client, "aws/eu-south-2", "default", reason="Spain is in the EU after all.")

    assert response.status_code == 302
    assert not ZoneOverride.objects.exists()
    assert catalogue.residency_zone_of("aws", "eu-south-2") == ResidencyZone.EU
    assert AuditEvent.objects.filter(verb="regions.zone_changed").count() == 2


def test_the_zone_of_a_region_is_answered_from_the_cache_without_a_query(
    demo: None, django_assert_num_queries: Callable[[int], object]
) -> None:
    catalogue.residency_zone_of("aws", "eu-west-1")  # the first call reads the overrides once

    with django_assert_num_queries(0):  # type: ignore[attr-defined]
        for _ in range(50):
            catalogue.residency_zone_of("aws", "eu-west-1")
            catalogue.outside_every_zone("aws", "eu-west-2")


# --- the API ---------------------------------------------------------------------------------------------------


def test_the_api_lists_every_known_region_with_its_default_and_current_zone(
    demo: None, client_for: Callable[[Persona | None], Client]
) -> None:
    move(client_for(Persona.PLATFORM_ADMIN), "aws/eu-south-2", "outside")

    rows = client_for(Persona.DEVELOPER).get("/api/regions/zones/").json()

    by_code = {(row["provider"], row["code"]): row for row in rows}
    assert by_code[("aws", "eu-west-2")]["zone"] == ""  # London, outside every zone by default
    spain = by_code[("aws", "eu-south-2")]
    assert (spain["default_zone"], spain["zone"], spain["overridden"], spain["changed_by"]) == (
        "EU",
        "",
        True,
        admin().username,
    )


def test_the_api_moves_a_region_after_confirming_the_breaches_it_makes(
    demo: None, client_for: Callable[[Persona | None], Client]
) -> None:
    client = client_for(Persona.PLATFORM_ADMIN)
    change = {"provider": "aws", "code": "eu-west-1", "zone": "US", "reason": "Re-homed to the US entity."}

    first = client.post("/api/regions/zones/", json.dumps(change), content_type="application/json")

    assert first.status_code == 409
    assert first.json()["error"]["code"] == "would_breach"
    assert "DR pair eu-west-1 → eu-central-1" in [item["subject"] for item in first.json()["error"]["breaches"]]
    assert Region.objects.get(code="eu-west-1").residency_zone == "EU"

    second = client.post(
        "/api/regions/zones/", json.dumps({**change, "confirmed": True}), content_type="application/json"
    )

    assert second.status_code == 200
    assert Region.objects.get(code="eu-west-1").residency_zone == "US"


def test_the_api_refuses_a_move_without_a_reason_or_by_someone_who_may_not(
    demo: None, client_for: Callable[[Persona | None], Client]
) -> None:
    change = {"provider": "aws", "code": "eu-south-2", "zone": "outside", "reason": ""}

    refused = client_for(Persona.TEAM_LEAD).post("/api/regions/zones/", change, content_type="application/json")
    unreasoned = client_for(Persona.PLATFORM_ADMIN).post(
        "/api/regions/zones/", json.dumps(change), content_type="application/json"
    )

    assert refused.status_code == 403
    assert unreasoned.status_code == 400
    assert unreasoned.json()["error"]["fields"] == {
        "reason": ["Say why the region counts as this zone; the audit log keeps it."]
    }
    assert not ZoneOverride.objects.exists()
