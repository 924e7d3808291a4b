"""The region build-out through the real cloud drivers while the clouds misbehave: throttling, 5xx and "another
operation in progress" at three calls in ten (seeded, so every run can be replayed), half of them after the
cloud did the work and the answer was lost; and a worker that dies in the middle of a step.

Whatever happens, the run ends: ready, or failed with the cloud's reason in words and then rolled back; the
clouds hold exactly one of everything the plan names (or nothing, after the rollback). The engine runs in this
process, with no waits: a waiting step is looked at again at once, as the sweeper would later.

The killed worker is simulated in-process (moto and the Azure fake live in this process, and a real worker
could not share the test's transaction): the step is abandoned in the middle of its cloud call, before or after
the cloud did the work, leaving the run and the step as a dead worker leaves them (running, the lease held);
once the lease has expired the sweeper picks the run up and another "worker" performs the step again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from providers.aws.cloud import AwsCloudDriver
from regions import services, workflows
from regions.choices import RegionRequestStatus
from regions.models import CloudAccount, RegionRequest, RegionResource
from regions.plan import region_plan
from tests.providers.azure_fake import FakeAzure
from tests.providers.conftest_cloud import moto_endpoint
from tests.providers.faults import (
    AFTER,
    BEFORE,
    Faults,
    WorkerKilled,
    aws_inventory,
    azure_inventory,
    inject_aws,
    inject_azure,
)
from tests.regions.test_region_build import admin, approve, request_region
from tests.regions.test_region_clouds import aws, azure, azure_request, kube
from workflows import engine
from workflows.models import Run, RunStatus, Step, StepStatus

__all__ = ["aws", "azure", "kube", "moto_endpoint"]  # the fixtures, imported so pytest finds them

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

PRIMARY, PARTNER = "eu-south-1", "eu-west-3"
AZURE_PRIMARY, AZURE_PARTNER = "francecentral", "germanywestcentral"
# Enough advances for every wait of a build under faults; a run still going after them is stuck.
ADVANCES = 400


# --- the harness around the engine --------------------------------------------------------------------------------


@pytest.fixture
def faulty(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Faults, FakeAzure | None], None]]:
    """Put the faults between the workflow's drivers and the cloud: AWS drivers as the workflow makes them, or
    the fake Azure every Azure driver talks to. They stop with the test, before what was built is checked."""
    installed: list[Faults] = []

    def install(faults: Faults, fake: FakeAzure | None = None) -> None:
        installed.append(faults)
        if fake is not None:
            inject_azure(fake, faults)
            return
        clean = workflows.cloud_driver
        injected: set[int] = set()

        def cloud_driver(account: CloudAccount, region_code: str) -> Any:
            driver = clean(account, region_code)
            if isinstance(driver, AwsCloudDriver) and id(driver) not in injected:
                injected.add(id(driver))
                inject_aws(driver, faults)
            return driver

        monkeypatch.setattr(workflows, "cloud_driver", cloud_driver)

    yield install
    for faults in installed:
        faults.enabled = False


@pytest.fixture
def sweeps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The runs the sweeper enqueues (recorded here: no broker message leaves the test)."""
    enqueued: list[int] = []
    monkeypatch.setattr(engine, "_enqueue", lambda run_id, countdown=None: enqueued.append(run_id))
    return enqueued


def dead_worker_left(run: Run, sweeps: list[int]) -> None:
    """Leave the run as a killed worker leaves it, show that nobody takes it while the lease holds, let the lease
    expire and check that the sweeper enqueues it again."""
    step = Step.objects.get(run=run, status=StepStatus.RUNNING)
    attempts = step.attempts
    # In this process the dying call unwound through the engine, which released the lease; a dead one does not.
    Run.objects.filter(pk=run.pk).update(
        lease_token="dead-worker", lease_expires_at=timezone.now() + engine.lease_duration()
    )
    engine.advance(run.pk)
    step.refresh_from_db()
    assert (step.status, step.attempts) == (StepStatus.RUNNING, attempts), "another worker took a held run"
    engine.sweep()
    assert run.pk not in sweeps, "the sweeper took a run whose worker still holds it"
    Run.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    engine.sweep()
    assert run.pk in sweeps, "the sweeper did not pick up the run whose worker died"


def run_through(run: Run, sweeps: list[int] | None = None) -> Run:
    """Advance the run until it ends, skipping its waits; a worker killed on the way is replaced."""
    for _ in range(ADVANCES):
        try:
            engine.advance(run.pk)
        except WorkerKilled:
            assert sweeps is not None, "a worker died where no test expected it"
            dead_worker_left(run, sweeps)
        run = Run.objects.get(pk=run.pk)
        if not run.is_active:
            return run
        Run.objects.filter(pk=run.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    waiting = run.steps.exclude(status=StepStatus.SUCCEEDED).order_by("position").first()
    pytest.fail(f"the run is stuck: {run.status} at {waiting.name if waiting else '-'} ({waiting and waiting.note})")


def assert_told_in_words(message: str) -> None:
    """A failure a person can act on: the step and the cloud's reason, no Python and no JSON."""
    assert message
    for sign in ("{", "Traceback", "object at 0x", "unexpected error", "None"):
        assert sign not in message, message


def settle(request: RegionRequest, run: Run, sweeps: list[int] | None = None) -> str:
    """Carry the build to its end; a failed build is rolled back (retrying the rollback as an operator would).
    Returns what became of the request."""
    run = run_through(run, sweeps)
    request.refresh_from_db()
    if run.status == RunStatus.SUCCEEDED:
        assert request.status == RegionRequestStatus.READY
        return RegionRequestStatus.READY
    assert run.status == RunStatus.FAILED, run.status
    assert request.status == RegionRequestStatus.FAILED
    failed = Step.objects.get(run=run, status=StepStatus.FAILED)
    assert failed.error_code != "InternalError", "an unexpected exception, not a cloud's answer"
    assert run.error.startswith(failed.name)
    assert_told_in_words(run.error)
    services.region_build_rollback(actor=admin(), request_id=request.pk)
    undo = run.undo_runs.get()
    for _ in range(5):
        undo = run_through(undo, sweeps)
        if undo.status == RunStatus.SUCCEEDED:
            break
        assert_told_in_words(undo.error)
        services.region_build_retry(actor=admin(), request_id=request.pk)
    assert undo.status == RunStatus.SUCCEEDED, undo.error
    request.refresh_from_db()
    assert request.status == RegionRequestStatus.ROLLED_BACK
    return RegionRequestStatus.ROLLED_BACK


# --- AWS ---------------------------------------------------------------------------------------------------------


def aws_planned(request: RegionRequest) -> Counter[tuple[str, str, str]]:
    """Exactly one of each thing the plan has AWS make, as :func:`aws_inventory` counts them."""
    planned: Counter[tuple[str, str, str]] = Counter()
    for item in region_plan(request).resources:
        settings, region, name = item.settings, item.region, item.name
        if item.kind == "network":
            # Zones are chosen by zone id when the network is built; each has a NAT gateway and a private table.
            zone_ids = RegionResource.objects.get(request=request, kind="network").settings["zone_ids"]
            planned[(region, "vpc", name)] += 1
            planned[(region, "internet-gateway", name)] += 1
            planned[(region, "route-table", f"{name}-public")] += 1
            for zone in zone_ids:
                planned[(region, "elastic-ip", name)] += 1
                planned[(region, "nat-gateway", name)] += 1
                planned[(region, "route-table", f"{name}-private-{zone}")] += 1
                for tier in ("public", "private"):
                    planned[(region, "subnet", f"{name}-{tier}-{zone}")] += 1
        elif item.kind == "dr_network":
            # The partner's network of private subnets: no internet gateway, NAT gateway or public table.
            zone_ids = RegionResource.objects.get(request=request, kind="dr_network").settings["zone_ids"]
            planned[(region, "vpc", name)] += 1
            for zone in zone_ids:
                planned[(region, "route-table", f"{name}-private-{zone}")] += 1
                planned[(region, "subnet", f"{name}-private-{zone}")] += 1
        elif item.kind in ("key", "dr_key"):
            planned[(region, "kms-key", name)] += 1
        elif item.kind == "cluster":
            planned[(region, "eks-cluster", name)] += 1
        elif item.kind == "node_pool":
            planned[(region, "eks-nodegroup", f"{settings['cluster']}/{name}")] += 1
        elif item.kind in ("database", "database_replica"):
            planned[(region, "rds-instance", name)] += 1
        elif item.kind == "cache":
            planned[(region, "elasticache", name)] += 1
        elif item.kind in ("bucket", "bucket_replica"):
            planned[(region, "s3-bucket", name)] += 1
    return planned


def aws_made(aws: dict[str, Any], faults: Faults) -> Counter[tuple[str, str, str]]:
    with faults.paused():
        return aws_inventory(aws["driver"], (PRIMARY, PARTNER))


def test_an_aws_build_out_that_fails_for_good_under_faults_is_rolled_back_to_nothing(
    aws: dict[str, Any], faulty: Callable[..., None]
) -> None:
    faults = Faults(5)
    faulty(faults)
    request = approve(request_region())
    # ElastiCache refuses the cache for good, after the network, key, cluster, pools, database and replica.
    faults.refuse(
        "elasticache.CreateReplicationGroup",
        "NodeQuotaForCustomerExceeded",
        400,
        "You have reached the maximum number of cache nodes for this account.",
    )
    run = services.build_run(request)
    assert run is not None

    outcome = settle(request, run)

    run.refresh_from_db()
    assert outcome == RegionRequestStatus.ROLLED_BACK
    cache_step = Step.objects.get(run=run, action="cache")
    assert cache_step.error_code == "QuotaExceeded", run.error
    assert "maximum number of cache nodes" in run.error
    assert aws_made(aws, faults) == Counter()


@pytest.mark.parametrize(
    ("call", "when"),
    [("rds.CreateDBInstance", AFTER)],
)
def test_an_aws_build_out_under_random_faults_whose_worker_is_killed_in_a_cloud_call_ends_with_one_of_everything(
    aws: dict[str, Any], faulty: Callable[..., None], sweeps: list[int], call: str, when: str
) -> None:
    faults = Faults(7)
    faults.kill_at(call, when)
    faulty(faults)
    request = approve(request_region())

    outcome = settle(request, services.build_run(request) or pytest.fail("no build"), sweeps)

    assert faults.killed(), f"the worker was not killed at {call}: the build was {outcome}"
    assert any(fault.when == AFTER for fault in faults.log), "no answer was lost after the cloud did the work"
    assert outcome == RegionRequestStatus.READY
    assert aws_made(aws, faults) == aws_planned(request), "the cloud holds exactly one of each planned resource"
    assert RegionResource.objects.filter(request=request).count() == len(region_plan(request).resources)


# --- Azure -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [3, 17, 29])
def test_an_azure_build_out_under_random_faults_ends_ready_with_one_of_everything_or_rolled_back_with_nothing(
    azure: dict[str, Any], faulty: Callable[..., None], seed: int
) -> None:
    fake: FakeAzure = azure["fake"]
    faults = Faults(seed)
    faulty(faults, fake)
    request = approve(azure_request())

    outcome = settle(request, services.build_run(request) or pytest.fail("no build"))

    assert faults.log
    assert any(fault.when == AFTER for fault in faults.log)
    made = azure_made(fake)
    if outcome == RegionRequestStatus.READY:
        assert made == azure_planned(request), "the cloud holds exactly one of each planned resource"
    else:
        assert made == Counter(), "the rollback left something behind"


# What the build makes in Azure, counted below; the storage accounts' own children (blob service, container,
# lifecycle and replication policies) come and go with their account.
AZURE_COUNTED = {
    "Microsoft.Network/virtualNetworks",
    "Microsoft.Network/virtualNetworks/subnets",
    "Microsoft.Network/natGateways",
    "Microsoft.Network/publicIPAddresses",
    "Microsoft.KeyVault/vaults/keys",
    "Microsoft.ContainerService/managedClusters",
    "Microsoft.ContainerService/managedClusters/agentPools",
    "Microsoft.DBforPostgreSQL/flexibleServers",
    "Microsoft.Cache/redis",
    "Microsoft.Storage/storageAccounts",
}


def azure_planned(request: RegionRequest) -> Counter[tuple[str, str, str]]:
    """Exactly one of each thing the plan has Azure make, as :func:`azure_inventory` counts them."""
    planned: Counter[tuple[str, str, str]] = Counter()
    for item in region_plan(request).resources:
        settings, region, name = item.settings, item.region, item.name
        if item.kind == "network":
            for kind in ("virtualNetworks", "natGateways", "publicIPAddresses"):
                planned[(region, f"Microsoft.Network/{kind}", name)] += 1
            for tier, cidrs in (("public", settings["public_subnets"]), ("private", settings["private_subnets"])):
                for index, zone in enumerate(settings["availability_zones"][: len(cidrs)]):
                    planned[
                        ("", "Microsoft.Network/virtualNetworks/subnets", f"{name}/{tier}-{index}-zone-{zone}")
                    ] += 1
        elif item.kind == "dr_network":
            planned[(region, "Microsoft.Network/virtualNetworks", name)] += 1
            for index, zone in enumerate(settings["availability_zones"][: len(settings["private_subnets"])]):
                planned[("", "Microsoft.Network/virtualNetworks/subnets", f"{name}/private-{index}-zone-{zone}")] += 1
        elif item.kind == "key":
            planned[("", "Microsoft.KeyVault/vaults/keys", name)] += 1
        elif item.kind == "cluster":
            planned[(region, "Microsoft.ContainerService/managedClusters", name)] += 1
        elif item.kind == "node_pool":
            planned[("", "Microsoft.ContainerService/managedClusters/agentPools", f"{settings['cluster']}/{name}")] += 1
        elif item.kind in ("database", "database_replica"):
            planned[(region, "Microsoft.DBforPostgreSQL/flexibleServers", name)] += 1
        elif item.kind == "cache":
            planned[(region, "Microsoft.Cache/redis", name)] += 1
        elif item.kind in ("bucket", "bucket_replica"):
            planned[(region, "Microsoft.Storage/storageAccounts", name)] += 1
    return planned


def azure_made(fake: FakeAzure) -> Counter[tuple[str, str, str]]:
    made = azure_inventory(fake)
    assert all(count == 1 for count in made.values()), f"made twice: {[key for key, n in made.items() if n > 1]}"
    return Counter({key: count for key, count in made.items() if key[1] in AZURE_COUNTED})


def test_an_azure_build_out_that_fails_for_good_under_faults_is_rolled_back_to_nothing(
    azure: dict[str, Any], faulty: Callable[..., None]
) -> None:
    fake: FakeAzure = azure["fake"]
    faults = Faults(8)
    faulty(faults, fake)
    # Azure accepts the cache, then gives up on it: after the network, key, cluster, pools, database and replica.
    fake.fail_operation("Microsoft.Cache/redis", "QuotaExceeded", "Premium caches in francecentral: the limit is 0")
    request = approve(azure_request())
    run = services.build_run(request)
    assert run is not None

    outcome = settle(request, run)

    run.refresh_from_db()
    assert outcome == RegionRequestStatus.ROLLED_BACK
    assert Step.objects.get(run=run, action="cache").error_code == "QuotaExceeded"
    assert "the limit is 0" in run.error
    assert azure_made(fake) == Counter()


@pytest.mark.parametrize(
    ("call", "when"),
    [
        ("PUT Microsoft.DBforPostgreSQL/flexibleServers", AFTER),
        ("PUT Microsoft.ContainerService/managedClusters/agentPools", BEFORE),
    ],
)
def test_an_azure_worker_killed_in_a_cloud_call_is_replaced_and_nothing_is_made_twice(
    azure: dict[str, Any], faulty: Callable[..., None], sweeps: list[int], call: str, when: str
) -> None:
    fake: FakeAzure = azure["fake"]
    faults = Faults(7)
    faults.kill_at(call, when)
    faulty(faults, fake)
    request = approve(azure_request())

    outcome = settle(request, services.build_run(request) or pytest.fail("no build"), sweeps)

    assert faults.killed(), f"the worker was not killed at {call}"
    if outcome == RegionRequestStatus.READY:
        assert azure_made(fake) == azure_planned(request)
    else:
        assert azure_made(fake) == Counter()
