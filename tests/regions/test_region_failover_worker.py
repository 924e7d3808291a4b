"""A failover carried out by real Celery worker processes; the first one killed in the middle of the promotion,
the second finishes it, and the partner holds exactly one promoted database.

The kill is placed without racing the worker: the test holds the DR partner's sandbox document, so the worker,
promoting the replica there, hangs inside its cloud call (as on a cloud that does not answer) until it is killed.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from portal.demo import load_demo
from regions.choices import FailoverStatus, RegionStatus, ResourceStatus
from regions.failover import services as failovers
from regions.models import FailoverRequest, Region, RegionResource
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until
from tests.regions.test_region_build import cloud_in
from tests.regions.test_region_failover import (
    DATABASE,
    PARTNER,
    PRIMARY,
    REPLICA,
    approve_failover,
    ask,
    built_region,
)
from workflows import engine
from workflows.models import Run, RunStatus, Step, StepStatus


def promote_step(run: Run) -> Step:
    return Step.objects.get(run=run, action="promote")


def status_of(failover: FailoverRequest) -> str:
    return FailoverRequest.objects.get(pk=failover.pk).status


def test_a_worker_killed_while_promoting_is_replaced_and_one_database_is_promoted(
    start_celery_worker: WorkerFactory, settings: Any, tmp_path: Path
) -> None:
    load_demo()
    settings.DATA_DIR = tmp_path  # the workers' sandbox is the same directory
    region = built_region()  # built here, before any worker runs
    worker_env = {
        "PORTAL_DATA_DIR": str(tmp_path),
        # A short lease, so a killed worker's run is free again within a second.
        "PORTAL_WORKFLOW_LEASE_SECONDS": "1",
    }
    first = start_celery_worker(env=worker_env)
    failover = ask(region)

    with cloud_in(PARTNER).paused():
        approved = approve_failover(failover)
        assert approved.status == FailoverStatus.RUNNING
        run = failovers.failover_run(failover)
        assert run is not None
        # The worker checked the replica and is inside the promotion, waiting on the partner: kill it there.
        wait_until(lambda: promote_step(run).status == StepStatus.RUNNING, timeout=60)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        killed = Run.objects.get(pk=run.pk)
        assert (killed.status, promote_step(run).attempts) == (RunStatus.RUNNING, 1)
        assert killed.lease_token, "the killed worker held the run"

    start_celery_worker(env=worker_env)
    # What beat does every 30 s: the lease ran out, so the run is enqueued again.
    wait_until(lambda: engine.sweep() or Run.objects.get(pk=run.pk).lease_token != killed.lease_token, timeout=20)
    wait_until(lambda: status_of(failover) in (FailoverStatus.DONE, FailoverStatus.FAILED), timeout=90)

    done = Run.objects.get(pk=run.pk)
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert promote_step(run).attempts == 2, "performed again by the second worker"
    assert [record["name"] for record in cloud_in(PARTNER).records("databases")] == [REPLICA]
    promoted = cloud_in(PARTNER).describe_database(REPLICA)
    assert (promoted.status, promoted.replica, promoted.backup_retention_days) == ("available", None, 14)
    assert cloud_in(PRIMARY).describe_database(DATABASE).replica is None
    assert RegionResource.objects.filter(kind="database", region__code=PARTNER).count() == 1
    assert RegionResource.objects.get(region=region, kind="database_replica").status == ResourceStatus.PROMOTED
    assert Region.objects.get(code=PARTNER).status == RegionStatus.ACTIVE
    assert Region.objects.get(pk=region.pk).status == RegionStatus.DEGRADED
