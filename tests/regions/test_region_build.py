"""Building a region against the sandbox cloud and cluster: every planned resource exactly once, in the plan's
order, registered in the inventory; a failure in the middle, rolled back, leaves nothing behind."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from access.models import Role, User
from approvals import services as approvals
from approvals.models import ApprovalRequest
from portal.demo import Persona, username_of
from providers import errors
from providers.sandbox.cloud import SandboxCloudDriver
from providers.sandbox.cluster import SandboxClusterDriver
from regions import services
from regions.choices import RegionRequestStatus, RegionStatus, ResourceStatus
from regions.drivers import cloud_driver_in, cluster_driver_for
from regions.models import CloudAccount, Cluster, Namespace, NodePool, Region, RegionRequest, RegionResource
from regions.plan import SPEC_NAMESPACES, region_plan
from regions.workflows import BuildRegion
from tests.factories import GrantFactory, make_user
from workflows import engine
from workflows.engine import StepContext
from workflows.models import Run, RunStatus, StepStatus

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ADDONS = ("networks", "keys", "clusters", "databases", "caches", "buckets")


# --- shared by the region tests (imported by the other test_region_* modules) -----------------------------------


def admin() -> User:
    return User.objects.get(username=username_of(Persona.PLATFORM_ADMIN))


def second_admin() -> User:
    """Another platform admin: the demo has one, a production region needs two."""
    user = make_user(username="admin-two", first_name="Grace", last_name="Okafor")
    if not user.grants.exists():
        GrantFactory(role=Role.objects.get(slug="platform_admin"), user=user)
    return user


def request_region(actor: User | None = None, **changes: Any) -> RegionRequest:
    """A non-production AWS region in the EU with its DR partner, every managed service and three pools."""
    fields: dict[str, Any] = {
        "provider": "aws",
        "code": "eu-south-1",
        "residency_zone": "EU",
        "purpose": "non_production",
        "dr_partner_code": "eu-west-3",
        "account": CloudAccount.objects.get(provider="aws"),
        "general_nodes": 2,
        "high_cpu_nodes": 1,
        "gpu_nodes": 1,
        "justification": "Students in Italy need low latency.",
    }
    fields.update(changes)
    return services.region_request_create(actor=actor or admin(), **fields)


def approve(request: RegionRequest, *approvers: User) -> RegionRequest:
    approval = ApprovalRequest.objects.get(subject_id=str(request.pk), purpose=services.BUILD, status="pending")
    for approver in approvers or (second_admin(),):
        approvals.decide(approval.pk, approver=approver, approve=True)
    return RegionRequest.objects.get(pk=request.pk)


def run_to_the_end(run: Run) -> Run:
    """Advance the run in this process until it ends, skipping the waits (what the sweeper does later)."""
    for _ in range(60):
        engine.advance(run.pk)
        run = Run.objects.get(pk=run.pk)
        if not run.is_active:
            return run
        Run.objects.filter(pk=run.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    pytest.fail(f"the run did not finish: {run.status}")


def build(request: RegionRequest) -> Run:
    run = services.build_run(request)
    assert run is not None, "the approval started no build"
    return run_to_the_end(run)


def built_records(request: RegionRequest) -> list[tuple[str, str, str]]:
    """What the build recorded as made, in build order: (kind, name, region)."""
    return list(
        RegionResource.objects.filter(request=request, status=ResourceStatus.CREATED)
        .order_by("position")
        .values_list("kind", "name", "region_code")
    )


def planned(request: RegionRequest) -> list[tuple[str, str, str]]:
    return [(item.kind, item.name, item.region) for item in region_plan(request).resources]


# --- the sandbox -----------------------------------------------------------------------------------------------


@pytest.fixture
def sandbox(demo: None, settings: Any, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path  # a sandbox of this test's own
    return tmp_path


def cloud_in(code: str) -> SandboxCloudDriver:
    driver = cloud_driver_in(CloudAccount.objects.get(provider="aws"), code)
    assert isinstance(driver, SandboxCloudDriver)
    return driver


def cloud_names(code: str) -> dict[str, list[str]]:
    """Every record in the sandbox cloud's region, by kind: its names, sorted (two of one name show twice)."""
    cloud = cloud_in(code)
    return {kind: sorted(record["name"] for record in cloud.records(kind)) for kind in ADDONS}


def sandbox_kube(code: str, name: str) -> SandboxClusterDriver:
    driver = cluster_driver_for(Cluster.objects.select_related("region__account").get(region__code=code, name=name))
    assert isinstance(driver, SandboxClusterDriver)
    return driver


def test_an_approved_region_is_built_in_the_plans_order_and_registered_with_its_dr_partner(sandbox: Path) -> None:
    request = approve(request_region())
    assert request.status == RegionRequestStatus.BUILDING

    run = build(request)

    assert run.status == RunStatus.SUCCEEDED, run.error
    request.refresh_from_db()
    assert request.status == RegionRequestStatus.READY
    assert built_records(request) == planned(request), "the plan is what was built, in its order"
    assert [step.name for step in run.steps.order_by("position")] == [
        item.step_name for item in region_plan(request).resources
    ]
    region = Region.objects.get(provider="aws", code="eu-south-1")
    assert (region.status, region.residency_zone, region.dr_partner.code if region.dr_partner else None) == (
        RegionStatus.ACTIVE,
        "EU",
        "eu-west-3",
    )
    assert request.region == region
    cluster = Cluster.objects.get(region=region)
    assert cluster.name == "eks-eu-south-1"
    assert sorted(NodePool.objects.filter(cluster=cluster).values_list("name", "capacity_type")) == [
        ("general", "on_demand"),
        ("gpu", "on_demand"),
        ("highcpu", "spot"),
    ]
    assert sorted(Namespace.objects.filter(cluster=cluster).values_list("name", flat=True)) == sorted(SPEC_NAMESPACES)


def test_the_cloud_and_the_cluster_hold_exactly_one_of_each_planned_resource(sandbox: Path) -> None:
    request = approve(request_region())

    build(request)

    prefix = "portal-eu-south-1"
    bucket = next(item.name for item in region_plan(request).resources if item.kind == "bucket")
    assert cloud_names("eu-south-1") == {
        "networks": [f"{prefix}-network"],
        "keys": [f"{prefix}-key"],
        "clusters": ["eks-eu-south-1"],
        "databases": [f"{prefix}-db"],
        "caches": [f"{prefix}-redis"],
        "buckets": [bucket],
    }
    # The sandbox keeps a replica on its primary's record (a promoted one would stand in the partner's document).
    # The partner holds the bucket's copy and the key of the same alias that encrypts the DR copies there.
    # The replica's network stands there too, and the replica is placed in its subnets.
    assert cloud_names("eu-west-3") == {
        **{kind: [] for kind in ADDONS},
        "networks": [f"{prefix}-dr-network"],
        "keys": [f"{prefix}-key"],
        "buckets": [f"{bucket}-dr"],
    }
    (primary,) = cloud_in("eu-south-1").records("databases")
    assert (primary["replica"]["name"], primary["replica"]["region"]) == (f"{prefix}-db-replica", "eu-west-3")
    dr_network = cloud_in("eu-west-3").describe_network(f"{prefix}-dr-network")
    assert primary["replica"]["subnet_ids"] == [subnet.id for subnet in dr_network.subnets]
    database = cloud_in("eu-south-1").describe_database(f"{prefix}-db")
    assert (database.backup_retention_days, database.encrypted) == (14, True)
    assert database.latest_restorable_time is not None, "point-in-time recovery is on"
    assert database.replica is not None
    assert database.replica.region == "eu-west-3"
    stored = cloud_in("eu-south-1").describe_bucket(bucket)
    assert (stored.versioning, stored.replication_target_bucket, stored.cold_storage_after_days) == (
        True,
        f"{bucket}-dr",
        90,
    )
    kube = sandbox_kube("eu-south-1", "eks-eu-south-1")
    assert sorted(item["metadata"]["name"] for item in kube.objects("Namespace")) == sorted(SPEC_NAMESPACES)
    quotas = kube.objects("ResourceQuota")
    policies = kube.objects("NetworkPolicy")
    assert sorted(item["metadata"]["namespace"] for item in quotas) == sorted(SPEC_NAMESPACES)
    assert sorted(item["metadata"]["namespace"] for item in policies) == sorted(SPEC_NAMESPACES)


def test_building_again_from_the_start_creates_nothing_new(sandbox: Path) -> None:
    request = approve(request_region())
    run = build(request)
    before = (cloud_names("eu-south-1"), cloud_names("eu-west-3"))
    uids = sorted(item["metadata"]["uid"] for item in sandbox_kube("eu-south-1", "eks-eu-south-1").objects("Namespace"))

    # Every step performed a second time, as by a worker that died after each one.
    again = run_to_the_end(engine.start(services.BUILD, key="rebuild", subject=request, params=dict(run.params)))

    assert again.status == RunStatus.SUCCEEDED, again.error
    assert (cloud_names("eu-south-1"), cloud_names("eu-west-3")) == before
    kube = sandbox_kube("eu-south-1", "eks-eu-south-1")
    assert sorted(item["metadata"]["uid"] for item in kube.objects("Namespace")) == uids
    assert Cluster.objects.filter(region__code="eu-south-1").count() == 1
    assert RegionResource.objects.filter(request=request).count() == len(planned(request))


def test_a_failure_in_the_middle_can_be_retried_at_the_failed_step(sandbox: Path) -> None:
    request = approve(request_region())
    cloud_in("eu-south-1").inject_fault("create_replication_group", errors.InvalidRequest)

    failed = build(request)

    assert failed.status == RunStatus.FAILED
    assert failed.steps.get(status=StepStatus.FAILED).action == "cache"
    request.refresh_from_db()
    assert request.status == RegionRequestStatus.FAILED
    services.region_build_retry(actor=admin(), request_id=request.pk)

    done = build(request)

    assert done.status == RunStatus.SUCCEEDED, done.error
    assert RegionRequest.objects.get(pk=request.pk).status == RegionRequestStatus.READY
    assert cloud_names("eu-south-1")["caches"] == ["portal-eu-south-1-redis"]
    assert cloud_names("eu-south-1")["databases"] == ["portal-eu-south-1-db"], "the database was not made twice"


def test_a_failure_in_the_middle_rolled_back_leaves_nothing_behind(sandbox: Path) -> None:
    request = approve(request_region())
    cloud_in("eu-south-1").inject_fault("create_replication_group", errors.InvalidRequest)
    failed = build(request)
    assert failed.status == RunStatus.FAILED
    assert cloud_names("eu-south-1")["databases"], "the database was built before the failure"

    services.region_build_rollback(actor=admin(), request_id=request.pk)
    rollback = failed.undo_runs.get()
    rolled_back = run_to_the_end(rollback)

    assert rolled_back.status == RunStatus.SUCCEEDED, rolled_back.error
    request.refresh_from_db()
    assert request.status == RegionRequestStatus.ROLLED_BACK
    assert cloud_names("eu-south-1") == {kind: [] for kind in ADDONS}
    assert cloud_names("eu-west-3") == {kind: [] for kind in ADDONS}
    assert not Region.objects.filter(code="eu-south-1").exists()
    assert not RegionResource.objects.filter(request=request, status=ResourceStatus.CREATED).exists()
    # Newest first: the undo walks the build backwards.
    undone = [step.action for step in rollback.steps.order_by("position")]
    assert (undone[0], undone[-1]) == ("cache", "network")


def test_a_build_cancelled_after_a_step_began_is_rolled_back_and_leaves_nothing(
    sandbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancel pressed while a worker makes the network: the build stops after that step, its rollback removes
    what was made, and the request ends rolled back, not merely cancelled with a network left behind."""
    request = approve(request_region())
    made_network = BuildRegion.do_network

    def network_then_cancel(workflow: BuildRegion, ctx: StepContext) -> Any:
        made = made_network(workflow, ctx)
        if RegionRequest.objects.get(pk=request.pk).status == RegionRequestStatus.BUILDING:
            services.region_request_cancel(actor=admin(), request_id=request.pk)  # the worker holds the run
        return made

    monkeypatch.setattr(BuildRegion, "do_network", network_then_cancel)

    cancelled = build(request)

    assert cancelled.status == RunStatus.CANCELLED
    assert RegionRequest.objects.get(pk=request.pk).status == RegionRequestStatus.ROLLING_BACK
    assert cloud_names("eu-south-1")["networks"], "the network was made before the cancel"
    rolled_back = run_to_the_end(cancelled.undo_runs.get())
    assert rolled_back.status == RunStatus.SUCCEEDED, rolled_back.error
    assert RegionRequest.objects.get(pk=request.pk).status == RegionRequestStatus.ROLLED_BACK
    assert cloud_names("eu-south-1") == {kind: [] for kind in ADDONS}
    assert cloud_names("eu-west-3") == {kind: [] for kind in ADDONS}


def test_a_rollback_after_the_inventory_step_removes_the_region_cluster_and_namespaces(sandbox: Path) -> None:
    request = approve(request_region())
    run = services.build_run(request)
    assert run is not None
    # The last namespace's step fails for good; everything before it, the inventory included, was made.
    kube_fault = run.steps.order_by("position").last()
    assert kube_fault is not None
    assert kube_fault.action == "namespace"
    kube_fault.params = {**kube_fault.params, "settings": {**kube_fault.params["settings"], "cluster": "no-such"}}
    kube_fault.save(update_fields=["params"])
    failed = run_to_the_end(run)
    assert failed.status == RunStatus.FAILED
    assert Region.objects.filter(code="eu-south-1", status=RegionStatus.PROVISIONING).exists()

    services.region_build_rollback(actor=admin(), request_id=request.pk)
    run_to_the_end(failed.undo_runs.get())

    assert not Region.objects.filter(code="eu-south-1").exists()
    assert not Cluster.objects.filter(name="eks-eu-south-1").exists()
    assert not Namespace.objects.filter(cluster__name="eks-eu-south-1").exists()
    assert cloud_names("eu-south-1") == {kind: [] for kind in ADDONS}
    assert RegionRequest.objects.get(pk=request.pk).status == RegionRequestStatus.ROLLED_BACK
