"""A region build-out whose Celery worker is killed between its steps is finished by another worker, and the
clouds and the cluster hold exactly one of each resource.

Real worker processes, the real ``regions.build`` workflow, the sandbox cloud
and cluster on a shared data directory. The kill is placed without racing the
worker: the test holds the sandbox cloud's document, so the worker, back at the
database step after waiting for it, hangs inside its cloud call (as on a cloud
that does not answer) until it is killed there.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from portal.demo import load_demo
from regions import services
from regions.choices import RegionRequestStatus, RegionStatus
from regions.models import Cluster, Namespace, NodePool, Region, RegionRequest, RegionResource
from regions.plan import SPEC_NAMESPACES, region_plan
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until
from tests.regions.test_region_build import ADDONS, approve, cloud_in, cloud_names, request_region, sandbox_kube
from workflows import engine
from workflows.models import Run, RunStatus, Step, StepStatus

DATABASE_STEP = "PostgreSQL database portal-eu-south-1-db"


def step_of(run: Run, name: str) -> Step:
    return Step.objects.get(run=run, name=name)


def status_of(request: RegionRequest) -> str:
    return RegionRequest.objects.get(pk=request.pk).status


def cloud_records(code: str) -> dict[str, list[tuple[str, str]]]:
    """Every record in the region's sandbox document: (name, when it was created), sorted."""
    cloud = cloud_in(code)
    return {kind: sorted((record["name"], record["created_at"]) for record in cloud.records(kind)) for kind in ADDONS}


def test_a_worker_killed_in_the_middle_of_a_build_out_is_replaced_and_nothing_is_made_twice(
    start_celery_worker: WorkerFactory, settings: Any, tmp_path: Path
) -> None:
    load_demo()
    settings.DATA_DIR = tmp_path  # the workers' sandbox is the same directory
    worker_env = {
        "PORTAL_DATA_DIR": str(tmp_path),
        # New resources report "creating" at first, so the steps wait for them as on a real cloud.
        "PORTAL_SANDBOX_LATENCY_SECONDS": "0.3",
        # A short lease, so a killed worker's run is free again within a second.
        "PORTAL_WORKFLOW_LEASE_SECONDS": "1",
    }
    first = start_celery_worker(env=worker_env)
    request = approve(request_region())
    run = services.build_run(request)
    assert run is not None
    plan = region_plan(request)

    # The first worker made the network, key, cluster and pools; the database is still creating: the step waits.
    wait_until(lambda: step_of(run, DATABASE_STEP).status == StepStatus.WAITING, timeout=90)
    made_before = cloud_records("eu-south-1")
    assert [name for name, _ in made_before["databases"]] == ["portal-eu-south-1-db"]
    assert made_before["caches"] == []

    with cloud_in("eu-south-1").paused():
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
    wait_until(lambda: status_of(request) in (RegionRequestStatus.READY, RegionRequestStatus.FAILED), timeout=120)

    done = Run.objects.get(pk=run.pk)
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert status_of(request) == RegionRequestStatus.READY
    assert step_of(run, DATABASE_STEP).attempts == 2, "performed again by the second worker"
    names = {item.kind: item.name for item in plan.resources}
    assert cloud_names("eu-south-1") == {
        "networks": [names["network"]],
        "keys": [names["key"]],
        "clusters": ["eks-eu-south-1"],
        "databases": [names["database"]],
        "caches": [names["cache"]],
        "buckets": [names["bucket"]],
    }, "the region holds exactly one of each resource"
    assert cloud_names("eu-west-3")["buckets"] == [f"{names['bucket']}-dr"]
    after = cloud_records("eu-south-1")
    for kind in ("networks", "keys", "clusters", "databases"):
        assert after[kind] == made_before[kind], f"a resource of {kind} made before the kill was recreated"
    (cluster_record,) = cloud_in("eu-south-1").records("clusters")
    assert sorted(cluster_record["node_pools"]) == ["general", "gpu", "highcpu"]
    kube = sandbox_kube("eu-south-1", "eks-eu-south-1")
    assert sorted(item["metadata"]["name"] for item in kube.objects("Namespace")) == sorted(SPEC_NAMESPACES)
    region = Region.objects.get(provider="aws", code="eu-south-1")
    assert region.status == RegionStatus.ACTIVE
    assert Cluster.objects.filter(region=region).count() == 1
    assert NodePool.objects.filter(cluster__region=region).count() == 3
    assert Namespace.objects.filter(cluster__region=region).count() == len(SPEC_NAMESPACES)
    assert RegionResource.objects.filter(request=request).count() == len(plan.resources)
