"""A rollback end to end: asked in the portal, carried out by a real Celery worker process through the
official Kubernetes client against the fake API server, recorded as a deployment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from access.models import Team, Tier, User
from deployments.choices import DeploymentSource, DeploymentStatus, RollbackStatus
from deployments.models import Deployment, RollbackRequest
from deployments.rollbacks.services import rollback_request
from deployments.services import Target, record_deployment
from portal.demo import Persona, load_demo, username_of
from regions.choices import AuthMethod, ClusterKind
from tests.deployments.cluster_objects import seed_deployment
from tests.factories import (
    CloudAccountFactory,
    ClusterFactory,
    OnPremRegionFactory,
    make_service,
    make_workload,
)
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until
from tests.providers.kube_fake import FakeKubeApi

IMAGES = ["registry.example.com/checkout:1.3.0", "registry.example.com/checkout:1.4.0"]
NAMESPACE = "core-services"


@pytest.fixture
def fake_api() -> Iterator[tuple[FakeKubeApi, str]]:
    fake = FakeKubeApi()
    host = fake.start(tls=True)
    yield fake, host
    fake.stop()


def test_a_worker_rolls_the_deployment_back_through_the_kubernetes_api(
    start_celery_worker: WorkerFactory, fake_api: tuple[FakeKubeApi, str], settings: Any
) -> None:
    fake, _ = fake_api
    load_demo()
    settings.PROVIDER_MODE = "live"  # the k3s cluster is reached with its kubeconfig, here and in the worker
    # The fake API server is on loopback: opened as an administrator opens a centre's private range.
    settings.CLUSTER_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    start_celery_worker(env={"PORTAL_PROVIDER_MODE": "live", "PORTAL_CLUSTER_PRIVATE_NETWORKS": "127.0.0.1/32"})
    developer = User.objects.get(username=username_of(Persona.DEVELOPER))
    team = Team.objects.get(slug="student-experience")
    site = OnPremRegionFactory.create(
        account=CloudAccountFactory.create(provider="on_prem", auth_method=AuthMethod.SANDBOX, role_arn="")
    )
    cluster = ClusterFactory.create(region=site, kind=ClusterKind.K3S, kubeconfig=fake.kubeconfig())
    seed_deployment(fake.put, NAMESPACE, "checkout", IMAGES)
    service = make_service(slug="checkout", team=team)
    workload = make_workload(
        cluster=cluster,
        namespace=NAMESPACE,
        name="checkout",
        service=service,
        team=team,
        tier=Tier.STAGING,
        images=IMAGES[-1:],
        version="1.4.0",
        revision=2,
    )
    bad = record_deployment(
        Target(service=service, cluster=cluster, namespace=NAMESPACE, workload=workload),
        version="1.4.0",
        source=DeploymentSource.PIPELINE,
        started_at=timezone.now(),
        status=DeploymentStatus.SUCCEEDED,
    )
    fake.requests.clear()

    rollback = rollback_request(actor=developer, workload_id=workload.pk, to_revision=1, reason="checkout 500s")

    wait_until(
        lambda: RollbackRequest.objects.get(pk=rollback.pk).status in (RollbackStatus.SUCCEEDED, RollbackStatus.FAILED),
        timeout=60,
    )
    rollback.refresh_from_db()
    assert (rollback.status, rollback.error) == (RollbackStatus.SUCCEEDED, "")
    (deployment,) = fake.objects("Deployment", NAMESPACE)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGES[0]
    patches = [request for request in fake.requests if request[0] == "PATCH"]
    assert len(patches) == 1, patches  # one rollback, not one per try
    assert patches[0][1].endswith(f"/namespaces/{NAMESPACE}/deployments/checkout")
    made = Deployment.objects.get(source=DeploymentSource.ROLLBACK)
    assert (made.version, made.previous_version) == ("1.3.0", "1.4.0")
    bad.refresh_from_db()
    assert (bad.status, bad.rolled_back_by) == (DeploymentStatus.ROLLED_BACK, made)
