"""A full-stack environment whose Celery worker is killed in the middle of provisioning is finished by another
worker, and the cluster and the cloud hold exactly one of everything.

Real worker processes, the real environment workflow, the sandbox cluster and
cloud drivers on a shared data directory. The kill is placed without racing
the worker: the test holds the sandbox cloud's document, so the worker hangs
inside its cloud call (as on a cloud that does not answer) until it is killed.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from access.models import Team, User
from approvals import services as approvals
from approvals.models import ApprovalRequest
from environments import services
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from environments.workflows import LABEL_PREFIX, EnvironmentPlan
from portal.demo import Persona, load_demo, username_of
from providers.sandbox.cloud import SandboxCloudDriver
from providers.sandbox.cluster import SandboxClusterDriver
from regions.drivers import cloud_driver_for, cluster_driver_for
from regions.models import Cluster
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until
from workflows import engine
from workflows.models import Run, RunStatus, Step, StepStatus

# What each of the environment's namespaces holds besides itself, by kind: the names the workflow gives them.
IN_EVERY_NAMESPACE = {
    "ResourceQuota": "portal-quota",
    "LimitRange": "portal-limits",
    "NetworkPolicy": "portal-default-deny",
    "RoleBinding": "portal-team-edit",
}
CLUSTER_KINDS = ("Namespace", *IN_EVERY_NAMESPACE, "Ingress")
ADD_ONS = ("databases", "caches", "buckets")
DATABASE_STEP = "PostgreSQL database"


def status_of(environment: Environment) -> str:
    return Environment.objects.get(pk=environment.pk).status


def step_of(run: Run, name: str) -> Step:
    return Step.objects.get(run=run, name=name)


def cluster_objects(kube: SandboxClusterDriver) -> dict[str, list[tuple[str, str, str]]]:
    """Every object of the environment's kinds in the sandbox cluster, by kind: (namespace, name, uid), sorted.

    The demo puts nothing there, so anything made twice under another name, labelled or not, shows up.
    """
    return {
        kind: sorted(
            (item["metadata"].get("namespace", ""), item["metadata"]["name"], item["metadata"]["uid"])
            for item in kube.objects(kind)
        )
        for kind in CLUSTER_KINDS
    }


def cloud_records(cloud: SandboxCloudDriver) -> dict[str, list[tuple[str, str]]]:
    """Every add-on in the sandbox cloud's region, by kind: (name, when it was created), sorted."""
    return {kind: sorted((record["name"], record["created_at"]) for record in cloud.records(kind)) for kind in ADD_ONS}


def environment_ids(kube: SandboxClusterDriver, cloud: SandboxCloudDriver) -> set[str]:
    """The environment ids the sandbox's objects and add-ons are labelled or tagged with."""
    labels = {
        item["metadata"].get("labels", {}).get(f"{LABEL_PREFIX}/environment-id", "")
        for kind in CLUSTER_KINDS
        for item in kube.objects(kind)
    }
    tags = {record["tags"].get("portal:environment-id", "") for kind in ADD_ONS for record in cloud.records(kind)}
    return labels | tags


def names(objects: dict[str, list[Any]]) -> dict[str, list[tuple[str, ...]]]:
    """The same without the uids and creation times: what exists, not which incarnation of it."""
    return {kind: [tuple(item[:-1]) for item in items] for kind, items in objects.items()}


def test_a_worker_killed_while_provisioning_a_full_stack_is_replaced_and_nothing_is_made_twice(
    start_celery_worker: WorkerFactory, settings: Any, tmp_path: Path
) -> None:
    load_demo()
    settings.DATA_DIR = tmp_path  # the workers' sandbox is the same directory
    worker_env = {
        "PORTAL_DATA_DIR": str(tmp_path),
        # New add-ons report "creating" at first, so the add-on steps wait for them as on a real cloud.
        "PORTAL_SANDBOX_LATENCY_SECONDS": "0.3",
        # A short lease, so a killed worker's run is free again within a second.
        "PORTAL_WORKFLOW_LEASE_SECONDS": "1",
    }
    first = start_celery_worker(env=worker_env)
    developer = User.objects.get(username=username_of(Persona.DEVELOPER))
    lead = User.objects.get(username=username_of(Persona.TEAM_LEAD))
    cluster = Cluster.objects.select_related("region__account").get(name="eks-eu-west-1")
    kube, cloud = cluster_driver_for(cluster), cloud_driver_for(cluster.region)
    assert isinstance(kube, SandboxClusterDriver)
    assert isinstance(cloud, SandboxCloudDriver)

    environment = services.environment_request(
        actor=developer,
        team=Team.objects.get(slug="student-experience"),
        template=EnvironmentTemplate.objects.get(slug="staging"),  # six namespaces, PostgreSQL, Redis, a bucket
        cluster=cluster,
        name="killed-staging",
    )
    approvals.decide(ApprovalRequest.objects.get(subject_id=str(environment.pk)).pk, approver=lead, approve=True)
    run = services.provisioning_run(environment)
    assert run is not None
    plan = EnvironmentPlan.from_params(run.params)
    namespaces = [plan.namespace_name(namespace) for namespace in plan.namespaces]
    expected = {
        "Namespace": sorted(("", namespace) for namespace in namespaces),
        **{kind: sorted((namespace, name) for namespace in namespaces) for kind, name in IN_EVERY_NAMESPACE.items()},
        "Ingress": [(namespaces[0], "portal-ingress")],
    }
    expected_add_ons = {
        "databases": [(plan.resource_name("db"),)],
        "caches": [(plan.resource_name("redis"),)],
        "buckets": [(plan.bucket_name(),)],
    }
    assert len(namespaces) == 6

    # The first worker made every cluster object and the database, which is still creating: the step waits.
    wait_until(lambda: step_of(run, DATABASE_STEP).status == StepStatus.WAITING, timeout=60)
    made_in_the_cluster = cluster_objects(kube)
    made_in_the_cloud = cloud_records(cloud)
    assert names(made_in_the_cluster) == expected
    assert names(made_in_the_cloud) == {**expected_add_ons, "caches": [], "buckets": []}

    with cloud.paused():
        # The worker comes back to the database (5 s later) and hangs inside its cloud call: kill it there.
        wait_until(lambda: step_of(run, DATABASE_STEP).status != StepStatus.WAITING, timeout=30)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        killed = Run.objects.get(pk=run.pk)
        database = step_of(run, DATABASE_STEP)
        assert (killed.status, database.status, database.attempts) == (RunStatus.RUNNING, StepStatus.RUNNING, 1), (
            "the worker was not killed in the middle of the database step"
        )
        assert killed.lease_token, "the killed worker held the run"
        assert not killed.steps.filter(status=StepStatus.SUCCEEDED, position__gt=database.position).exists()

    start_celery_worker(env=worker_env)
    # What beat does every 30 s: the lease ran out, so the run is enqueued again.
    wait_until(lambda: engine.sweep() or Run.objects.get(pk=run.pk).lease_token != killed.lease_token, timeout=20)
    wait_until(lambda: status_of(environment) == EnvironmentStatus.READY, timeout=60)

    done = Run.objects.get(pk=run.pk)
    assert done.status == RunStatus.SUCCEEDED
    assert step_of(run, DATABASE_STEP).attempts == 2, "performed again by the second worker"
    in_the_cluster = cluster_objects(kube)
    in_the_cloud = cloud_records(cloud)
    assert names(in_the_cluster) == expected, "the cluster holds exactly one of each object"
    assert names(in_the_cloud) == expected_add_ons, "the cloud holds exactly one of each add-on"
    assert environment_ids(kube, cloud) == {str(environment.pk)}, "everything carries the environment's labels"
    assert in_the_cluster == made_in_the_cluster, "an object made before the kill was recreated"
    assert in_the_cloud["databases"] == made_in_the_cloud["databases"], "the database was recreated"

    services.environment_teardown(actor=developer, environment_id=environment.pk)
    wait_until(lambda: status_of(environment) == EnvironmentStatus.TORN_DOWN, timeout=60)
    assert cluster_objects(kube) == {kind: [] for kind in CLUSTER_KINDS}
    assert cloud_records(cloud) == {kind: [] for kind in ADD_ONS}
