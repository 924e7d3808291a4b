"""The residency page and API: per zone its regions and teams, and every placement that breaks a zone's rule."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from access.models import Team, User
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from portal.demo import Persona
from regions import catalogue
from regions.choices import ResidencyZone
from regions.models import CentreServer, Cluster, Region, RegionResource
from tests.helpers import queries_for

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]
PAGE = reverse("regions:residency")
API = "/api/regions/residency/"


def plant_environment(team_slug: str, cluster_name: str, name: str, requester: User) -> Environment:
    """A live environment as if placed before the rule (or behind the portal's back): the service would refuse it."""
    team = Team.objects.get(slug=team_slug)
    template = EnvironmentTemplate.objects.get(slug="preview")
    return Environment.objects.create(
        name=name,
        team=team,
        template=template,
        tier=template.tier,
        cluster=Cluster.objects.get(name=cluster_name),
        requested_by=requester,
        status=EnvironmentStatus.READY,
        monthly_estimate=Decimal("10.00"),
        currency="USD",
    )


def test_the_demo_has_no_breaches_and_the_page_says_so(client_for: ClientFor) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).get(PAGE)

    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-residency="clean"' in page
    assert "No breaches" in page
    assert "data-breach=" not in page


def test_each_zone_lists_its_regions_and_the_teams_bound_to_it(client_for: ClientFor) -> None:
    page = client_for(Persona.PLATFORM_ADMIN).get(PAGE).content.decode()

    eu = page[page.index('data-zone="EU"') : page.index('data-zone="AU"')]
    assert ">eu-west-1</a>" in eu
    assert ">westeurope</a>" in eu
    assert ">us-east-1</a>" not in eu
    assert "Student Experience</a>" in eu
    assert "Data &amp; Analytics</a>" in eu
    assert "Tutor Tools</a>" not in eu
    assert "Not bound to a zone" in page
    assert "Core Platform" in page


def test_a_teams_environment_outside_its_zone_is_listed_with_why_and_what_to_do(
    client_for: ClientFor, persona: Callable[[Persona], User]
) -> None:
    planted = plant_environment("student-experience", "eks-us-east-1", "stray", persona(Persona.DEVELOPER))

    page = client_for(Persona.PLATFORM_ADMIN).get(PAGE).content.decode()

    assert 'data-residency="breaches"' in page
    assert "1 placement breaks a residency rule." in page
    eu = page[page.index('data-zone="EU"') : page.index('data-zone="AU"')]
    assert 'data-breach="environment"' in eu
    assert f'href="{reverse("environments:detail", kwargs={"pk": planted.pk})}"' in eu
    assert (
        escape(
            "Student Experience's data must stay in EU; the environment runs in us-east-1 (US). "
            "Tear it down and request it again in a region of the team's zone."
        )
        in eu
    )


def test_an_ended_environment_outside_the_zone_is_no_breach(
    client_for: ClientFor, persona: Callable[[Persona], User]
) -> None:
    stray = plant_environment("student-experience", "eks-us-east-1", "stray", persona(Persona.DEVELOPER))
    Environment.objects.filter(pk=stray.pk).update(status=EnvironmentStatus.TORN_DOWN)

    assert "No breaches" in client_for(Persona.PLATFORM_ADMIN).get(PAGE).content.decode()


def test_a_dr_pair_across_zones_a_replica_in_another_zone_and_a_misregistered_centre_server_are_listed(
    client_for: ClientFor,
) -> None:
    # Behind Region.clean's back (a raw update, as a script or an old row would): the page still finds them.
    Region.objects.filter(code="eu-west-1").update(dr_partner=Region.objects.get(code="us-west-2"))
    london = Region.objects.get(code="eu-central-1")
    RegionResource.objects.create(
        region=london, position=5, kind="database_replica", name="core-replica", region_code="us-east-2"
    )
    CentreServer.objects.filter(name="centre-dublin-01").update(cluster=None)
    CentreServer.objects.filter(name="centre-sydney-01").update(
        cluster=Cluster.objects.get(name="k3s-centre-dublin-01")
    )

    page = client_for(Persona.PLATFORM_ADMIN).get(PAGE).content.decode()

    assert "3 placements break a residency rule." in page
    assert (
        escape(
            "eu-west-1's data must stay in EU, but its DR partner us-west-2 is in US: a failover would move it there. "
            "Choose a partner in EU."
        )
        in page
    )
    assert (
        escape(
            "eu-central-1's data must stay in EU; this database_replica lies in us-east-2 (US). "
            "Replicate to a region of EU and delete this copy."
        )
        in page
    )
    assert "centre-sydney-01 stands in Sydney learning centre and is homed to ap-southeast-2 (AU)" in page
    au = page[page.index('data-zone="AU"') : page.index('data-zone="US"')]
    assert 'data-breach="centre_server"' in au


def test_a_deleted_resource_in_another_zone_is_no_breach(client_for: ClientFor) -> None:
    RegionResource.objects.create(
        region=Region.objects.get(code="eu-central-1"),
        position=5,
        kind="bucket",
        name="old-copy",
        region_code="us-east-2",
        status="deleted",
    )

    assert "No breaches" in client_for(Persona.PLATFORM_ADMIN).get(PAGE).content.decode()


def test_a_copy_of_eu_data_in_london_is_a_breach_because_london_is_not_in_the_eu(client_for: ClientFor) -> None:
    RegionResource.objects.create(
        region=Region.objects.get(code="eu-west-1"), position=5, kind="bucket", name="copy", region_code="eu-west-2"
    )

    page = client_for(Persona.PLATFORM_ADMIN).get(PAGE).content.decode()

    assert (
        escape(
            "eu-west-1's data must stay in EU; this bucket lies in eu-west-2 (Europe (London), outside every zone). "
            "Replicate to a region of EU and delete this copy."
        )
        in page
    )


def test_a_developer_sees_their_teams_breaches_but_not_another_teams(
    client_for: ClientFor, persona: Callable[[Persona], User]
) -> None:
    admin = persona(Persona.PLATFORM_ADMIN)
    plant_environment("student-experience", "eks-us-east-1", "ours", admin)
    plant_environment("tutor-tools", "eks-eu-west-1", "theirs", admin)

    developer_page = client_for(Persona.DEVELOPER).get(PAGE).content.decode()
    admin_page = client_for(Persona.PLATFORM_ADMIN).get(PAGE).content.decode()

    assert "Environment ours of Student Experience" in developer_page
    assert "Environment theirs of Tutor Tools" not in developer_page
    assert "Environment ours of Student Experience" in admin_page
    assert "Environment theirs of Tutor Tools" in admin_page


def test_the_page_asks_a_visitor_to_sign_in(client: Client, demo: None) -> None:
    response = client.get(PAGE)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_region_list_links_to_the_residency_page(client_for: ClientFor) -> None:
    page = client_for(Persona.DEVELOPER).get(reverse("regions:list")).content.decode()

    assert f'href="{PAGE}"' in page


def test_the_page_runs_the_same_queries_however_many_breaches_there_are(
    client_for: ClientFor, persona: Callable[[Persona], User]
) -> None:
    admin_client = client_for(Persona.PLATFORM_ADMIN)
    admin = persona(Persona.PLATFORM_ADMIN)
    plant_environment("student-experience", "eks-us-east-1", "one", admin)
    catalogue.overrides()  # the admins' zone overrides are read once and then cached: compare the page's own queries
    one = queries_for(admin_client, PAGE)
    for name in ("two", "three", "four"):
        plant_environment("tutor-tools", "eks-eu-west-1", name, admin)
    RegionResource.objects.create(
        region=Region.objects.get(code="eu-central-1"), position=5, kind="bucket", name="b", region_code="us-east-2"
    )

    assert queries_for(admin_client, PAGE) == one


# --- the API ----------------------------------------------------------------------------------------------------


def test_the_api_gives_the_same_overview_as_json(client_for: ClientFor, persona: Callable[[Persona], User]) -> None:
    plant_environment("student-experience", "eks-us-east-1", "stray", persona(Persona.DEVELOPER))

    response = client_for(Persona.PLATFORM_ADMIN).get(API)

    assert response.status_code == 200
    body = response.json()
    assert body["breach_count"] == 1
    zones = {zone["zone"]: zone for zone in body["zones"]}
    assert set(zones) == set(ResidencyZone.values)
    assert "student-experience" in zones["EU"]["teams"]
    assert {"provider": "aws", "code": "eu-west-1", "status": "active"} in zones["EU"]["regions"]
    (breach,) = zones["EU"]["breaches"]
    assert (breach["kind"], breach["subject"], breach["region"], breach["region_zone"]) == (
        "environment",
        "Environment stray of Student Experience",
        "us-east-1",
        "US",
    )
    assert breach["reason"].startswith("Student Experience's data must stay in EU;")
    assert "core-platform" in body["unbound_teams"]


def test_the_api_on_the_clean_demo_reports_no_breaches(client_for: ClientFor) -> None:
    body = client_for(Persona.AUDITOR).get(API).json()

    assert body["breach_count"] == 0


def test_the_api_asks_an_anonymous_caller_to_authenticate(client: Client, demo: None) -> None:
    assert client.get(API).status_code == 401
