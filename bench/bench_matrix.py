"""The version matrix at 200 services x 34 environments: its selector, its template and its page against reading
the same rows with one query and against a bare page (``BENCH_MATRIX_SERVICES`` services, 20 at smoke size;
``BENCH_MATRIX_ENVIRONMENTS`` environments, 12 at smoke size).

Baselines: one ``values_list`` query of every present workload of the
services (what the matrix cannot do with less), and a bare view behind the
same middleware (bench/bare.py: what any page costs). Selector:
``version_matrix`` with all the services on one page (columns, grouping,
drift). Template: ``_matrix.html`` rendered from a matrix already built (50
services a page: the cells' markup alone). Page: the matrix page as a
developer's browser gets it (50 services a page, filters, template), through
Django's test client.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.models import Team, Tier, User
from bench.bare import BARE_URL
from bench.report import best_of, report, timed
from bench.sizes import size
from deployments import selectors
from deployments.filtersets import MatrixFilterForm
from deployments.models import Service, Workload
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from portal.demo import Persona
from regions.models import Cluster

SERVICES = size("BENCH_MATRIX_SERVICES", full=200, smoke=20)
ENVIRONMENTS = size("BENCH_MATRIX_ENVIRONMENTS", full=34, smoke=12)
RUNS = 5


def _build() -> list[int]:
    team = Team.objects.get(slug="student-experience")
    cluster = Cluster.objects.get(name="eks-eu-west-1")
    admin = User.objects.get(username="admin")
    template = EnvironmentTemplate.objects.get(slug="staging")
    tiers = [Tier.DEVELOPMENT, Tier.TEST, Tier.STAGING, Tier.PRODUCTION]
    healths = ["healthy", "healthy", "healthy", "progressing", "degraded", "unknown"]
    environments = Environment.objects.bulk_create(
        Environment(
            name=f"bench-{n}",
            team=team,
            template=template,
            tier=tiers[n % 4],
            cluster=cluster,
            requested_by=admin,
            status=EnvironmentStatus.READY,
            monthly_estimate="1.00",
            currency="USD",
        )
        for n in range(ENVIRONMENTS)
    )
    services = Service.objects.bulk_create(
        Service(slug=f"bench-{n:03d}", name=f"Bench {n:03d}", team=team, namespace_group="student-services")
        for n in range(SERVICES)
    )
    now = timezone.now()
    Workload.objects.bulk_create(
        Workload(
            cluster=cluster,
            namespace=f"{environment.name}-student-services",
            kind="Deployment",
            name=service.slug,
            service=service,
            environment=environment,
            team=team,
            tier=environment.tier,
            version=f"1.{(n + e) % 3}.0",
            health=healths[(n * 7 + e) % len(healths)],
            # Every cell a different age, as on a real page (minutes to weeks).
            rolled_out_at=now - timedelta(minutes=(n * ENVIRONMENTS + e) * 37),
            first_seen_at=now,
            last_seen_at=now,
        )
        for n, service in enumerate(services)
        for e, environment in enumerate(environments)
    )
    return [service.pk for service in services]


def _queries(action: Callable[[], object]) -> int:
    with CaptureQueriesContext(connection) as captured:
        action()
    return len(captured.captured_queries)


@pytest.mark.django_db
@pytest.mark.urls("bench.bare")
def bench_matrix_at_200_services_by_34_environments(client_for: Callable[[Persona | None], Client]) -> None:
    service_ids = _build()
    developer = client_for(Persona.DEVELOPER)
    user = User.objects.get(username="developer")
    shown = min(SERVICES, selectors.MATRIX_PAGE_SIZE)

    def baseline() -> float:
        with timed() as watch:
            rows = list(
                Workload.objects.filter(service_id__in=service_ids, gone_at__isnull=True).values_list(
                    "pk", "service_id", "environment_id", "cluster_id", "version", "health", "rolled_out_at"
                )
            )
        assert len(rows) == SERVICES * ENVIRONMENTS
        return watch.seconds

    def bare() -> float:
        with timed() as watch:
            response = developer.get(BARE_URL)
        assert response.status_code == 200
        return watch.seconds

    def selector() -> float:
        with timed() as watch:
            matrix = selectors.version_matrix(user=user, page_size=SERVICES, filters=selectors.MatrixFilters(q="bench"))
        assert len(matrix.rows) == SERVICES
        assert sum(len(row.cells) for row in matrix.rows) == SERVICES * ENVIRONMENTS
        return watch.seconds

    form = MatrixFilterForm({"q": "bench"}, user=user)
    assert form.is_valid()

    def template() -> float:
        matrix = selectors.version_matrix(user=user, filters=form.filters())  # fresh cells: nothing worked out yet
        context = {"form": form, "matrix": matrix, "page": matrix.page}
        with timed() as watch:
            html = render_to_string("deployments/_matrix.html", context)
        assert html.count("data-cell-link") == shown * ENVIRONMENTS
        return watch.seconds

    def page() -> float:
        with timed() as watch:
            response = developer.get("/deployments/", {"q": "bench"})
        assert response.status_code == 200
        assert response.content.count(b"data-cell-link") == shown * ENVIRONMENTS
        return watch.seconds

    page()  # warm the templates and the user's rules
    direct, built = best_of(RUNS, baseline), best_of(RUNS, selector)
    nothing, drawn, rendered = best_of(RUNS, bare), best_of(RUNS, template), best_of(RUNS, page)
    size_of_page = len(developer.get("/deployments/", {"q": "bench"}).content)
    queries = _queries(lambda: developer.get("/deployments/", {"q": "bench"}))
    report(
        f"version matrix, {SERVICES} services x {ENVIRONMENTS} environments ({SERVICES * ENVIRONMENTS} workloads)",
        [
            ("one query of the same rows", f"{1000 * direct:.1f} ms"),
            ("bare page, same middleware", f"{1000 * nothing:.1f} ms"),
            (f"selector, all {SERVICES} rows", f"{1000 * built:.1f} ms ({built / direct:.1f}x the query)"),
            (
                f"template, {shown} rows ({shown * ENVIRONMENTS} cells)",
                f"{1000 * drawn:.1f} ms ({drawn / nothing:.1f}x the bare page)",
            ),
            ("page, 50 rows a page", f"{1000 * rendered:.1f} ms ({rendered / nothing:.1f}x the bare page)"),
            ("size of the page", f"{size_of_page / 1024:.0f} KB"),
            ("queries of the page", str(queries)),
        ],
    )
