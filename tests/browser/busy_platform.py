"""The demo platform with what makes pages long and wide, for the accessibility and layout browser tests.

On top of the demo (regions, clusters, environments, the version matrix): a month of costs for
two teams, a ready environment with endpoints and add-ons, and a region request waiting for
approval whose justification is one unbroken 2,000-character word. Returns the addresses of
the pages that show them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from access.models import Team, Tier, User
from approvals.models import ApprovalRequest
from deployments.models import Deployment
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from environments.services import PROVISION
from regions.models import Cluster, Region
from tests.costs.cost_world import PLATFORM, STUDENTS, load_rows, row
from tests.regions.test_region_build import request_region
from workflows.models import Run, RunStatus, Step, StepStatus

# A justification pasted without a single space: it must wrap, never widen the page.
UNBROKEN_JUSTIFICATION = "Latency" * 285 + "Italy"


@dataclass(frozen=True)
class BusyPlatform:
    environment: str
    region: str
    region_request: str
    approval: str
    service: str
    deployment: str
    cluster: str


def _ready_environment_with_add_ons(cluster: Cluster) -> Environment:
    team = Team.objects.get(slug=STUDENTS)
    environment = Environment.objects.create(
        name="checkout-staging",
        team=team,
        template=EnvironmentTemplate.objects.get(slug="staging"),
        tier=Tier.STAGING,
        cluster=cluster,
        requested_by=User.objects.get(username="developer"),
        status=EnvironmentStatus.READY,
        monthly_estimate=Decimal("412.50"),
        currency="USD",
        expires_at=timezone.now() + timedelta(days=3),
    )
    run = Run.objects.create(
        kind=PROVISION,
        key=f"environment:{environment.pk}:provision",
        subject_type=ContentType.objects.get_for_model(Environment),
        subject_id=str(environment.pk),
        status=RunStatus.SUCCEEDED,
    )
    outputs = [
        ("Namespace", "namespace", {"namespace": "checkout-staging-student-experience"}),
        ("Ingress", "ingress", {"url": "https://checkout-staging.student-experience.apps.eu-west-1.example.com/"}),
        (
            "Database",
            "database",
            {
                "name": "checkout-staging-student-experience-postgres",
                "endpoint": "checkout-staging-student-experience-postgres.c9akciq32.eu-west-1.rds.amazonaws.com:5432",
                "credentials_reference": (
                    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:checkout-staging-db-AbCdEf"
                ),
            },
        ),
        (
            "Cache",
            "cache",
            {"name": "checkout-staging-cache", "endpoint": "checkout-staging-cache.abc123.cache.amazonaws.com:6379"},
        ),
    ]
    for position, (name, action, output) in enumerate(outputs):
        Step.objects.create(
            run=run, position=position, name=name, action=action, status=StepStatus.SUCCEEDED, output=output
        )
    return environment


def _a_month_of_costs() -> None:
    today = timezone.localdate()
    days = [today - timedelta(days=n) for n in range(10)]
    services = ["Amazon Elastic Compute Cloud", "Amazon Relational Database Service", "Amazon Simple Storage Service"]
    load_rows(
        [
            row(day, f"{10 + n}.25", team=team, ServiceName=service, Tags={"portal:service": "student-portal"})
            for n, day in enumerate(days)
            for team in (STUDENTS, PLATFORM)
            for service in services
        ]
        + [row(day, "1.00") for day in days]
    )


def a_busy_platform() -> BusyPlatform:
    """What the accessibility and layout tests look at, on top of the demo; the addresses of its pages."""
    region = Region.objects.get(code="eu-west-1")
    cluster = Cluster.objects.get(name="eks-eu-west-1")
    environment = _ready_environment_with_add_ons(cluster)
    _a_month_of_costs()
    region_request = request_region(justification=UNBROKEN_JUSTIFICATION)
    approval = ApprovalRequest.objects.get(subject_id=str(region_request.pk), status="pending")
    deployment = Deployment.objects.filter(service__slug="student-portal").order_by("-pk").first()
    assert deployment is not None, "the demo has deployments of the student portal"
    return BusyPlatform(
        environment=f"/environments/{environment.pk}/",
        region=f"/regions/{region.provider}/{region.code}/",
        region_request=f"/regions/requests/{region_request.pk}/",
        approval=f"/approvals/{approval.pk}/",
        service="/deployments/services/student-portal/",
        deployment=f"/deployments/{deployment.pk}/",
        cluster=f"/regions/{region.provider}/{region.code}/clusters/{cluster.name}/",
    )
