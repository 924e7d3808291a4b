"""The read API of the platform inventory, its schema and its documentation page."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from django.core.paginator import UnorderedObjectListWarning
from django.test import Client

from portal.demo import Persona
from regions.choices import Provider, RegionStatus, WorkloadClass
from regions.models import CentreServer, CloudAccount, Cluster, Namespace, NodePool, Region
from tests.factories import NamespaceFactory, add_sites_with_clusters
from tests.helpers import queries_for

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = pytest.mark.shared_demo

ClientFor = Callable[[Persona | None], Client]

LIST_ENDPOINTS = [
    "/api/regions/",
    "/api/clusters/",
    "/api/node-pools/",
    "/api/namespaces/",
    "/api/centre-servers/",
    "/api/cloud-accounts/",
]
MODEL_BY_ENDPOINT = {
    "/api/regions/": Region,
    "/api/clusters/": Cluster,
    "/api/node-pools/": NodePool,
    "/api/namespaces/": Namespace,
    "/api/centre-servers/": CentreServer,
    "/api/cloud-accounts/": CloudAccount,
}


@pytest.fixture
def developer(client_for: ClientFor) -> Client:
    return client_for(Persona.DEVELOPER)


@pytest.fixture
def admin(client_for: ClientFor) -> Client:
    return client_for(Persona.PLATFORM_ADMIN)


def everything(client: Client, path: str, **filters: str) -> list[dict[str, Any]]:
    response = client.get(path, {**filters, "page_size": "500"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["next"] is None, "more than one page; raise page_size"
    return list(body["results"])


# --- fields ------------------------------------------------------------------


def test_a_region_shows_its_zone_partner_account_and_counts(developer: Client) -> None:
    region = Region.objects.get(code="eu-west-1")

    body = developer.get(f"/api/regions/{region.pk}/").json()

    assert body == {
        "id": region.pk,
        "provider": "aws",
        "code": "eu-west-1",
        "display_name": "Europe (Ireland)",
        "residency_zone": "EU",
        "status": "active",
        "account": CloudAccount.objects.get(provider=Provider.AWS).pk,
        "dr_partner": Region.objects.get(code="eu-central-1").pk,
        "cluster_count": 2,  # the EKS cluster and the Dublin centre server's k3s
        "centre_server_count": 1,
        "namespace_count": 12,
        "health": None,  # not checked yet (tests/regions/test_region_health.py checks it)
    }


def test_the_region_list_carries_the_same_fields_as_the_detail(developer: Client) -> None:
    listed = {item["code"]: item for item in everything(developer, "/api/regions/")}
    region = Region.objects.get(code="westeurope")

    assert listed["westeurope"] == developer.get(f"/api/regions/{region.pk}/").json()
    assert len(listed) == Region.objects.count()


def test_a_cluster_shows_kind_version_endpoint_access_and_counts(developer: Client) -> None:
    cluster = Cluster.objects.get(name="aks-westeurope")

    body = developer.get(f"/api/clusters/{cluster.pk}/").json()

    assert body == {
        "id": cluster.pk,
        "name": "aks-westeurope",
        "region": cluster.region_id,
        "kind": "aks",
        "kubernetes_version": "1.31",
        "api_endpoint": "https://aks-westeurope.hcp.westeurope.azmk8s.io:443",
        "status": "ready",
        "access": "cloud_token",
        "has_kubeconfig": False,
        "node_pool_count": 3,
        "namespace_count": 6,
        "access_check": None,  # never checked: the last permissions pre-flight once there is one
    }


def test_a_node_pool_shows_its_class_capacity_and_bounds(developer: Client) -> None:
    pool = NodePool.objects.get(cluster__name="eks-us-east-1", name="high-cpu")

    body = developer.get(f"/api/node-pools/{pool.pk}/").json()

    assert body == {
        "id": pool.pk,
        "cluster": pool.cluster_id,
        "name": "high-cpu",
        "workload_class": "high_cpu",
        "capacity_type": "spot",
        "instance_type": "c7i.2xlarge",
        "min_nodes": 0,
        "desired_nodes": 2,
        "max_nodes": 10,
    }


def test_a_namespace_shows_its_owner_team_and_labels(developer: Client) -> None:
    namespace = Namespace.objects.get(cluster__name="eks-eu-west-1", name="student-services")

    body = developer.get(f"/api/namespaces/{namespace.pk}/").json()

    assert body == {
        "id": namespace.pk,
        "cluster": namespace.cluster_id,
        "name": "student-services",
        "team": namespace.team_id,
        "labels": {"portal.io/namespace-group": "student-services", "portal.io/team": "student-experience"},
    }


def test_a_centre_server_shows_its_status_last_sync_and_hardware(developer: Client) -> None:
    server = CentreServer.objects.get(name="centre-sydney-01")
    assert server.last_sync_at is not None

    body = developer.get(f"/api/centre-servers/{server.pk}/").json()

    assert body["status"] == "online"
    assert body["cluster"] == server.cluster_id
    assert body["region"] == server.region_id
    assert body["cpu_cores"] == 16
    assert body["memory_gib"] == 64
    assert body["last_sync_at"].startswith(server.last_sync_at.strftime("%Y-%m-%dT%H:%M"))


def test_a_cloud_account_shows_how_to_authenticate_but_holds_no_secret(developer: Client) -> None:
    account = CloudAccount.objects.get(provider=Provider.AZURE)

    body = developer.get(f"/api/cloud-accounts/{account.pk}/").json()

    assert body["external_id"] == "3f2b6a1e-8c4d-4e5f-9a0b-1c2d3e4f5a6b"
    assert body["auth_method"] == "azure_workload_identity"
    assert set(body) == {
        "id", "name", "provider", "external_id", "tenant_id", "auth_method",
        "role_arn", "role_external_id", "client_id", "secret_reference", "has_client_secret", "description",
        "access_check",
    }  # fmt: skip
    assert body["has_client_secret"] is False


# --- filters -----------------------------------------------------------------


def test_regions_filter_by_residency_zone(developer: Client) -> None:
    regions = everything(developer, "/api/regions/", residency_zone="EU")

    assert {region["code"] for region in regions} == {"eu-west-1", "eu-central-1", "westeurope", "northeurope"}


def test_regions_filter_by_provider(developer: Client) -> None:
    regions = everything(developer, "/api/regions/", provider="azure")

    assert len(regions) == 6
    assert {region["provider"] for region in regions} == {"azure"}


def test_regions_filter_by_status(developer: Client) -> None:
    Region.objects.filter(code="eastus").update(status=RegionStatus.DEGRADED)

    regions = everything(developer, "/api/regions/", status="degraded")

    assert [region["code"] for region in regions] == ["eastus"]


def test_regions_filter_by_search(developer: Client) -> None:
    regions = everything(developer, "/api/regions/", q="australia")

    assert {region["code"] for region in regions} == {"australiaeast", "australiasoutheast"}


def test_clusters_filter_by_kind(developer: Client) -> None:
    clusters = everything(developer, "/api/clusters/", kind="aks")

    assert len(clusters) == 6
    assert {cluster["kind"] for cluster in clusters} == {"aks"}


def test_clusters_filter_by_the_provider_and_zone_of_their_region(developer: Client) -> None:
    clusters = everything(developer, "/api/clusters/", provider="aws", residency_zone="AU")

    assert {cluster["name"] for cluster in clusters} == {
        "eks-ap-southeast-2",
        "eks-ap-southeast-4",
        "k3s-centre-sydney-01",
    }


def test_node_pools_filter_by_workload_class(developer: Client) -> None:
    pools = everything(developer, "/api/node-pools/", workload_class="gpu")

    assert len(pools) == 12  # one GPU pool in each managed cluster
    assert {pool["workload_class"] for pool in pools} == {WorkloadClass.GPU}


def test_namespaces_filter_by_name(developer: Client) -> None:
    namespaces = everything(developer, "/api/namespaces/", name="monitoring")

    assert len(namespaces) == Cluster.objects.count()
    assert {namespace["name"] for namespace in namespaces} == {"monitoring"}


def test_centre_servers_filter_by_status(developer: Client) -> None:
    servers = everything(developer, "/api/centre-servers/", status="offline")

    assert [server["name"] for server in servers] == ["centre-dublin-01"]


def test_an_invalid_filter_value_is_a_structured_400_naming_the_field(developer: Client) -> None:
    response = developer.get("/api/regions/", {"residency_zone": "MARS"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "residency_zone" in error["fields"]


# --- pagination --------------------------------------------------------------


@pytest.mark.parametrize("path", LIST_ENDPOINTS)
def test_every_list_endpoint_answers_in_pages(path: str, developer: Client) -> None:
    body = developer.get(path).json()

    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == MODEL_BY_ENDPOINT[path]._default_manager.count()
    assert body["previous"] is None


def test_a_long_list_links_to_the_next_page_and_back(developer: Client) -> None:
    total = Namespace.objects.count()
    assert total > 50

    first = developer.get("/api/namespaces/").json()
    second = developer.get(first["next"]).json()

    assert len(first["results"]) == 50
    assert first["count"] == total
    assert len(second["results"]) == min(50, total - 50)
    assert second["previous"] is not None
    assert {item["id"] for item in first["results"]}.isdisjoint(item["id"] for item in second["results"])


def test_page_size_sets_how_many_results_a_page_holds(developer: Client) -> None:
    body = developer.get("/api/namespaces/", {"page_size": 10}).json()

    assert len(body["results"]) == 10
    assert "page_size=10" in body["next"]
    assert "page=2" in body["next"]


def test_page_size_is_capped(developer: Client) -> None:
    NamespaceFactory.create_batch(450, cluster=Cluster.objects.get(name="eks-eu-west-1"))

    body = developer.get("/api/namespaces/", {"page_size": 10_000}).json()

    assert len(body["results"]) == 500
    assert body["next"] is not None


@pytest.mark.parametrize("page_size", ["ten", "0", "-5", "2.5", ""])
def test_a_page_size_that_is_not_a_positive_whole_number_is_refused_with_a_clear_error(
    developer: Client, page_size: str
) -> None:
    response = developer.get("/api/namespaces/", {"page_size": page_size})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"page_size": ["Give a whole number from 1 to 500."]}


@pytest.mark.parametrize("path", LIST_ENDPOINTS)
def test_paging_through_every_list_endpoint_shows_each_object_exactly_once(path: str, developer: Client) -> None:
    """Pages of an unordered list can repeat one object and skip another."""
    seen: list[int] = []
    url: str | None = f"{path}?page_size=5"
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnorderedObjectListWarning)
        while url:
            body = developer.get(url).json()
            seen += [item["id"] for item in body["results"]]
            url = body["next"]

    assert sorted(seen) == sorted(MODEL_BY_ENDPOINT[path]._default_manager.values_list("pk", flat=True))


# --- read-only ---------------------------------------------------------------


def write(client: Client, method: str, path: str) -> int:
    payload = {"name": "changed", "code": "changed"}
    return getattr(client, method)(path, payload, content_type="application/json").status_code  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", LIST_ENDPOINTS)
def test_a_platform_admin_cannot_create_through_the_read_only_api(path: str, admin: Client) -> None:
    before = MODEL_BY_ENDPOINT[path]._default_manager.count()

    assert write(admin, "post", path) == 405
    assert MODEL_BY_ENDPOINT[path]._default_manager.count() == before


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_platform_admin_cannot_change_or_delete_through_the_read_only_api(method: str, admin: Client) -> None:
    region = Region.objects.get(code="eu-west-1")

    assert write(admin, method, f"/api/regions/{region.pk}/") == 405
    region.refresh_from_db()
    assert region.code == "eu-west-1"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("who", [Persona.DEVELOPER, Persona.TEAM_LEAD, Persona.MANAGER, Persona.AUDITOR])
def test_other_personas_are_refused_writes_before_the_method_is_considered(
    method: str, who: Persona, client_for: ClientFor
) -> None:
    region = Region.objects.get(code="eu-west-1")
    path = "/api/regions/" if method == "post" else f"/api/regions/{region.pk}/"

    response = client_for(who).generic(method.upper(), path, '{"code": "changed"}', content_type="application/json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert Region.objects.filter(pk=region.pk, code="eu-west-1").exists()


def test_an_anonymous_caller_is_refused_writes(client_for: ClientFor) -> None:
    response = client_for(None).post("/api/regions/", {"code": "changed"}, content_type="application/json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


# --- schema and docs ---------------------------------------------------------

INVENTORY_PATHS = {f"{path}{suffix}" for path in LIST_ENDPOINTS for suffix in ("", "{id}/")}


def test_the_openapi_schema_as_json_describes_every_inventory_endpoint(developer: Client) -> None:
    response = developer.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Platform Portal API"
    assert set(schema["paths"]) >= INVENTORY_PATHS
    assert set(schema["paths"]["/api/regions/"]) == {"get"}


def test_the_openapi_schema_answers_an_accept_header_for_json(developer: Client) -> None:
    response = developer.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})

    assert response.status_code == 200
    assert set(response.json()["paths"]) >= INVENTORY_PATHS


def test_the_openapi_schema_documents_the_list_filters(developer: Client) -> None:
    schema = developer.get("/api/schema/", {"format": "json"}).json()

    parameters = {parameter["name"] for parameter in schema["paths"]["/api/regions/"]["get"]["parameters"]}
    assert {"residency_zone", "provider", "status", "q", "page", "page_size"} <= parameters


def test_the_api_docs_load_swagger_ui_from_our_own_static_files(developer: Client) -> None:
    response = developer.get("/api/docs/")

    body = response.content.decode()
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', body)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    # Swagger UI's own start-up script comes from the docs page itself (no inline script: CSP).
    start_up = "/api/docs/?script="
    assert all(asset.startswith("/static/") or asset == start_up for asset in assets), assets
    assert not re.search(r"https?://", body), "the docs page must work with no internet access"
    script = developer.get(start_up)
    assert script.headers["Content-Type"].startswith("application/javascript")
    assert 'url: "/api/schema/"' in script.content.decode()


def test_the_swagger_ui_script_is_served_by_the_portal(developer: Client) -> None:
    body = developer.get("/api/docs/").content.decode()
    bundle = re.search(r'src="([^"]+swagger-ui-bundle\.js)"', body)
    assert bundle is not None

    response = developer.get(bundle.group(1))

    assert response.status_code == 200


# --- query counts ------------------------------------------------------------


@pytest.mark.parametrize("path", LIST_ENDPOINTS)
def test_every_list_endpoint_runs_a_small_fixed_number_of_queries(
    path: str, developer: Client, django_assert_max_num_queries: Callable[..., object]
) -> None:
    developer.get(path)  # warm per-process caches out of the count

    # The session, the signed-in user, their grants, the count and the page.
    with django_assert_max_num_queries(5):  # type: ignore[attr-defined]
        assert developer.get(path).status_code == 200


@pytest.mark.parametrize("path", LIST_ENDPOINTS)
def test_every_list_endpoint_runs_the_same_queries_however_many_objects_there_are(path: str, developer: Client) -> None:
    queries_for(developer, path, {"page_size": "500"})
    before = queries_for(developer, path, {"page_size": "500"})
    listed_before = developer.get(path, {"page_size": "500"}).json()["count"]

    add_sites_with_clusters(20)

    assert developer.get(path, {"page_size": "500"}).json()["count"] >= listed_before + 20
    assert queries_for(developer, path, {"page_size": "500"}) == before
