"""The failover workflow through the real cloud drivers while the clouds misbehave (the harness of
tests/providers/faults.py: throttling, 5xx, "another operation in progress", answers lost after the cloud did
the work, a worker killed in the promotion call).

The region is built with the faults paused; the failover runs under them. It ends done, or failed with the
cloud's reason in words and then done after the retries an operator presses (a failover has no undo); either way
exactly one database serves in the partner, nothing replicates any more, and the inventory records it once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from providers.aws.cloud import AwsCloudDriver
from regions.choices import FailoverStatus, RegionStatus, ResourceStatus
from regions.failover import services as failovers
from regions.models import FailoverRequest, Region, RegionResource
from tests.providers.azure_fake import FakeAzure
from tests.providers.conftest_cloud import moto_endpoint
from tests.providers.faults import AFTER, Faults, azure_inventory
from tests.regions.test_region_build import admin, approve, build
from tests.regions.test_region_build_faults import assert_told_in_words, faulty, run_through, sweeps
from tests.regions.test_region_clouds import aws, azure, azure_request, kube
from tests.regions.test_region_failover import DATABASE, PARTNER, PRIMARY, REPLICA, approve_failover, ask, built_region
from workflows.models import Run, RunStatus

__all__ = ["aws", "azure", "faulty", "kube", "moto_endpoint", "sweeps"]  # fixtures, imported so pytest finds them

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]


def fail_over(failover: FailoverRequest, sweeps: list[int]) -> Run:
    """Carry the failover out; a failed run is retried (as from its page) until it is done."""
    run = failovers.failover_run(failover)
    assert run is not None, "the approval started no failover"
    run = run_through(run, sweeps)
    for _ in range(5):
        if run.status != RunStatus.FAILED:
            break
        assert_told_in_words(run.error)
        failovers.failover_retry(actor=admin(), failover_id=failover.pk)
        run = run_through(Run.objects.get(pk=run.pk), sweeps)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert FailoverRequest.objects.get(pk=failover.pk).status == FailoverStatus.DONE
    return run


def rds_instances(driver: AwsCloudDriver) -> Counter[str]:
    return Counter(
        instance["DBInstanceIdentifier"] for instance in driver.client("rds").describe_db_instances()["DBInstances"]
    )


def test_an_aws_failover_under_faults_with_its_worker_killed_after_the_promotion_promotes_one_replica_once(
    aws: dict[str, Any], faulty: Callable[..., None], sweeps: list[int]
) -> None:
    faults = Faults(13)
    faulty(faults)
    with faults.paused():
        region = built_region()
        failover = approve_failover(ask(region))
    faults.kill_at("rds.PromoteReadReplica", AFTER)

    fail_over(failover, sweeps)

    assert faults.killed(), "the worker was not killed in the promotion"
    assert faults.log, "no fault was injected"
    with faults.paused():
        promoted = aws["driver"](PARTNER).describe_database(REPLICA)
        assert (promoted.status, promoted.replica, promoted.backup_retention_days) == ("available", None, 14)
        assert aws["driver"](PRIMARY).describe_database(DATABASE).replica is None
        assert rds_instances(aws["driver"](PARTNER)) == Counter({REPLICA: 1})
        assert rds_instances(aws["driver"](PRIMARY)) == Counter({DATABASE: 1})
    assert RegionResource.objects.get(region=region, kind="database_replica").status == ResourceStatus.PROMOTED
    assert RegionResource.objects.filter(region__code=PARTNER, kind="database").count() == 1
    assert Region.objects.get(pk=region.pk).status == RegionStatus.DEGRADED
    assert Region.objects.get(code=PARTNER).status == RegionStatus.ACTIVE


def flexible_servers(fake: FakeAzure) -> Counter[tuple[str, str, str]]:
    return Counter(
        {
            key: count
            for key, count in azure_inventory(fake).items()
            if key[1] == "Microsoft.DBforPostgreSQL/flexibleServers"
        }
    )


@pytest.mark.parametrize(("seed", "killed_at"), [(4, ""), (6, "PATCH Microsoft.DBforPostgreSQL/flexibleServers")])
def test_an_azure_failover_under_faults_promotes_one_replica_once(
    azure: dict[str, Any], faulty: Callable[..., None], sweeps: list[int], seed: int, killed_at: str
) -> None:
    fake: FakeAzure = azure["fake"]
    faults = Faults(seed)
    faulty(faults, fake)
    with faults.paused():
        run = build(approve(azure_request()))
        assert run.status == RunStatus.SUCCEEDED, run.error
        region = Region.objects.get(provider="azure", code="francecentral")
        failover = approve_failover(ask(region))
    if killed_at:
        faults.kill_at(killed_at, AFTER)

    fail_over(failover, sweeps)

    assert faults.killed() or not killed_at, "the worker was not killed in the promotion"
    assert faults.log, "no fault was injected"
    database, replica = failover.database, f"{failover.database}-replica"
    with faults.paused():
        cloud = azure["driver"]("francecentral")
        promoted = azure["driver"]("germanywestcentral").describe_database(replica)  # the replica's own group
        assert (promoted.status, promoted.replica, promoted.backup_retention_days) == ("available", None, 14)
        assert cloud.describe_database(database).replica is None
    assert flexible_servers(fake) == Counter(
        {
            ("francecentral", "Microsoft.DBforPostgreSQL/flexibleServers", database): 1,
            ("germanywestcentral", "Microsoft.DBforPostgreSQL/flexibleServers", replica): 1,
        }
    )
    assert RegionResource.objects.filter(region__code="germanywestcentral", kind="database").count() == 1
    assert Region.objects.get(pk=region.pk).status == RegionStatus.DEGRADED
