"""What only the sandbox cloud does: shared persisted state, latency, faults that other processes see."""

from __future__ import annotations

import json
import multiprocessing
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from providers import errors
from providers.cloud import BucketSpec, DatabaseSpec, KeySpec, KubernetesClusterSpec, NodePoolSpec
from providers.retry import RetryPolicy
from providers.sandbox.cloud import SandboxCloudDriver

NO_WAIT = RetryPolicy(attempts=3, base_seconds=0, cap_seconds=0)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def make_keys(state_dir: str, start: int) -> None:
    driver = SandboxCloudDriver(state_dir, retry_policy=NO_WAIT, sleep=lambda _: None)
    for number in range(start, start + 10):
        driver.ensure_key(KeySpec(alias=f"key-{number}"))


def make_bucket(state_dir: str, name: str) -> None:
    SandboxCloudDriver(state_dir).ensure_bucket(BucketSpec(name=name))


def test_two_drivers_on_one_directory_see_the_same_cloud(tmp_path: Path) -> None:
    web = SandboxCloudDriver(tmp_path)
    worker = SandboxCloudDriver(tmp_path)

    worker.ensure_bucket(BucketSpec(name="env-42-assets"))

    assert web.describe_bucket("env-42-assets").versioning


def test_processes_writing_at_once_lose_no_update(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=make_keys, args=(str(tmp_path), start)) for start in (0, 10, 20)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)

    state = json.loads((tmp_path / "sandbox-eu-west-1.json").read_text())
    assert len(state["keys"]) == 30


def test_each_account_and_region_has_its_own_document(tmp_path: Path) -> None:
    SandboxCloudDriver(tmp_path, account="111", region="eu-west-1").ensure_key(KeySpec(alias="a"))
    SandboxCloudDriver(tmp_path, account="222", region="ap-southeast-2").ensure_key(KeySpec(alias="a"))

    assert sorted(path.name for path in tmp_path.glob("*.json")) == ["111-eu-west-1.json", "222-ap-southeast-2.json"]
    with pytest.raises(errors.NotFound):
        SandboxCloudDriver(tmp_path, account="111", region="ap-southeast-2").describe_key("a")


def test_a_resource_is_creating_until_the_configured_latency_has_passed(tmp_path: Path) -> None:
    clock = Clock()
    driver = SandboxCloudDriver(tmp_path, latency_seconds=300, clock=clock)
    spec = DatabaseSpec(
        name="db", engine_version="16.3", instance_class="db.t4g.medium", storage_gb=20, backup_retention_days=7
    )

    creating = driver.ensure_database(spec)
    clock.now += timedelta(minutes=5)
    available = driver.describe_database("db")

    assert (creating.status, creating.latest_restorable_time) == ("creating", None)
    assert available.status == "available"
    assert available.latest_restorable_time == clock.now - timedelta(minutes=5)


def test_a_database_without_backups_has_no_restorable_time(tmp_path: Path) -> None:
    spec = DatabaseSpec(
        name="db", engine_version="16.3", instance_class="db.t4g.medium", storage_gb=20, backup_retention_days=0
    )

    assert SandboxCloudDriver(tmp_path).ensure_database(spec).latest_restorable_time is None


def test_an_injected_fault_is_seen_by_another_driver_on_the_same_state(tmp_path: Path) -> None:
    SandboxCloudDriver(tmp_path).inject_fault("create_bucket", errors.QuotaExceeded, times=1)
    worker = SandboxCloudDriver(tmp_path, retry_policy=NO_WAIT, sleep=lambda _: None)

    with pytest.raises(errors.QuotaExceeded):
        worker.ensure_bucket(BucketSpec(name="env-42-assets"))
    assert worker.ensure_bucket(BucketSpec(name="env-42-assets")).name == "env-42-assets"


def test_a_paused_cloud_makes_another_process_wait_until_the_pause_ends(tmp_path: Path) -> None:
    driver = SandboxCloudDriver(tmp_path)
    worker = multiprocessing.get_context("fork").Process(target=make_bucket, args=(str(tmp_path), "env-42-assets"))

    with driver.paused():
        worker.start()
        worker.join(timeout=1)
        assert worker.is_alive(), "the other process made its bucket while the cloud was paused"
    worker.join(timeout=60)

    assert worker.exitcode == 0
    assert [record["name"] for record in driver.records("buckets")] == ["env-42-assets"]


def test_records_lists_what_is_stored_of_one_kind(tmp_path: Path) -> None:
    driver = SandboxCloudDriver(tmp_path)
    driver.ensure_bucket(BucketSpec(name="env-42-assets", tags={"portal:environment-id": "42"}))
    driver.ensure_bucket(BucketSpec(name="env-43-assets"))

    assert sorted(record["name"] for record in driver.records("buckets")) == ["env-42-assets", "env-43-assets"]
    assert driver.records("caches") == []


def test_the_sandbox_bills_what_exists_for_each_day_asked_summed_by_tag(tmp_path: Path) -> None:
    driver = SandboxCloudDriver(tmp_path, account="111")
    driver.ensure_bucket(BucketSpec(name="env-42-assets", tags={"portal:team": "payments"}))
    driver.ensure_bucket(BucketSpec(name="env-43-assets", tags={"portal:team": "payments"}))
    driver.ensure_bucket(BucketSpec(name="shared-assets"))

    items = driver.fetch_costs(date(2026, 11, 1), date(2026, 11, 3), ["portal:team"])

    assert [(item.usage_date, item.tags["portal:team"], item.amount) for item in items] == [
        (date(2026, 11, 1), "", Decimal("0.2300")),
        (date(2026, 11, 1), "payments", Decimal("0.4600")),
        (date(2026, 11, 2), "", Decimal("0.2300")),
        (date(2026, 11, 2), "payments", Decimal("0.4600")),
    ]
    assert {(item.account, item.region, item.currency) for item in items} == {("111", "eu-west-1", "USD")}


def test_the_sandbox_bills_a_spot_pool_below_the_same_pool_on_demand(tmp_path: Path) -> None:
    driver = SandboxCloudDriver(tmp_path)
    pool = NodePoolSpec(name="pool", kind="high-cpu", instance_type="c6i.large", min_size=1, max_size=4, desired_size=2)
    for name, spot in (("on-demand", False), ("spot", True)):
        driver.ensure_kubernetes_cluster(
            KubernetesClusterSpec(
                name=name, version="1.34", subnet_ids=(), node_pools=(replace(pool, spot=spot),), tags={"cluster": name}
            )
        )

    items = driver.fetch_costs(date(2026, 11, 1), date(2026, 11, 2), ["cluster"])

    compute = {item.tags["cluster"]: item.amount for item in items if item.service.endswith("Compute")}
    assert Decimal(0) < compute["spot"] < compute["on-demand"]
