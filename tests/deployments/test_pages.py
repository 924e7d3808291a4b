"""Deployment pages: the matrix (drift, gone workloads, filters, query count), the service and deployment pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.models import Team, Tier, User
from deployments.choices import DeploymentSource, DeploymentStatus, Health, RunStatus, SmokeTest, Strategy
from deployments.models import Deployment, PipelineRun, Service, WebhookSource, Workload
from deployments.selectors import MATRIX_MAX_COLUMNS, version_matrix
from deployments.services import Target, record_deployment
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from portal.demo import Persona
from regions.models import Cluster
from tests.factories import make_service, make_workload
from tests.helpers import queries_for

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]
MATRIX = reverse("deployments:list")
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def developer(client_for: ClientFor) -> Client:
    return client_for(Persona.DEVELOPER)


@pytest.fixture
def admin(client_for: ClientFor) -> Client:
    return client_for(Persona.PLATFORM_ADMIN)


def team(slug: str = "student-experience") -> Team:
    return Team.objects.get(slug=slug)


def cluster(name: str = "eks-eu-west-1") -> Cluster:
    return Cluster.objects.get(name=name)


def environment(
    name: str, tier: str, *, team_slug: str = "core-platform", status: str = EnvironmentStatus.READY
) -> Environment:
    return Environment.objects.create(
        name=name,
        team=team(team_slug),
        template=EnvironmentTemplate.objects.get(slug="staging"),
        tier=tier,
        cluster=cluster(),
        requested_by=User.objects.get(username="admin"),
        status=status,
        monthly_estimate="10.00",
        currency="USD",
    )


def workload(
    service: Service, version: str, *, env: Environment | None = None, where: str = "eks-eu-west-1", **fields: Any
) -> Workload:
    values: dict[str, Any] = {
        "cluster": cluster(where),
        "namespace": f"{env.name}-core" if env is not None else "core-services",
        "name": f"{service.slug}-{version}-{env.name if env else where}",
        "service": service,
        "team": service.team,
        "environment": env,
        "tier": env.tier if env is not None else "",
        "version": version,
        "rolled_out_at": NOW - timedelta(hours=5),
        **fields,
    }
    return make_workload(**values)


def row_of(html: str, slug: str) -> str:
    start = html.index(f'data-service="{slug}"')
    return html[start : html.index("</tr>", start)]


# --- the matrix -----------------------------------------------------------------------------


def test_the_matrix_shows_each_services_version_health_and_age_per_environment(developer: Client) -> None:
    service = make_service(slug="checkout", name="Checkout", team=team())
    staging, production = environment("stage-x", Tier.STAGING), environment("prod-x", Tier.PRODUCTION)
    workload(service, "1.5.0", env=staging, health=Health.DEGRADED)
    workload(service, "1.4.0", env=production)

    html = developer.get(MATRIX).content.decode()

    row = row_of(html, "checkout")
    assert "stage-x" in html
    assert "prod-x" in html
    assert 'data-version="1.5.0"' in row
    assert 'data-version="1.4.0"' in row
    assert 'data-health="degraded"' in row
    assert 'data-health="healthy"' in row
    assert "5\xa0hours" in row


def test_a_version_other_than_productions_is_marked_as_drift(developer: Client) -> None:
    service = make_service(slug="checkout", team=team())
    staging, production = environment("stage-x", Tier.STAGING), environment("prod-x", Tier.PRODUCTION)
    workload(service, "1.5.0", env=staging)
    workload(service, "1.4.0", env=production)
    workload(service, "1.4.0", where="eks-ap-southeast-2")
    workload(service, "1.3.9", where="aks-eastus")

    row = row_of(developer.get(MATRIX).content.decode(), "checkout")

    cells = row.split("<td")[1:]
    drifted = {cell.split('data-version="')[1].split('"')[0] for cell in cells if "data-drift" in cell}
    assert drifted == {"1.5.0", "1.3.9"}


def test_without_production_the_most_common_version_is_the_reference(developer: Client) -> None:
    service = make_service(slug="checkout", team=team())
    for where in ("eks-eu-west-1", "eks-ap-southeast-2"):
        workload(service, "2.0.0", where=where)
    workload(service, "1.9.0", where="aks-eastus")

    row = row_of(developer.get(MATRIX).content.decode(), "checkout")

    assert row.count("data-drift") == 1
    assert 'data-drift data-version="1.9.0"' in row


def test_gone_workloads_and_torn_down_environments_are_not_in_the_matrix(developer: Client) -> None:
    service = make_service(slug="checkout", team=team())
    workload(service, "1.0.0", gone_at=NOW)
    ended = environment("old-env", Tier.STAGING, status=EnvironmentStatus.TORN_DOWN)
    workload(service, "0.9.0", env=ended)

    html = developer.get(MATRIX).content.decode()

    row = row_of(html, "checkout")
    assert "1.0.0" not in row
    assert "0.9.0" not in row
    assert "old-env" not in html


def test_several_workloads_in_one_place_are_counted_and_the_worst_health_shows(developer: Client) -> None:
    service = make_service(slug="checkout", team=team())
    workload(service, "1.0.0", name="checkout-api")
    workload(service, "1.0.0", name="checkout-worker", health=Health.DEGRADED)

    row = row_of(developer.get(MATRIX).content.decode(), "checkout")

    assert 'data-count="2"' in row
    assert 'data-health="degraded"' in row


def deployed(target: Workload, version: str, *, days_ago: int, service: Service | None = None) -> Deployment:
    return Deployment.objects.create(
        service=service or target.service,
        workload=target,
        cluster=target.cluster,
        team=target.team,
        version=version,
        source=DeploymentSource.PIPELINE,
        status=DeploymentStatus.SUCCEEDED,
        started_at=NOW - timedelta(days=days_ago),
    )


def cell_links(html: str, slug: str) -> dict[str, str]:
    """Each filled cell of a service's matrix row: its version -> where the version's link leads."""
    links = {}
    for cell in row_of(html, slug).split("<td")[1:]:
        if "data-cell-link" in cell:
            href = cell.split('href="')[1].split('"')[0]
            links[cell.split('data-version="')[1].split('"')[0]] = href
    return links


def test_each_matrix_cell_leads_to_the_deployment_that_put_its_version_there(developer: Client) -> None:
    service = make_service(slug="checkout", team=team())
    staging, production = environment("stage-x", Tier.STAGING), environment("prod-x", Tier.PRODUCTION)
    in_staging = workload(service, "1.5.0", env=staging)
    deployed(in_staging, "1.4.0", days_ago=3)
    newest = deployed(in_staging, "1.5.0", days_ago=1)
    # Production runs 1.4.0 in two workloads; the newer deployment of the two is the one the cell opens.
    api = workload(service, "1.4.0", env=production, name="checkout-api")
    worker = workload(service, "1.4.0", env=production, name="checkout-worker")
    deployed(api, "1.4.0", days_ago=4)
    latest_in_production = deployed(worker, "1.4.0", days_ago=2)
    # A workload the sync found that no recorded deployment reached leads to its pods.
    found = workload(service, "1.3.9", where="aks-eastus")

    links = cell_links(developer.get(MATRIX).content.decode(), "checkout")

    assert links == {
        "1.5.0": reverse("deployments:detail", args=[newest.pk]),
        "1.4.0": reverse("deployments:detail", args=[latest_in_production.pk]),
        "1.3.9": reverse("deployments:workload_kubernetes", args=[found.pk]),
    }
    assert developer.get(links["1.5.0"]).status_code == 200


def test_a_pipeline_deployment_into_the_environment_is_what_its_cell_opens(developer: Client) -> None:
    # A pipeline names the environment it deployed to, not the workload the cluster sync found later.
    service = make_service(slug="checkout", team=team())
    staging = environment("stage-x", Tier.STAGING)
    found = workload(service, "2.0.0", env=staging)
    deployed(found, "2.0.0", days_ago=5)
    into_staging = Deployment.objects.create(
        service=service,
        environment=staging,
        team=service.team,
        version="2.0.0",
        source=DeploymentSource.PIPELINE,
        status=DeploymentStatus.SUCCEEDED,
        started_at=NOW - timedelta(days=1),
    )
    Deployment.objects.create(  # the same version into another environment: not this cell's
        service=service,
        environment=environment("stage-y", Tier.STAGING),
        team=service.team,
        version="2.0.0",
        source=DeploymentSource.PIPELINE,
        status=DeploymentStatus.SUCCEEDED,
        started_at=NOW,
    )

    links = cell_links(developer.get(MATRIX).content.decode(), "checkout")

    assert links == {"2.0.0": reverse("deployments:detail", args=[into_staging.pk])}


def test_a_cell_of_mixed_versions_leads_to_a_deployment_of_the_version_it_shows(developer: Client) -> None:
    service = make_service(slug="checkout", team=team())
    majority = [workload(service, "2.0.0", name=f"checkout-{n}") for n in range(2)]
    odd_one = workload(service, "2.1.0", name="checkout-canary")
    shown = deployed(majority[1], "2.0.0", days_ago=2)
    deployed(odd_one, "2.1.0", days_ago=1)  # newer, but not the version the cell shows

    links = cell_links(developer.get(MATRIX).content.decode(), "checkout")

    assert links == {"2.0.0": reverse("deployments:detail", args=[shown.pk])}


def test_a_page_shows_at_most_forty_places_production_first_and_says_how_to_reach_the_rest(
    developer: Client,
) -> None:
    service = make_service(slug="checkout", team=team())
    for number in range(MATRIX_MAX_COLUMNS + 4):
        workload(service, "1.1.0", env=environment(f"stage-{number:02d}", Tier.STAGING))
    workload(service, "1.0.0", env=environment("prod-x", Tier.PRODUCTION))

    html = developer.get(MATRIX, {"team": "student-experience", "q": "checkout"}).content.decode()

    header = html[html.index("<thead>") : html.index("</thead>")]
    assert header.count("data-column=") == MATRIX_MAX_COLUMNS
    assert "prod-x" in header, "production is kept whatever else is cut"
    assert 'data-hidden-columns="5"' in html
    assert "5 more places where these services run are not shown" in html
    assert row_of(html, "checkout").count("<td") == MATRIX_MAX_COLUMNS
    # The API says the same; the service's own page shows every place.
    assert developer.get("/api/deployments/matrix/", {"q": "checkout"}).json()["hidden_columns"] == 5
    service_page = developer.get(reverse("deployments:service", args=["checkout"])).content.decode()
    assert service_page.count("data-cell-link") == MATRIX_MAX_COLUMNS + 5


def test_a_pages_columns_are_the_places_its_own_services_run(developer: Client) -> None:
    first = make_service(slug="aaa-first", name="Aaa first", team=team())
    workload(first, "1.0.0", env=environment("first-env", Tier.STAGING))
    later = make_service(slug="zzz-later", name="Zzz later", team=team())
    workload(later, "2.0.0", env=environment("later-env", Tier.STAGING))

    page_one = version_matrix(user=User.objects.get(username="developer"), page_size=1)

    assert [row.service.slug for row in page_one.rows] == ["aaa-first"]
    assert [column.label for column in page_one.columns] == ["first-env"]


def test_the_matrix_filters_by_team_region_health_environment_and_name(admin: Client) -> None:
    ours = make_service(slug="checkout", name="Checkout", team=team())
    theirs = make_service(slug="timetable", name="Timetable", team=team("tutor-tools"))
    staging = environment("stage-x", Tier.STAGING)
    workload(ours, "1.0.0", where="eks-ap-southeast-2", health=Health.DEGRADED)
    workload(theirs, "2.0.0", env=staging)

    def services(**query: str) -> set[str]:
        html = admin.get(MATRIX, query).content.decode()
        return {slug for slug in ("checkout", "timetable") if f'data-service="{slug}"' in html}

    assert services(team="tutor-tools") == {"timetable"}
    assert services(region=str(cluster("eks-ap-southeast-2").region_id)) == {"checkout"}
    assert services(health="degraded") == {"checkout"}
    assert services(environment=str(staging.pk)) == {"timetable"}
    assert services(q="check") == {"checkout"}


def test_htmx_filtering_answers_only_the_table(developer: Client) -> None:
    response = developer.get(MATRIX, {"q": "student"}, HTTP_HX_REQUEST="true")

    assert "<html" not in response.content.decode()
    assert "data-matrix" in response.content.decode()


def test_a_developer_sees_only_their_teams_services(developer: Client) -> None:
    make_service(slug="theirs", team=team("tutor-tools"))
    html = developer.get(MATRIX).content.decode()

    assert 'data-service="student-portal"' in html
    assert 'data-service="theirs"' not in html
    assert 'data-service="api-gateway"' not in html


def _grow(services: int, environments: int) -> None:
    places = [environment(f"env-{services}-{n}", Tier.STAGING) for n in range(environments)]
    for number in range(services):
        service = make_service(slug=f"grown-{services}-{number}", team=team())
        for place in places:
            workload(service, f"1.{number}.0", env=place)


def test_the_matrix_runs_the_same_queries_however_big_it_is(
    developer: Client, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    small = queries_for(developer, MATRIX)
    _grow(5, 3)
    assert queries_for(developer, MATRIX) == small
    _grow(30, 6)
    with django_assert_max_num_queries(small):
        assert developer.get(MATRIX).status_code == 200


# --- the service page -----------------------------------------------------------------------


def test_the_service_page_shows_owner_links_versions_and_a_timeline_newest_first(developer: Client) -> None:
    html = developer.get(reverse("deployments:service", args=["student-portal"])).content.decode()

    assert "Student Experience" in html
    assert "https://github.com/example-lms/student-portal" in html
    assert html.count("data-link") == 1  # the dashboard; the runbook and on-call schedule have their own lines
    assert 'href="https://wiki.example.com/runbooks/student-portal" rel="noopener noreferrer" data-runbook' in html
    assert 'href="https://example.pagerduty.com/schedules/student-portal" rel="noopener noreferrer" data-oncall' in html
    assert "4.7.0-rc.1" in html
    assert "4.6.0" in html
    timeline = html[html.index("data-timeline") :]
    assert timeline.index('data-entry="deployment"') < timeline.index("4.6.0")  # staging (newer) first
    assert 'data-entry="run"' in timeline


def test_the_timeline_pages(developer: Client) -> None:
    service = Service.objects.get(slug="enrolment")
    for day in range(30):
        record_deployment(
            Target(service=service, cluster=cluster(), namespace="x"),
            version=f"0.{day}.0",
            source=DeploymentSource.CLUSTER,
            started_at=NOW - timedelta(days=40 + day),
        )
    url = reverse("deployments:service", args=["enrolment"])

    first = developer.get(url).content.decode()
    second = developer.get(url, {"page": "2"}).content.decode()

    assert first.count('data-entry="') == 25
    assert "Page 1 of 2" in first
    assert "0.29.0" in second
    assert "0.29.0" not in first


def test_another_teams_service_page_is_a_404(developer: Client) -> None:
    assert developer.get(reverse("deployments:service", args=["api-gateway"])).status_code == 404


# --- a deployment's page ------------------------------------------------------------------------


def test_the_deployment_page_shows_the_image_diff_stages_progress_and_smoke_test(admin: Client) -> None:
    service = make_service(slug="checkout", team=team())
    source = WebhookSource.objects.create(name="gh", provider="github", secret="s3cret", team=team())
    run = PipelineRun.objects.create(
        source=source,
        provider="github",
        external_id="77-1",
        service=service,
        status=RunStatus.SUCCEEDED,
        stages=[
            {
                "name": "Build",
                "kind": "build",
                "status": "succeeded",
                "started_at": "2026-01-01T10:00:00+00:00",
                "finished_at": "2026-01-01T10:04:30+00:00",
            },
            {
                "name": "Scan",
                "kind": "security",
                "status": "succeeded",
                "started_at": "2026-01-01T10:04:30+00:00",
                "finished_at": "2026-01-01T10:05:00+00:00",
            },
            {"name": "Deploy", "kind": "deploy", "status": "succeeded"},
            {"name": "Smoke", "kind": "post_deploy", "status": "failed"},
        ],
        security={"critical": 1, "high": 2},
    )
    record_deployment(
        Target(service=service, cluster=cluster(), namespace="core-services"),
        version="1.0.0",
        source=DeploymentSource.CLUSTER,
        started_at=NOW - timedelta(days=2),
        images=["reg.example.com/checkout:1.0.0", "reg.example.com/sidecar:3", "reg.example.com/old:1"],
    )
    deployment = record_deployment(
        Target(service=service, cluster=cluster(), namespace="core-services"),
        version="1.1.0",
        source=DeploymentSource.PIPELINE,
        started_at=NOW,
        images=["reg.example.com/checkout:1.1.0", "reg.example.com/sidecar:3", "reg.example.com:5000/new"],
        pipeline_run=run,
        triggered_by="dana",
        commit_sha="abc1234def",
        strategy=Strategy.CANARY,
        progress={"step": 1, "steps": 4, "weight": 25},
        smoke_test=SmokeTest.FAILED,
    )

    html = admin.get(reverse("deployments:detail", args=[deployment.pk])).content.decode()

    assert "data-previous-version>1.0.0" in html
    diff = html[html.index("data-image-diff") :]
    assert 'data-change="changed"' in diff
    assert "reg.example.com/checkout" in diff
    assert 'data-change="added"' in diff
    assert "reg.example.com:5000/new" in diff
    assert 'data-change="removed"' in diff
    assert "reg.example.com/old" in diff
    assert 'data-change="same"' in diff
    assert "4 min 30 s" in html
    assert "30 s" in html
    assert 'data-findings="critical">1 critical' in html
    assert 'data-findings="high">2 high' in html
    assert 'data-stage="post_deploy"' in html
    assert '<progress class="w-100" max="100" value="25"' in html
    assert "Step 1 of 4" in html
    assert 'data-smoke-test="failed"' in html
    assert "dana" in html
    assert "abc1234def" in html


def test_a_deployment_outside_ones_scope_is_a_404(developer: Client) -> None:
    deployment = Deployment.objects.filter(service__slug="api-gateway").first()
    assert deployment is not None
    assert developer.get(reverse("deployments:detail", args=[deployment.pk])).status_code == 404


def test_the_demo_shows_a_failing_deployment_in_staging(developer: Client) -> None:
    failing = Deployment.objects.get(service__slug="student-portal", status=DeploymentStatus.FAILED)

    html = developer.get(reverse("deployments:detail", args=[failing.pk])).content.decode()

    assert "4.7.0-rc.1" in html
    assert 'data-smoke-test="failed"' in html
    assert 'data-stage="post_deploy"' in html
