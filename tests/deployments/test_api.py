"""The deployments API: the catalogue read and written, workloads, deployments, runs and the matrix, all scoped."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from access.models import AuditEvent
from deployments.models import Deployment, Service, Workload
from portal.demo import Persona
from tests.helpers import queries_for

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]


@pytest.fixture
def developer(client_for: ClientFor) -> Client:
    return client_for(Persona.DEVELOPER)


def results(client: Client, path: str, **query: str) -> list[dict[str, object]]:
    response = client.get(path, query)
    assert response.status_code == 200, response.content
    rows: list[dict[str, object]] = response.json()["results"]
    return rows


@pytest.mark.parametrize(
    ("path", "team_key"),
    [
        ("/api/services/", "team"),
        ("/api/workloads/", "team"),
        ("/api/deployments/", "team"),
        ("/api/pipeline-runs/", "team"),
    ],
)
def test_a_developer_sees_only_their_teams_rows(
    developer: Client, client_for: ClientFor, path: str, team_key: str
) -> None:
    theirs = results(developer, path, page_size="500")
    everything = results(client_for(Persona.MANAGER), path, page_size="500")

    assert theirs
    assert {row[team_key] for row in theirs} == {"student-experience"}
    assert len(everything) > len(theirs)


def test_the_auditor_holds_no_deployment_permission_and_gets_empty_lists(client_for: ClientFor) -> None:
    assert results(client_for(Persona.AUDITOR), "/api/deployments/") == []


def test_another_teams_deployment_is_a_404(developer: Client) -> None:
    deployment = Deployment.objects.filter(service__slug="api-gateway").first()
    assert deployment is not None
    assert developer.get(f"/api/deployments/{deployment.pk}/").status_code == 404


def test_lists_filter(developer: Client) -> None:
    failed = results(developer, "/api/deployments/", status="failed")
    runs = results(developer, "/api/pipeline-runs/", service="student-portal")
    unmatched = results(developer, "/api/workloads/", unmatched="true")

    assert [row["version"] for row in failed] == ["4.7.0-rc.1"]
    assert {row["service"] for row in runs} == {"student-portal"}
    assert [row["name"] for row in unmatched] == ["debug-toolbox"]


def test_a_developer_creates_changes_and_deletes_a_service_through_the_api(developer: Client) -> None:
    body = {
        "slug": "checkout",
        "name": "Checkout",
        "team": "student-experience",
        "namespace_group": "student-services",
        "links": [{"label": "Dashboard", "url": "https://grafana.example.com/d/checkout"}],
    }

    created = developer.post("/api/services/", body, content_type="application/json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    changed = developer.patch(f"/api/services/{pk}/", {"name": "Checkout v2"}, content_type="application/json")
    deleted = developer.delete(f"/api/services/{pk}/")

    assert changed.status_code == 200
    assert changed.json()["name"] == "Checkout v2"
    assert deleted.status_code == 204
    assert not Service.objects.filter(pk=pk).exists()
    verbs = list(
        AuditEvent.objects.filter(object_id=str(pk), verb__startswith="deployments.").values_list("verb", flat=True)
    )
    assert sorted(verbs) == [
        "deployments.service_changed",
        "deployments.service_created",
        "deployments.service_deleted",
    ]


def test_a_bad_link_is_a_structured_400(developer: Client) -> None:
    body = {
        "slug": "checkout",
        "name": "Checkout",
        "team": "student-experience",
        "namespace_group": "student-services",
        "links": [{"label": "Dashboard", "url": "javascript:alert(1)"}],
    }

    response = developer.post("/api/services/", body, content_type="application/json")

    assert response.status_code == 400
    assert "is not an http(s) URL" in response.json()["error"]["fields"]["links"][0]
    assert not Service.objects.filter(slug="checkout").exists()


def test_a_service_for_another_team_is_refused_with_a_reason(developer: Client) -> None:
    body = {"slug": "timetable", "name": "Timetable", "team": "tutor-tools", "namespace_group": "tutor-services"}

    response = developer.post("/api/services/", body, content_type="application/json")

    assert response.status_code == 403
    assert "Tutor Tools" in response.json()["error"]["message"]


def test_a_manager_may_not_write_the_catalogue(client_for: ClientFor) -> None:
    manager = client_for(Persona.MANAGER)
    service = Service.objects.get(slug="student-portal")

    assert (
        manager.patch(f"/api/services/{service.pk}/", {"name": "x"}, content_type="application/json").status_code == 403
    )
    assert manager.delete(f"/api/services/{service.pk}/").status_code == 403


def test_the_matrix_as_json_has_columns_rows_and_drift(developer: Client) -> None:
    response = developer.get("/api/deployments/matrix/")

    assert response.status_code == 200
    body = response.json()
    columns = {column["key"]: column for column in body["columns"]}
    rows = {row["service"]: row for row in body["rows"]}
    assert set(rows) == {"student-portal", "enrolment", "assessments"}
    portal = rows["student-portal"]
    assert portal["reference_version"] == "4.6.0"
    drifted = {cell["version"] for cell in portal["cells"] if cell["drift"]}
    assert drifted == {"4.7.0-rc.1"}
    assert all(cell["column"] in columns for cell in portal["cells"])
    assert {columns[cell["column"]]["label"] for cell in portal["cells"]} >= {"staging", "production"}
    # Each cell names the deployment that put its version there, which the API then answers for.
    staging = next(cell for cell in portal["cells"] if columns[cell["column"]]["label"] == "staging")
    deployment = developer.get(f"/api/deployments/{staging['deployment']}/").json()
    assert deployment["version"] == staging["version"] == "4.7.0-rc.1"


def test_the_matrix_filters_and_refuses_a_bad_filter(developer: Client) -> None:
    degraded = developer.get("/api/deployments/matrix/", {"health": "degraded"}).json()
    bad = developer.get("/api/deployments/matrix/", {"environment": "999999"})

    assert [row["service"] for row in degraded["rows"]] == ["student-portal"]
    assert bad.status_code == 400
    assert "environment" in bad.json()["error"]["fields"]


def test_the_list_endpoints_run_the_same_queries_however_many_rows(developer: Client) -> None:
    before = {
        path: queries_for(developer, path) for path in ("/api/workloads/", "/api/deployments/", "/api/pipeline-runs/")
    }
    workload = Workload.objects.filter(team__slug="student-experience").first()
    assert workload is not None
    for number in range(10):
        Workload.objects.create(
            cluster=workload.cluster,
            namespace="student-services",
            kind="Deployment",
            name=f"more-{number}",
            service=workload.service,
            team=workload.team,
            first_seen_at=workload.first_seen_at,
            last_seen_at=workload.last_seen_at,
        )

    Deployment.objects.bulk_create(
        Deployment(
            service=workload.service,
            team=workload.team,
            version=f"9.{n}",
            source="cluster",
            started_at=workload.first_seen_at,
        )
        for n in range(10)
    )

    after = {path: queries_for(developer, path) for path in before}
    assert after == before
