"""Deployments seen by several sources are one deployment; a new version records what it replaced."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.choices import DeploymentSource, DeploymentStatus, SmokeTest, Strategy
from deployments.models import Deployment, Service, Workload
from deployments.services import MERGE_WINDOW, Target, record_deployment
from tests.factories import make_service, make_workload

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def service() -> Service:
    return make_service(slug="checkout")


@pytest.fixture
def workload(service: Service) -> Workload:
    return make_workload(name="checkout", service=service, team=service.team)


def target(service: Service, workload: Workload | None = None) -> Target:
    cluster = workload.cluster if workload is not None else None
    return Target(service=service, cluster=cluster, namespace="core-services" if cluster else "", workload=workload)


def test_the_pipelines_report_and_the_syncs_are_one_deployment_with_what_each_knows(
    service: Service, workload: Workload
) -> None:
    from_pipeline = record_deployment(
        Target(service=service, cluster=workload.cluster, namespace="core-services"),
        version="1.4.0",
        source=DeploymentSource.PIPELINE,
        started_at=NOW,
        commit_sha="abc123",
        commit_at=NOW - timedelta(hours=2),
        triggered_by="dana",
        strategy=Strategy.CANARY,
        progress={"step": 1, "steps": 4, "weight": 10},
    )
    from_sync = record_deployment(
        target(service, workload),
        version="1.4.0",
        source=DeploymentSource.CLUSTER,
        started_at=NOW + timedelta(minutes=3),
        status=DeploymentStatus.SUCCEEDED,
        finished_at=NOW + timedelta(minutes=4),
        images=["registry.example.com/checkout:1.4.0"],
        revision=7,
        progress={"step": 4, "steps": 4, "weight": 100},
    )

    assert from_sync.pk == from_pipeline.pk
    deployment = Deployment.objects.get()
    assert deployment.source == DeploymentSource.PIPELINE  # who told us first
    assert (deployment.commit_sha, deployment.triggered_by, deployment.strategy) == ("abc123", "dana", Strategy.CANARY)
    assert (deployment.workload, deployment.revision, deployment.images) == (
        workload,
        7,
        ["registry.example.com/checkout:1.4.0"],
    )
    assert deployment.status == DeploymentStatus.SUCCEEDED
    assert deployment.started_at == NOW  # the earlier start
    assert deployment.progress == {"step": 4, "steps": 4, "weight": 100}
    assert deployment.team == service.team


def test_a_new_version_records_the_one_it_replaced(service: Service, workload: Workload) -> None:
    record_deployment(
        target(service, workload),
        version="1.3.0",
        source=DeploymentSource.CLUSTER,
        started_at=NOW - timedelta(days=1),
        images=["registry.example.com/checkout:1.3.0"],
    )

    newer = record_deployment(
        target(service, workload), version="1.4.0", source=DeploymentSource.CLUSTER, started_at=NOW
    )

    assert (newer.previous_version, newer.previous_images) == ("1.3.0", ["registry.example.com/checkout:1.3.0"])
    assert Deployment.objects.count() == 2


def test_a_final_status_never_goes_back_and_the_smoke_test_is_kept(service: Service, workload: Workload) -> None:
    record_deployment(
        target(service, workload),
        version="1.4.0",
        source=DeploymentSource.PIPELINE,
        started_at=NOW,
        status=DeploymentStatus.FAILED,
        smoke_test=SmokeTest.FAILED,
    )

    late = record_deployment(
        target(service, workload), version="1.4.0", source=DeploymentSource.CLUSTER, started_at=NOW
    )

    assert (late.status, late.smoke_test) == (DeploymentStatus.FAILED, SmokeTest.FAILED)


def test_the_same_version_again_after_the_window_is_a_new_deployment(service: Service, workload: Workload) -> None:
    first = record_deployment(
        target(service, workload), version="1.4.0", source=DeploymentSource.CLUSTER, started_at=NOW
    )

    again = record_deployment(
        target(service, workload),
        version="1.4.0",
        source=DeploymentSource.CLUSTER,
        started_at=NOW + MERGE_WINDOW + timedelta(minutes=1),
    )

    assert again.pk != first.pk
    assert again.previous_version == "1.4.0"


def test_deployments_in_different_places_are_kept_apart(service: Service, workload: Workload) -> None:
    other = make_workload(name="checkout", service=service, namespace="staging")

    record_deployment(target(service, workload), version="1.4.0", source=DeploymentSource.CLUSTER, started_at=NOW)
    elsewhere = record_deployment(
        Target(service=service, cluster=other.cluster, namespace="staging", workload=other),
        version="1.4.0",
        source=DeploymentSource.CLUSTER,
        started_at=NOW,
    )

    assert Deployment.objects.count() == 2
    assert elsewhere.previous_version == ""


def test_a_target_needs_a_service_or_a_workload() -> None:
    with pytest.raises(ValueError, match="needs a service or a workload"):
        Target()
