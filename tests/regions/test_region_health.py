"""A region's status and DR readiness: every resource asked of its cloud and judged red, amber
or green against the spec's targets (RPO 15 minutes); the region list and page show the last check.

Against the sandbox cloud for the portal-built region and the demo's regions, and against moto for AWS (the
replica's lag comes from CloudWatch's ``ReplicaLag``, as on a real account).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.demo import Persona
from providers import errors
from providers.cloud import CloudDriver
from regions import health, tasks
from regions.choices import ClusterKind, ClusterStatus, Rating, RegionStatus
from regions.demo import load_demo_region_resources
from regions.models import Cluster, Region, RegionHealth, RegionResource
from tests.providers.conftest_cloud import moto_endpoint
from tests.regions.test_region_build import approve, build, cloud_in, request_region
from tests.regions.test_region_clouds import aws, kube
from tests.regions.test_region_failover import approve_failover, ask, carry_out
from workflows.models import RunStatus

__all__ = ["aws", "kube", "moto_endpoint"]  # fixtures, imported so pytest finds them

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]


@pytest.fixture
def sandbox(demo: None, settings: Any, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path  # a sandbox cloud of this test's own
    return tmp_path


def built_region() -> Region:
    """eu-south-1 built by the portal (every managed service, the replica and bucket copy in eu-west-3)."""
    request = approve(request_region())
    build(request)
    return Region.objects.select_related("account", "dr_partner").get(provider="aws", code="eu-south-1")


def findings(region_health: RegionHealth) -> dict[str, dict[str, Any]]:
    return {check["subject"]: check for check in region_health.checks}


def give_the_partner_a_cluster(region: Region) -> None:
    assert region.dr_partner is not None
    Cluster.objects.create(
        region=region.dr_partner,
        name="eks-eu-west-3",
        kind=ClusterKind.EKS,
        api_endpoint="https://eks-eu-west-3.invalid",
        status=ClusterStatus.READY,
    )


# --- the sandbox ---------------------------------------------------------------------------------------------------


def test_a_freshly_built_region_is_green_once_its_dr_partner_can_run_workloads(sandbox: Path) -> None:
    region = built_region()

    first = health.check_region(region)

    # The data is copied to eu-west-3, but nothing could run there yet: amber, and it says why.
    assert first.rating == Rating.AMBER
    assert first.dr_ready
    assert "eu-west-3 has no ready cluster" in first.summary
    checks = findings(first)
    assert checks["database portal-eu-south-1-db (backups)"]["message"] == "Backups are kept 14 days."
    assert checks["database portal-eu-south-1-db (point-in-time recovery)"]["rating"] == Rating.GREEN
    assert checks["database replica portal-eu-south-1-db-replica"]["rating"] == Rating.GREEN
    assert checks["database replica portal-eu-south-1-db-replica"]["region_code"] == "eu-west-3"
    assert {check["kind"] for check in first.checks} >= {"network", "key", "cluster", "node_pool", "cache", "bucket"}

    give_the_partner_a_cluster(region)
    second = health.check_region(region)

    assert second.rating == Rating.GREEN, second.summary
    assert second.summary.endswith("the DR partner is ready.")
    assert RegionHealth.objects.filter(region=region).count() == 1


def test_a_latest_restorable_time_past_the_rpo_is_red_and_near_it_amber(sandbox: Path, settings: Any) -> None:
    settings.DR_RPO_MINUTES = 15
    region = built_region()
    give_the_partner_a_cluster(region)
    # The sandbox can restore to five minutes ago: seen from later, that is further behind.
    near = health.check_region(region, now=timezone.now() + timedelta(minutes=6))
    past = health.check_region(region, now=timezone.now() + timedelta(minutes=20))

    pitr = "database portal-eu-south-1-db (point-in-time recovery)"
    assert near.rating == Rating.AMBER
    assert findings(near)[pitr]["message"].endswith("old, near the 15 min RPO.")
    assert past.rating == Rating.RED
    assert findings(past)[pitr]["message"].endswith("old, past the 15 min RPO.")
    assert past.summary.startswith(f"{pitr}: The latest restorable time is")


def test_a_replica_deleted_outside_the_portal_makes_the_region_red_and_the_partner_not_ready(sandbox: Path) -> None:
    region = built_region()
    give_the_partner_a_cluster(region)
    cloud_in("eu-south-1").delete_database_replica("portal-eu-south-1-db", "eu-west-3")

    checked = health.check_region(region)

    assert checked.rating == Rating.RED
    assert not checked.dr_ready
    replica = findings(checked)["database replica portal-eu-south-1-db-replica"]
    assert replica["message"] == (
        "portal-eu-south-1-db has no replica in eu-west-3: a failover would have nothing to promote."
    )
    assert findings(checked)["DR partner eu-west-3"]["message"].startswith("Not ready: portal-eu-south-1-db has no")


def test_a_resource_gone_from_the_cloud_is_red_and_one_nobody_could_ask_about_is_amber(sandbox: Path) -> None:
    region = built_region()
    give_the_partner_a_cluster(region)
    cloud_in("eu-south-1").delete_cache("portal-eu-south-1-redis")
    gone = findings(health.check_region(region))["cache portal-eu-south-1-redis"]
    assert (gone["rating"], gone["state"]) == (Rating.RED, "missing")
    assert gone["message"] == "The cloud no longer has portal-eu-south-1-redis: it was deleted outside the portal."

    def refused(code: str) -> CloudDriver:
        raise errors.PermissionDenied("the portal's role may not describe resources in this account")

    unasked = health.check_region(region, driver_for=refused)

    assert unasked.rating == Rating.AMBER
    network = findings(unasked)["network portal-eu-south-1-network"]
    assert network["message"] == "Could not check: the portal's role may not describe resources in this account"
    assert network["rating"] == Rating.AMBER


def test_an_older_check_never_overwrites_a_newer_one(sandbox: Path) -> None:
    region = built_region()
    newer = health.check_region(region, now=timezone.now() + timedelta(minutes=20))

    health.check_region(region, now=timezone.now())

    assert RegionHealth.objects.get(region=region).checked_at == newer.checked_at


def test_the_demo_regions_show_one_healthy_one_amber_and_one_red_and_loading_again_duplicates_nothing(
    sandbox: Path,
) -> None:
    checked = load_demo_region_resources()
    records = RegionResource.objects.count()
    load_demo_region_resources()

    assert RegionResource.objects.count() == records == 6 * 6
    assert checked == Region.objects.count()
    ratings = dict(RegionHealth.objects.values_list("region__code", "rating"))
    assert ratings["westeurope"] == Rating.GREEN
    # A partner region holds others' copies but no data of its own: nothing of it to fail over.
    frankfurt = RegionHealth.objects.get(region__code="eu-central-1")
    assert (frankfurt.rating, frankfurt.dr_ready, frankfurt.summary) == (Rating.GREEN, False, "The one check is green.")
    assert ratings["australiaeast"] == Rating.AMBER
    assert ratings["us-east-1"] == Rating.RED
    short = RegionHealth.objects.get(region__code="australiaeast")
    assert "Backups are kept 3 days; the plan asks for 7." in short.summary
    # The Dublin learning centre is offline: its edge cluster is amber, the Irish region is not red for it.
    dublin = RegionHealth.objects.get(region__code="eu-west-1")
    assert dublin.rating == Rating.AMBER
    assert "the Dublin learning centre server is offline" in dublin.summary
    lost = RegionHealth.objects.get(region__code="us-east-1")
    assert not lost.dr_ready
    assert "has no replica in us-west-2" in lost.summary


def test_a_region_with_nothing_recorded_is_not_called_healthy(sandbox: Path) -> None:
    region = Region.objects.create(provider="aws", code="ca-central-1", display_name="Canada", residency_zone="US")

    checked = health.check_region(region)

    assert checked.rating == Rating.UNKNOWN
    assert checked.summary == "Nothing recorded to check: no managed resources or clusters."


def test_the_periodic_check_gives_every_region_but_the_retired_a_task_of_its_own(
    sandbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Region.objects.filter(code="eastus").update(status=RegionStatus.RETIRED)
    queued: list[int] = []
    monkeypatch.setattr(tasks.check_region_health, "delay", queued.append)

    enqueued = tasks.check_health()

    expected = list(Region.objects.exclude(code="eastus").order_by("pk").values_list("pk", flat=True))
    assert queued == expected
    assert enqueued == len(expected) == Region.objects.count() - 1
    # Each task checks its region; a region deleted since it was queued is skipped.
    assert tasks.check_region_health(expected[0]) is not None
    assert tasks.check_region_health(max(expected) + 1000) is None


# --- AWS on moto: the replica's lag from CloudWatch --------------------------------------------------------------


def test_on_aws_a_replica_lagging_past_the_rpo_is_red(aws: dict[str, Any], moto_endpoint: str) -> None:
    region = built_region()
    give_the_partner_a_cluster(region)
    cloud = aws["driver"]("eu-south-1")
    replica = cloud.describe_database("portal-eu-south-1-db").replica
    assert replica is not None

    def driver_for(code: str) -> CloudDriver:
        driver: CloudDriver = aws["driver"](code)
        return driver

    before = health.check_region(region, driver_for=driver_for)
    cloudwatch = boto3.client(
        "cloudwatch",
        region_name="eu-west-3",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    cloudwatch.put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "ReplicaLag",
                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": replica.name}],
                "Timestamp": datetime.now(UTC) - timedelta(minutes=1),
                "Value": 1500.0,
                "Unit": "Seconds",
            }
        ],
    )
    after = health.check_region(region, driver_for=driver_for, now=timezone.now() + timedelta(seconds=1))

    subject = f"database replica {replica.name}"
    assert (
        findings(before)[subject]["message"] == "The replica's lag is unknown: a failover could lose an unknown amount."
    )
    assert findings(after)[subject]["rating"] == Rating.RED
    assert findings(after)[subject]["message"] == "The replica lags 25 min, past the 15 min RPO."
    assert findings(after)[subject]["facts"] == {"lag_seconds": 1500.0}
    assert not after.dr_ready
    assert findings(after)["database portal-eu-south-1-db (point-in-time recovery)"]["rating"] == Rating.GREEN


# --- pages and API -------------------------------------------------------------------------------------------------


def test_the_region_list_shows_each_regions_rating_and_filters_by_it(sandbox: Path, client_for: Any) -> None:
    load_demo_region_resources()
    client: Client = client_for(Persona.DEVELOPER)

    page = client.get(reverse("regions:list")).content.decode()
    red = client.get(reverse("regions:list"), {"health": "red"}).content.decode()

    assert "DR ready" in page
    assert "Backups are kept 3 days; the plan asks for 7." in page
    assert "us-east-1" in red
    assert "westeurope" not in red
    assert "1 region" in red


def test_the_region_page_lists_every_finding_and_only_admins_may_ask_for_a_check(
    sandbox: Path, client_for: Any, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_demo_region_resources()
    url = reverse("regions:detail", args=["azure", "australiaeast"])
    developer: Client = client_for(Persona.DEVELOPER)
    admin: Client = client_for(Persona.PLATFORM_ADMIN)

    page = developer.get(url).content.decode()
    assert "Status and DR readiness" in page
    assert "Backups are kept 3 days; the plan asks for 7." in page
    assert "data loss at most 15 min (RPO), back in service within 2 h (RTO)" in page
    assert "Check now" not in page
    assert developer.post(reverse("regions:check", args=["azure", "australiaeast"])).status_code == 403

    queued: list[int] = []
    monkeypatch.setattr("regions.tasks.check_region_health.delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin.post(reverse("regions:check", args=["azure", "australiaeast"]))
    assert answer.status_code == 302
    assert queued == [Region.objects.get(code="australiaeast").pk]
    # The page follows the check: it polls until a check newer than the request has answered.
    following = admin.get(answer["Location"]).content.decode()
    assert "Checking…" in following
    assert 'hx-trigger="every 2s"' in following
    partial = reverse("regions:health", args=["azure", "australiaeast"]) + "?" + answer["Location"].split("?", 1)[1]
    assert "Checking…" in admin.get(partial).content.decode()

    health.check_region(Region.objects.get(code="australiaeast"), now=timezone.now() + timedelta(seconds=2))

    answered = admin.get(partial).content.decode()
    assert "Checking…" not in answered
    assert "every 2s" not in answered
    assert "Check now" in answered


def test_the_regions_api_carries_the_last_check(sandbox: Path, client_for: Any) -> None:
    load_demo_region_resources()
    client: Client = client_for(Persona.MANAGER)

    regions = {item["code"]: item for item in client.get("/api/regions/", {"page_size": 100}).json()["results"]}

    assert regions["us-east-1"]["health"]["rating"] == "red"
    assert regions["us-east-1"]["health"]["dr_ready"] is False
    assert regions["eu-west-1"]["health"]["stale"] is False
    assert any(check["kind"] == "pitr" for check in regions["eu-west-1"]["health"]["checks"])
    region = Region.objects.create(provider="aws", code="ca-central-1", display_name="Canada", residency_zone="US")
    assert client.get(f"/api/regions/{region.pk}/").json()["health"] is None


def test_a_check_older_than_three_intervals_is_marked_stale(sandbox: Path, settings: Any, client_for: Any) -> None:
    load_demo_region_resources()
    settings.REGION_HEALTH_CHECK_SECONDS = 60
    RegionHealth.objects.filter(region__code="eu-west-1").update(checked_at=timezone.now() - timedelta(minutes=4))

    page = client_for(Persona.DEVELOPER).get(reverse("regions:detail", args=["aws", "eu-west-1"])).content.decode()

    assert "the workers have not checked for a while" in page


def test_after_a_failover_the_old_primary_says_so_and_the_new_primary_has_no_dr_yet(sandbox: Path) -> None:
    region = built_region()
    give_the_partner_a_cluster(region)
    run = carry_out(approve_failover(ask(region)))
    assert run.status == RunStatus.SUCCEEDED, run.error
    old = Region.objects.select_related("account", "dr_partner").get(pk=region.pk)
    new = Region.objects.select_related("account", "dr_partner").get(code="eu-west-3")

    old_health = health.check_region(old)
    new_health = health.check_region(new)

    assert old_health.rating == Rating.AMBER
    assert old_health.summary.startswith("failover to eu-west-3: Failed over to eu-west-3 on ")
    assert "Build a new replica before this region serves again." in old_health.summary
    assert not old_health.dr_ready
    # The promoted database serves from eu-west-3, with backups and point-in-time recovery, but nothing copies it.
    checks = findings(new_health)
    assert checks["failover from eu-south-1"]["rating"] == Rating.GREEN
    assert checks["database portal-eu-south-1-db-replica (point-in-time recovery)"]["rating"] == Rating.GREEN
    assert checks["DR partner eu-south-1"]["message"] == (
        "No read replica is recorded there: a failover would have nothing to promote."
    )
    assert (new_health.rating, new_health.dr_ready) == (Rating.AMBER, False)
