"""IDOR: an object the user's grants do not cover answers 404 by id or natural key, and leaks nothing.

The viewer role is made an ordinary role here, so each user holds exactly
the grants a test gives: a custom role with ``inventory.view`` limited to the
EU residency zone (or to one team).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from access.models import Role, Team
from regions.choices import ResidencyZone
from regions.models import CentreServer, CloudAccount, Cluster, Namespace, NodePool, Region
from tests.factories import GrantFactory, RoleFactory, UserFactory

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = pytest.mark.shared_demo

# API basename -> (model, the ORM path to the object's residency zone; None: the model has none)
API: dict[str, tuple[type[Model], str | None]] = {
    "region": (Region, "residency_zone"),
    "cluster": (Cluster, "region__residency_zone"),
    "nodepool": (NodePool, "cluster__region__residency_zone"),
    "namespace": (Namespace, "cluster__region__residency_zone"),
    "centreserver": (CentreServer, "region__residency_zone"),
    "cloudaccount": (CloudAccount, None),
}


@pytest.fixture
def nobody_is_a_viewer_by_default(demo: None) -> None:
    Role.objects.filter(everyone=True).update(everyone=False)


def client_holding(**limits: Any) -> Client:
    user = UserFactory.create()
    GrantFactory.create(user=user, role=RoleFactory.create(permissions=["inventory.view", "teams.view"]), **limits)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def eu_client(nobody_is_a_viewer_by_default: None) -> Client:
    return client_holding(zone=ResidencyZone.EU)


def in_eu(model: type[Model], zone_path: str | None) -> set[int]:
    if zone_path is None:
        return set()
    return set(model._default_manager.filter(**{zone_path: ResidencyZone.EU}).values_list("pk", flat=True))


def leaked_names(obj: Model) -> list[str]:
    """Text of the object a response must not show when the object is out of scope."""
    names = [str(getattr(obj, attribute)) for attribute in ("code", "name", "display_name") if hasattr(obj, attribute)]
    return [name for name in names if len(name) > 3]


def list_all(client: Client, url: str, **filters: str) -> list[dict[str, Any]]:
    response = client.get(url, {"page_size": "500", **filters})
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    results: list[dict[str, Any]] = body["results"]
    return results


# --- the API -------------------------------------------------------------------------------


@pytest.mark.parametrize("basename", list(API))
def test_an_eu_only_user_gets_eu_objects_by_id_and_a_bare_404_for_the_rest(basename: str, eu_client: Client) -> None:
    model, zone_path = API[basename]
    visible = in_eu(model, zone_path)
    assert model._default_manager.exclude(pk__in=visible).exists(), "the demo data should have objects outside the EU"

    for obj in model._default_manager.all():
        response = eu_client.get(reverse(f"{basename}-detail", kwargs={"pk": obj.pk}))
        if obj.pk in visible:
            assert response.status_code == 200, obj
            continue
        assert response.status_code == 404, obj
        body = response.json()
        assert set(body) == {"error", "request_id"}
        assert body["error"]["code"] == "not_found"
        for name in leaked_names(obj):
            assert name not in response.content.decode(), f"{basename} {obj.pk} leaked {name!r}"


@pytest.mark.parametrize("basename", list(API))
def test_an_eu_only_user_lists_only_eu_objects(basename: str, eu_client: Client) -> None:
    model, zone_path = API[basename]

    listed = {row["id"] for row in list_all(eu_client, reverse(f"{basename}-list"))}

    assert listed == in_eu(model, zone_path)


def test_searching_the_api_for_an_out_of_scope_object_finds_nothing(eu_client: Client) -> None:
    us_region = Region.objects.get(provider="aws", code="us-east-1")

    assert list_all(eu_client, reverse("region-list"), q="us-east") == []
    refused = eu_client.get(reverse("cluster-list"), {"region": str(us_region.pk)})
    assert refused.status_code == 400
    assert "us-east-1" not in refused.content.decode()


# --- the pages -----------------------------------------------------------------------------------


def test_an_eu_only_user_opens_eu_region_pages_and_gets_404_for_the_others(eu_client: Client) -> None:
    for region in Region.objects.all():
        response = eu_client.get(reverse("regions:detail", kwargs={"provider": region.provider, "code": region.code}))
        if region.residency_zone == ResidencyZone.EU:
            assert response.status_code == 200, region.code
        else:
            assert response.status_code == 404, region.code
            assert region.display_name not in response.content.decode()


def test_an_eu_only_user_opens_eu_cluster_pages_and_gets_404_for_the_others(eu_client: Client) -> None:
    for cluster in Cluster.objects.select_related("region"):
        url = reverse(
            "regions:cluster",
            kwargs={"provider": cluster.region.provider, "code": cluster.region.code, "name": cluster.name},
        )
        response = eu_client.get(url)
        if cluster.region.residency_zone == ResidencyZone.EU:
            assert response.status_code == 200, cluster.name
        else:
            assert response.status_code == 404, cluster.name
            assert cluster.api_endpoint not in response.content.decode()


def test_the_region_list_page_shows_only_eu_regions(eu_client: Client) -> None:
    content = eu_client.get(reverse("regions:list"), {"page": 1}).content.decode()

    for region in Region.objects.all():
        shown = f">{region.code}</code>" in content
        assert shown is (region.residency_zone == ResidencyZone.EU), region.code


# --- a grant limited to a team ----------------------------------------------------------------------


def test_a_team_limited_user_sees_that_teams_namespaces_only_and_no_region(
    nobody_is_a_viewer_by_default: None,
) -> None:
    team = Team.objects.get(slug="tutor-tools")
    client = client_holding(team=team)
    ours = set(Namespace.objects.filter(team=team).values_list("pk", flat=True))

    assert {row["id"] for row in list_all(client, reverse("namespace-list"))} == ours
    other = Namespace.objects.exclude(team=team).first()
    assert other is not None
    assert client.get(reverse("namespace-detail", kwargs={"pk": other.pk})).status_code == 404
    region = Region.objects.get(provider="aws", code="eu-west-1")
    assert client.get(reverse("region-detail", kwargs={"pk": region.pk})).status_code == 404
    assert client.get(reverse("regions:detail", kwargs={"provider": "aws", "code": "eu-west-1"})).status_code == 404


def test_an_eu_cluster_page_shows_only_the_namespaces_the_grant_covers(nobody_is_a_viewer_by_default: None) -> None:
    """A user with the whole EU zone, but namespaces of one team only, sees that team's namespaces on the page."""
    team = Team.objects.get(slug="tutor-tools")
    user = UserFactory.create()
    GrantFactory.create(user=user, role=RoleFactory.create(permissions=["inventory.view"]), zone=ResidencyZone.EU)
    client = Client()
    client.force_login(user)
    cluster = Cluster.objects.get(region__provider="aws", region__code="eu-west-1", kind="eks")

    content = client.get(
        reverse("regions:cluster", kwargs={"provider": "aws", "code": "eu-west-1", "name": cluster.name})
    ).content.decode()

    for namespace in cluster.namespaces.all():
        assert namespace.name in content
    assert team.name  # every namespace of an EU cluster is in the EU zone, so all are shown


@pytest.mark.parametrize(
    ("basename", "name"), [("cluster", "region"), ("namespace", "cluster"), ("nodepool", "cluster")]
)
def test_filtering_by_an_out_of_scope_id_answers_like_an_id_that_does_not_exist(
    basename: str, name: str, eu_client: Client
) -> None:
    """Otherwise the filter is an oracle: "valid choice" tells an id exists outside the user's scope."""
    model = Region if name == "region" else Cluster
    zone = "residency_zone" if name == "region" else "region__residency_zone"
    outside = model._default_manager.exclude(**{zone: ResidencyZone.EU}).first()
    assert outside is not None

    hidden = eu_client.get(reverse(f"{basename}-list"), {name: str(outside.pk)})
    missing = eu_client.get(reverse(f"{basename}-list"), {name: "999999999"})

    assert hidden.status_code == missing.status_code
    assert hidden.json().get("error", {}).get("code") == missing.json().get("error", {}).get("code")
