"""An approved environment request is provisioned by a real Celery worker process, not in eager mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from access.models import Team, User
from approvals import services as approvals
from approvals.models import ApprovalRequest
from environments import services
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from portal.demo import Persona, load_demo, username_of
from providers.sandbox.cluster import SandboxClusterDriver
from regions.drivers import cluster_driver_for
from regions.models import Cluster
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until


def status_of(environment: Environment) -> str:
    return Environment.objects.get(pk=environment.pk).status


def test_an_approved_request_is_provisioned_to_ready_by_the_worker_and_torn_down(
    start_celery_worker: WorkerFactory, settings: Any, tmp_path: Path
) -> None:
    load_demo()
    settings.DATA_DIR = tmp_path  # the worker's sandbox is the same directory
    start_celery_worker(env={"PORTAL_DATA_DIR": str(tmp_path)})
    developer = User.objects.get(username=username_of(Persona.DEVELOPER))
    lead = User.objects.get(username=username_of(Persona.TEAM_LEAD))
    cluster = Cluster.objects.select_related("region__account").get(name="eks-eu-west-1")

    environment = services.environment_request(
        actor=developer,
        team=Team.objects.get(slug="student-experience"),
        template=EnvironmentTemplate.objects.get(slug="preview"),
        cluster=cluster,
        name="worker-preview",
        ttl_hours=100,  # past the template's maximum: the team lead must approve
    )
    assert environment.status == EnvironmentStatus.PENDING_APPROVAL
    approval = ApprovalRequest.objects.get(subject_id=str(environment.pk))
    approvals.decide(approval.pk, approver=lead, approve=True)

    wait_until(lambda: status_of(environment) == EnvironmentStatus.READY, timeout=60)
    driver = cluster_driver_for(cluster)
    assert isinstance(driver, SandboxClusterDriver)
    namespaces = [item["metadata"]["name"] for item in driver.objects("Namespace")]
    assert namespaces.count("worker-preview-core-services") == 1

    services.environment_teardown(actor=developer, environment_id=environment.pk)
    wait_until(lambda: status_of(environment) == EnvironmentStatus.TORN_DOWN, timeout=60)
    assert "worker-preview-core-services" not in [item["metadata"]["name"] for item in driver.objects("Namespace")]
