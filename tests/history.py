"""Years of history for the list pages to page through: thousands of environments and deployments, newest first
spread over time, across the demo's teams, templates, clusters and services (the benchmarks and the tests of the
lists' query plans build the same rows)."""

from __future__ import annotations

from datetime import timedelta
from itertools import cycle

from django.db import connection
from django.utils import timezone

from access.models import Team, Tier, User
from deployments.choices import DeploymentSource, DeploymentStatus
from deployments.models import Deployment, Service
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from regions.models import Cluster

PREFIX = "history-"
TIERS = [Tier.DEVELOPMENT, Tier.TEST, Tier.STAGING, Tier.PRODUCTION]


def build_environments(count: int) -> None:
    """``count`` environments of every team, one every 7 minutes back from now; most ended long ago."""
    teams = cycle(Team.objects.order_by("pk"))
    templates = cycle(EnvironmentTemplate.objects.order_by("pk"))
    clusters = cycle(Cluster.objects.order_by("pk"))
    admin = User.objects.get(username="admin")
    ended = [EnvironmentStatus.TORN_DOWN] * 8 + [EnvironmentStatus.FAILED, EnvironmentStatus.CANCELLED]
    Environment.objects.bulk_create(
        Environment(
            name=f"{PREFIX}{n}",
            team=next(teams),
            template=next(templates),
            tier=TIERS[n % len(TIERS)],
            cluster=next(clusters),
            requested_by=admin,
            status=EnvironmentStatus.READY if n % 20 == 0 else ended[n % len(ended)],
            monthly_estimate="1.00",
            currency="USD",
        )
        for n in range(count)
    )
    # created_at is set on insert; spread it as years of requests would have.
    newest = timezone.now() - timedelta(minutes=1)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Environment._meta.db_table} SET created_at = %s - (id * interval '7 minutes') "  # noqa: S608  # names from the model
            "WHERE name LIKE %s",
            [newest, f"{PREFIX}%"],
        )
        cursor.execute(f"ANALYZE {Environment._meta.db_table}")


def build_deployments(count: int) -> None:
    """``count`` deployments of ten services of each team, one every 3 minutes back from now."""
    services = Service.objects.bulk_create(
        Service(
            slug=f"{PREFIX}{team.slug}-{n}", name=f"History {team.name} {n}", team=team, namespace_group="core-services"
        )
        for team in Team.objects.order_by("pk")
        for n in range(10)
    )
    clusters = list(Cluster.objects.order_by("pk"))
    now = timezone.now()
    statuses = [DeploymentStatus.SUCCEEDED] * 8 + [DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK]
    Deployment.objects.bulk_create(
        Deployment(
            service=(service := services[n % len(services)]),
            team=service.team,
            cluster=clusters[n % len(clusters)],
            namespace="core-services",
            tier=TIERS[n % len(TIERS)],
            version=f"{PREFIX}1.{n}.0",
            status=statuses[n % len(statuses)],
            source=DeploymentSource.PIPELINE,
            started_at=now - timedelta(minutes=3 * n + 1),
        )
        for n in range(count)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Deployment._meta.db_table}")
