"""The inventory pages: region list, region detail and cluster detail."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from typing import TYPE_CHECKING

import pytest
from django.test import Client
from django.urls import reverse

from portal.demo import Persona
from regions.choices import CentreServerStatus, ClusterKind, Provider, RegionStatus, WorkloadClass
from regions.models import CentreServer, Cluster, Region
from tests.factories import (
    CentreServerFactory,
    ClusterFactory,
    NamespaceFactory,
    NodePoolFactory,
    OnPremRegionFactory,
    TeamFactory,
    add_sites_with_clusters,
)
from tests.helpers import queries_for

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = pytest.mark.shared_demo

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

ClientFor = Callable[[Persona | None], Client]

SPEC_NAMESPACES = {"core-services", "student-services", "tutor-services", "admin-services", "analytics", "monitoring"}
REGION_LIST = reverse("regions:list")
EU_WEST_1 = reverse("regions:detail", args=["aws", "eu-west-1"])
EKS_EU_WEST_1 = reverse("regions:cluster", args=["aws", "eu-west-1", "eks-eu-west-1"])


class _RowText(HTMLParser):
    """The visible text of every table row, one string per row with cells separated by " | "."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self._cells: list[str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._cells = []
        elif tag in {"td", "th"}:
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._cells is not None:
            self._cells.append(" ".join("".join(self._text).split()))
        elif tag == "tr" and self._cells is not None:
            self.rows.append(" | ".join(self._cells))
            self._cells = None

    def handle_data(self, data: str) -> None:
        self._text.append(data)


def rows(response: Response) -> list[str]:
    parser = _RowText()
    parser.feed(response.content.decode())
    return parser.rows


def row_for(response: Response, text: str) -> str:
    """The one table row whose first cell contains ``text``."""
    matching = [row for row in rows(response) if text in row.split(" | ")[0]]
    assert len(matching) == 1, f"expected one row starting with {text!r}, found {matching}"
    return matching[0]


def listed_codes(response: Response) -> list[str]:
    return [region.code for region in response.context["page"]]


@pytest.fixture
def developer(client_for: ClientFor) -> Client:
    return client_for(Persona.DEVELOPER)


# --- region list -------------------------------------------------------------


def test_the_region_list_shows_every_demo_region_with_its_zone_status_and_dr_partner(developer: Client) -> None:
    response = developer.get(REGION_LIST)

    assert response.status_code == 200
    assert set(listed_codes(response)) == set(Region.objects.values_list("code", flat=True))
    ireland = row_for(response, "eu-west-1")
    assert "| AWS | EU | Active | Not checked | eu-central-1 |" in ireland
    sydney = row_for(response, "ap-southeast-2")
    assert "| AWS | AU | Active | Not checked | ap-southeast-4 |" in sydney
    east_us = row_for(response, "eastus")
    assert "| Azure | US | Active | Not checked | westus2 |" in east_us


def test_the_region_list_says_when_a_region_has_no_dr_partner(developer: Client) -> None:
    Region.objects.filter(code="eu-west-1").update(dr_partner=None)

    response = developer.get(REGION_LIST)

    assert "| EU | Active | Not checked | none |" in row_for(response, "eu-west-1")


def test_filtering_by_residency_zone_lists_only_that_zones_regions(developer: Client) -> None:
    response = developer.get(REGION_LIST, {"residency_zone": "AU"})

    assert sorted(listed_codes(response)) == ["ap-southeast-2", "ap-southeast-4", "australiaeast", "australiasoutheast"]


def test_filtering_by_provider_lists_only_that_providers_regions(developer: Client) -> None:
    response = developer.get(REGION_LIST, {"provider": "azure"})

    codes = listed_codes(response)
    assert len(codes) == 6
    assert set(codes) == set(Region.objects.filter(provider=Provider.AZURE).values_list("code", flat=True))


def test_filtering_by_status_lists_only_regions_in_that_state(developer: Client) -> None:
    Region.objects.filter(code="us-east-1").update(status=RegionStatus.DEGRADED)

    response = developer.get(REGION_LIST, {"status": "degraded"})

    assert listed_codes(response) == ["us-east-1"]
    assert "| Degraded |" in row_for(response, "us-east-1")


def test_searching_matches_the_region_code_or_its_display_name(developer: Client) -> None:
    by_name = developer.get(REGION_LIST, {"q": "sydney"})
    by_code = developer.get(REGION_LIST, {"q": "WESTEUROPE"})

    assert listed_codes(by_name) == ["ap-southeast-2"]
    assert listed_codes(by_code) == ["westeurope"]


def test_filters_combine(developer: Client) -> None:
    response = developer.get(REGION_LIST, {"residency_zone": "EU", "provider": "aws"})

    assert sorted(listed_codes(response)) == ["eu-central-1", "eu-west-1"]


@pytest.mark.parametrize(
    ("parameter", "value"),
    [("residency_zone", "MARS"), ("provider", "gcp"), ("status", "exploding"), ("account", "not-a-number")],
)
def test_an_invalid_filter_value_shows_a_message_instead_of_failing(
    parameter: str, value: str, developer: Client
) -> None:
    response = developer.get(REGION_LIST, {parameter: value})

    assert response.status_code == 200
    assert b'role="alert"' in response.content
    assert parameter.encode() in response.content
    assert listed_codes(response) == []
    assert b"No region matches." in response.content


def test_an_htmx_request_gets_only_the_table_fragment(developer: Client) -> None:
    response = developer.get(REGION_LIST, {"residency_zone": "US"}, headers={"HX-Request": "true"})

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert "<form" not in body
    assert "<table" in body
    assert sorted(listed_codes(response)) == ["eastus", "us-east-1", "us-west-2", "westus2"]


def test_a_normal_request_gets_the_full_page_with_the_filter_form(developer: Client) -> None:
    response = developer.get(REGION_LIST)

    body = response.content.decode()
    assert "<html" in body
    assert 'role="search"' in body
    assert 'id="region-table"' in body
    assert 'name="residency_zone"' in body


def test_the_region_list_is_paginated_past_fifty_regions(developer: Client) -> None:
    OnPremRegionFactory.create_batch(60)
    total = Region.objects.count()

    first = developer.get(REGION_LIST)
    second = developer.get(REGION_LIST, {"page": 2})

    assert len(listed_codes(first)) == 50
    assert len(listed_codes(second)) == total - 50
    assert set(listed_codes(first)).isdisjoint(listed_codes(second))
    assert b"Page 1 of 2" in first.content
    assert b"Page 2 of 2" in second.content
    assert f"{total} regions".encode() in first.content


def test_the_next_page_link_keeps_the_filters(developer: Client) -> None:
    OnPremRegionFactory.create_batch(60)

    first = developer.get(REGION_LIST, {"provider": "on_prem"})
    second = developer.get(REGION_LIST, {"provider": "on_prem", "page": "2"})

    assert b'href="?provider=on_prem&amp;page=2"' in first.content
    assert len(listed_codes(second)) == 10
    assert all(code.startswith("site-") for code in listed_codes(second))


def test_a_page_number_out_of_range_shows_the_last_page(developer: Client) -> None:
    OnPremRegionFactory.create_batch(60)

    response = developer.get(REGION_LIST, {"page": 99})

    assert response.status_code == 200
    assert b"Page 2 of 2" in response.content


# --- region detail -----------------------------------------------------------


def test_the_region_detail_shows_its_cluster_with_general_high_cpu_and_gpu_pools(developer: Client) -> None:
    response = developer.get(EU_WEST_1)

    assert response.status_code == 200
    assert b"Europe (Ireland)" in response.content
    assert b"European Union (EU)" in response.content
    assert "general | General | On-demand | m7i.xlarge | 3 / 3 / 12" in rows(response)
    assert "high-cpu | High-CPU | Spot | c7i.2xlarge | 0 / 2 / 10" in rows(response)
    assert "gpu | GPU | On-demand | g5.xlarge | 0 / 0 / 4" in rows(response)
    assert EKS_EU_WEST_1.encode() in response.content


def test_the_region_detail_lists_the_six_namespaces_of_the_spec(developer: Client) -> None:
    response = developer.get(EU_WEST_1)

    for namespace in SPEC_NAMESPACES:
        assert f"<code>{namespace}</code>".encode() in response.content


def test_the_region_detail_shows_an_offline_centre_server_and_when_it_last_synced(developer: Client) -> None:
    server = CentreServer.objects.get(name="centre-dublin-01")
    assert server.last_sync_at is not None

    response = developer.get(EU_WEST_1)

    row = row_for(response, "centre-dublin-01")
    assert "| Dublin learning centre | Offline |" in row
    assert "ago" in row
    assert f'<time datetime="{server.last_sync_at.isoformat()}">'.encode() in response.content


def test_the_region_detail_shows_an_online_centre_server(developer: Client) -> None:
    response = developer.get(reverse("regions:detail", args=["aws", "ap-southeast-2"]))

    assert "| Sydney learning centre | Online |" in row_for(response, "centre-sydney-01")


def test_a_centre_server_that_never_synced_says_so(developer: Client) -> None:
    region = Region.objects.get(code="eu-west-1")
    CentreServerFactory.create(
        name="centre-cork-01", region=region, status=CentreServerStatus.OFFLINE, last_sync_at=None
    )

    response = developer.get(EU_WEST_1)

    assert "| Offline | never |" in row_for(response, "centre-cork-01")


def test_the_region_detail_only_shows_its_own_clusters_and_servers(developer: Client) -> None:
    response = developer.get(EU_WEST_1)

    assert b"eks-us-east-1" not in response.content
    assert b"centre-sydney-01" not in response.content


# --- cluster detail ----------------------------------------------------------


def test_the_cluster_detail_shows_version_endpoint_and_pools(developer: Client) -> None:
    response = developer.get(EKS_EU_WEST_1)

    assert response.status_code == 200
    assert b"Amazon EKS" in response.content
    assert b"<dd>1.31</dd>" in response.content
    assert b"https://eu-west-1.eks.platform.example.com" in response.content
    pools = {row.split(" | ")[0] for row in rows(response) if " | " in row}
    assert {"general", "high-cpu", "gpu"} <= pools


def test_the_cluster_detail_shows_each_namespace_with_its_owner_team(developer: Client) -> None:
    response = developer.get(EKS_EU_WEST_1)

    assert row_for(response, "student-services").startswith("student-services | Student Experience |")
    assert row_for(response, "monitoring").startswith("monitoring | Core Platform |")
    assert row_for(response, "analytics").startswith("analytics | Data & Analytics |")
    for namespace in SPEC_NAMESPACES:
        row_for(response, namespace)


def test_the_cluster_detail_of_a_k3s_cluster_names_its_centre_server(developer: Client) -> None:
    response = developer.get(reverse("regions:cluster", args=["aws", "eu-west-1", "k3s-centre-dublin-01"]))

    assert response.status_code == 200
    assert b"k3s (on-prem)" in response.content
    assert b"centre-dublin-01 (Dublin learning centre)" in response.content


@pytest.mark.parametrize(
    "path",
    [
        reverse("regions:detail", args=["aws", "eu-west-9"]),
        reverse("regions:detail", args=["azure", "eu-west-1"]),
        reverse("regions:cluster", args=["aws", "eu-west-1", "no-such-cluster"]),
        reverse("regions:cluster", args=["azure", "westeurope", "eks-eu-west-1"]),
    ],
    ids=["unknown-region", "region-under-the-wrong-provider", "unknown-cluster", "cluster-of-another-region"],
)
def test_an_unknown_region_or_cluster_is_a_404_page(path: str, developer: Client) -> None:
    response = developer.get(path)

    assert response.status_code == 404
    assert b"Page not found" in response.content


# --- query counts ------------------------------------------------------------


def add_children_to(region: Region, count: int) -> None:
    """More clusters, pools, namespaces (of distinct teams) and centre servers in one region."""
    for _ in range(count):
        cluster = ClusterFactory.create(region=region, kind=ClusterKind.EKS)
        NodePoolFactory.create(cluster=cluster, workload_class=WorkloadClass.GPU)
        NamespaceFactory.create(cluster=cluster)
        CentreServerFactory.create(region=region)


# Four of each budget are the session, the signed-in user, their grants and the layout's unread-notification
# count; the rest is the page's own reads.
@pytest.mark.parametrize(
    ("path", "budget"),
    [
        (REGION_LIST, 7),  # count, page of regions, accounts for the filter form
        (f"{REGION_LIST}?residency_zone=EU&q=e", 7),
        (EU_WEST_1, 10),  # region, clusters, their pools, their namespaces, centre servers, its failovers
        (EKS_EU_WEST_1, 7),  # cluster, its pools, its namespaces
    ],
    ids=["region-list", "filtered-region-list", "region-detail", "cluster-detail"],
)
def test_inventory_pages_run_a_small_fixed_number_of_queries(
    path: str, budget: int, developer: Client, django_assert_max_num_queries: Callable[..., object]
) -> None:
    developer.get(path)  # warm per-process caches out of the count

    with django_assert_max_num_queries(budget):  # type: ignore[attr-defined]
        assert developer.get(path).status_code == 200


def test_the_region_list_runs_the_same_queries_however_many_regions_there_are(developer: Client) -> None:
    queries_for(developer, REGION_LIST)
    before = queries_for(developer, REGION_LIST)

    add_sites_with_clusters(20)

    assert queries_for(developer, REGION_LIST) == before


def test_the_region_detail_runs_the_same_queries_however_many_clusters_it_has(developer: Client) -> None:
    queries_for(developer, EU_WEST_1)
    before = queries_for(developer, EU_WEST_1)

    add_children_to(Region.objects.get(code="eu-west-1"), 20)

    assert queries_for(developer, EU_WEST_1) == before


def test_the_cluster_detail_runs_the_same_queries_however_many_pools_and_namespaces_it_has(
    developer: Client,
) -> None:
    queries_for(developer, EKS_EU_WEST_1)
    before = queries_for(developer, EKS_EU_WEST_1)

    cluster = Cluster.objects.get(name="eks-eu-west-1")
    NodePoolFactory.create_batch(20, cluster=cluster)
    for _ in range(20):
        NamespaceFactory.create(cluster=cluster, team=TeamFactory.create())

    assert queries_for(developer, EKS_EU_WEST_1) == before
