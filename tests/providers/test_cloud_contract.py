"""The cloud driver contract: the sandbox, the AWS driver (over HTTP to moto) and the Azure driver (through
azure-core's transport to an in-memory Azure) pass the same tests.

Names that only make sense for one cloud (zones, instance types, the DR
region) come from the harness's inputs. Where moto cannot show something a
real cloud does, or Azure truly works otherwise, the test says so and keeps the
assertion for the others; docs/providers.md lists these gaps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from providers import errors
from providers.cloud import (
    BucketSpec,
    CacheSpec,
    DatabaseSpec,
    KeySpec,
    KubernetesClusterSpec,
    NetworkSpec,
    NodePoolSpec,
    Placement,
)
from tests.providers import aws_rules
from tests.providers.conftest_cloud import (
    CloudHarness,
    aws_harness,
    azure_harness,
    gone,
    moto_endpoint,
    sandbox_harness,
    settled,
)

__all__ = ["moto_endpoint"]  # the session fixture, imported so pytest finds it


def network_spec(cloud: CloudHarness) -> NetworkSpec:
    return NetworkSpec(
        name="env-42-network",
        cidr="10.42.0.0/16",
        availability_zones=cloud.inputs.zones,
        public_subnet_cidrs=("10.42.0.0/24", "10.42.1.0/24"),
        private_subnet_cidrs=("10.42.10.0/24", "10.42.11.0/24"),
        nat_gateway=True,
        tags={"portal:environment": "42", "portal:team": "payments"},
    )


def nat_gateways(cloud: CloudHarness) -> int:
    """AWS: one NAT gateway per zone, so a zone's outage cuts off only its own private subnet. The sandbox keeps
    one, and Azure's one NAT gateway serves every subnet of the VNet."""
    return 2 if cloud.name == "aws" else 1


def placed(cloud: CloudHarness) -> dict[str, Any]:
    """Where a data service goes: the private subnets of the network, its id, and its address range."""
    network = cloud.driver.ensure_network(network_spec(cloud))
    return {
        "subnet_ids": tuple(subnet.id for subnet in network.subnets if not subnet.public),
        "vpc_id": network.id,
        "allowed_cidr": network.cidr,
    }


def dr_placed(cloud: CloudHarness) -> Placement:
    """Where a replica in the DR region goes: a network there of private subnets only, as a region build makes."""
    there = cloud.driver.in_region(cloud.inputs.dr_region)
    network = there.ensure_network(
        NetworkSpec(
            name="env-42-dr-network",
            cidr="10.43.0.0/16",
            availability_zones=cloud.inputs.zones if cloud.name == "azure" else (),
            public_subnet_cidrs=(),
            private_subnet_cidrs=("10.43.10.0/24", "10.43.11.0/24"),
            nat_gateway=False,
            zone_count=2,
        )
    )
    return Placement(tuple(subnet.id for subnet in network.subnets if not subnet.public), network.id, network.cidr)


def node_pools(cloud: CloudHarness) -> tuple[NodePoolSpec, ...]:
    types = cloud.inputs.instance_types
    return (
        NodePoolSpec(
            name="general", kind="general", instance_type=types["general"], min_size=2, max_size=6, desired_size=3
        ),
        NodePoolSpec(
            name="batch",
            kind="high-cpu",
            instance_type=types["high-cpu"],
            min_size=0,
            max_size=10,
            desired_size=1,
            spot=True,
        ),
        NodePoolSpec(name="gpu", kind="gpu", instance_type=types["gpu"], min_size=0, max_size=2, desired_size=0),
    )


@pytest.fixture(params=["sandbox", "aws", "azure"])
def cloud(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CloudHarness]:
    if request.param == "sandbox":
        yield sandbox_harness(tmp_path / "sandbox")
    elif request.param == "aws":
        harness = aws_harness(request.getfixturevalue("moto_endpoint"))
        yield harness
        aws_rules.verify_state(harness.driver)  # what was built would run on AWS
    else:
        yield azure_harness()


def cluster_spec(cloud: CloudHarness) -> KubernetesClusterSpec:
    network = cloud.driver.ensure_network(network_spec(cloud))
    return KubernetesClusterSpec(
        name="env-42",
        version="1.34",
        subnet_ids=tuple(subnet.id for subnet in network.subnets if not subnet.public),
        node_pools=node_pools(cloud),
        control_plane_role="arn:aws:iam::123456789012:role/eks-control-plane",
        node_role="arn:aws:iam::123456789012:role/eks-nodes",
        tags={"portal:environment": "42"},
    )


# ---------------------------------------------------------------- network


def test_ensuring_a_network_creates_public_and_private_subnets_per_zone_and_a_nat(cloud: CloudHarness) -> None:
    network = cloud.driver.ensure_network(network_spec(cloud))
    zone_a, zone_b = cloud.inputs.zones

    assert network.cidr == "10.42.0.0/16"
    assert [(subnet.cidr, subnet.availability_zone, subnet.public) for subnet in network.subnets] == [
        ("10.42.0.0/24", zone_a, True),
        ("10.42.1.0/24", zone_b, True),
        ("10.42.10.0/24", zone_a, False),
        ("10.42.11.0/24", zone_b, False),
    ]
    assert len(network.nat_gateway_ids) == nat_gateways(cloud)
    assert network.tags["portal:environment"] == "42"


def test_ensuring_a_network_again_creates_nothing_new(cloud: CloudHarness) -> None:
    first = cloud.driver.ensure_network(network_spec(cloud))

    again = cloud.driver.ensure_network(network_spec(cloud))

    assert again == first
    assert cloud.count_networks("env-42-network") == 1


def test_a_network_build_that_fails_half_way_is_finished_by_a_rerun_without_duplicates(cloud: CloudHarness) -> None:
    cloud.fail_next("create_nat_gateway", errors.Unavailable, 3)
    with pytest.raises(errors.Unavailable):
        cloud.driver.ensure_network(network_spec(cloud))

    network = cloud.driver.ensure_network(network_spec(cloud))

    assert cloud.count_networks("env-42-network") == 1
    assert len(network.subnets) == 4
    assert len(network.nat_gateway_ids) == nat_gateways(cloud)


def test_deleting_a_network_twice_succeeds_and_it_is_then_not_found(cloud: CloudHarness) -> None:
    cloud.driver.ensure_network(network_spec(cloud))

    cloud.driver.delete_network("env-42-network")
    cloud.driver.delete_network("env-42-network")

    with pytest.raises(errors.NotFound):
        cloud.driver.describe_network("env-42-network")


# ---------------------------------------------------------------- Kubernetes


def test_the_cloud_lists_the_kubernetes_versions_a_new_cluster_can_have_newest_first(cloud: CloudHarness) -> None:
    versions = cloud.driver.kubernetes_versions()

    numbers = [tuple(int(part) for part in info.version.split(".")) for info in versions]
    assert numbers == sorted(numbers, reverse=True)
    assert "1.34" in [info.version for info in versions]
    assert any(info.support == "standard" for info in versions)
    # 1.31 is past every support window (AKS keeps 1.30 only for long-term support, which the portal does not buy)
    assert not {"1.31", "1.30"} & {info.version for info in versions}
    assert sum(1 for info in versions if info.default) == 1


def test_a_cluster_of_a_version_the_cloud_no_longer_offers_is_refused(cloud: CloudHarness) -> None:
    spec = replace(cluster_spec(cloud), version="1.31")

    with pytest.raises(errors.InvalidRequest):
        cloud.driver.ensure_kubernetes_cluster(spec)


def test_a_cluster_reports_its_node_pools_with_spot_capacity_for_the_non_critical_one(cloud: CloudHarness) -> None:
    cluster = settled(lambda: cloud.driver.ensure_kubernetes_cluster(cluster_spec(cloud)))

    assert cluster.name == "env-42"
    assert cluster.version == "1.34"
    assert cluster.endpoint.startswith("https://")
    assert cluster.certificate_authority_data
    pools = {pool.name: pool for pool in cluster.node_pools}
    assert {name: pool.kind for name, pool in pools.items()} == {
        "general": "general",
        "batch": "high-cpu",
        "gpu": "gpu",
    }
    types = cloud.inputs.instance_types
    assert (pools["general"].spot, pools["general"].desired_size, pools["general"].instance_type) == (
        False,
        3,
        types["general"],
    )
    assert (pools["batch"].spot, pools["batch"].max_size, pools["batch"].instance_type) == (True, 10, types["high-cpu"])


def test_ensuring_a_cluster_again_creates_nothing_new(cloud: CloudHarness) -> None:
    spec = cluster_spec(cloud)
    first = settled(lambda: cloud.driver.ensure_kubernetes_cluster(spec))

    again = settled(lambda: cloud.driver.ensure_kubernetes_cluster(spec))

    assert again.id == first.id
    assert [pool.name for pool in again.node_pools] == [pool.name for pool in first.node_pools]


def test_a_cluster_whose_node_pools_failed_gets_them_on_rerun_without_a_second_cluster(cloud: CloudHarness) -> None:
    spec = cluster_spec(cloud)
    cloud.fail_next("create_node_pool", errors.Unavailable, 3)
    with pytest.raises(errors.Unavailable):
        settled(lambda: cloud.driver.ensure_kubernetes_cluster(spec))
    half_built = cloud.driver.describe_kubernetes_cluster("env-42")

    cluster = settled(lambda: cloud.driver.ensure_kubernetes_cluster(spec))

    # AKS cannot create a cluster without its system pool, so on Azure that one exists already.
    assert tuple(pool.name for pool in half_built.node_pools) == cloud.inputs.pools_born_with_cluster
    assert cluster.id == half_built.id
    assert sorted(pool.name for pool in cluster.node_pools) == ["batch", "general", "gpu"]


def test_deleting_a_cluster_twice_succeeds_and_it_is_then_not_found(cloud: CloudHarness) -> None:
    settled(lambda: cloud.driver.ensure_kubernetes_cluster(cluster_spec(cloud)))

    cloud.driver.delete_kubernetes_cluster("env-42")
    cloud.driver.delete_kubernetes_cluster("env-42")

    # Azure's delete is started, not waited for: the cluster is gone once Azure has finished.
    gone(lambda: cloud.driver.describe_kubernetes_cluster("env-42"))


def test_a_cluster_token_is_handed_out_with_its_expiry(cloud: CloudHarness) -> None:
    settled(lambda: cloud.driver.ensure_kubernetes_cluster(cluster_spec(cloud)))

    token, expires_at = cloud.driver.kubernetes_token("env-42")

    assert token.startswith(cloud.inputs.token_prefix)
    assert datetime.now(tz=UTC) < expires_at <= datetime.now(tz=UTC) + cloud.inputs.token_lifetime


# ---------------------------------------------------------------- databases


def database_spec(cloud: CloudHarness) -> DatabaseSpec:
    return DatabaseSpec(
        name="env-42-db",
        engine_version="16.3",
        instance_class=cloud.inputs.database_class,
        storage_gb=50,
        backup_retention_days=14,
        point_in_time_recovery=True,
        replica_region=cloud.inputs.dr_region,
        tags={"portal:environment": "42"},
        **placed(cloud),
        replica_placement=dr_placed(cloud),
    )


def test_a_database_reports_its_backup_retention_and_latest_restorable_time(cloud: CloudHarness) -> None:
    database = settled(lambda: cloud.driver.ensure_database(database_spec(cloud)))

    assert database.status == "available"
    assert database.backup_retention_days == 14
    assert database.latest_restorable_time is not None
    assert database.latest_restorable_time <= datetime.now(tz=UTC)
    assert database.encrypted
    assert database.port == 5432
    assert database.tags["portal:environment"] == "42"


def test_a_database_names_where_its_master_credentials_are_kept_but_never_holds_them(cloud: CloudHarness) -> None:
    database = settled(lambda: cloud.driver.ensure_database(database_spec(cloud)))

    assert database.credentials_reference, "no reference to the master credentials"
    assert "password" not in repr(database).lower()


def test_a_database_has_a_read_replica_in_the_dr_region(cloud: CloudHarness) -> None:
    database = settled(lambda: cloud.driver.ensure_database(database_spec(cloud)))

    assert database.replica is not None
    assert database.replica.region == cloud.inputs.dr_region
    assert database.replica.status == "available"
    if cloud.name == "aws":
        # RDS reports replica lag only as the CloudWatch metric ReplicaLag; moto publishes no RDS metrics.
        assert database.replica.lag_seconds is None
    else:
        assert database.replica.lag_seconds is not None
        assert database.replica.lag_seconds >= 0


def test_ensuring_a_database_again_creates_nothing_new(cloud: CloudHarness) -> None:
    first = settled(lambda: cloud.driver.ensure_database(database_spec(cloud)))

    again = settled(lambda: cloud.driver.ensure_database(database_spec(cloud)))

    assert again.id == first.id
    assert again.replica is not None
    assert first.replica is not None
    assert again.replica.name == first.replica.name


def test_a_database_whose_replica_failed_gets_it_on_rerun_without_a_second_instance(cloud: CloudHarness) -> None:
    cloud.fail_next("create_db_instance_read_replica", errors.Unavailable, 3)
    with pytest.raises(errors.Unavailable):
        settled(lambda: cloud.driver.ensure_database(database_spec(cloud)))
    half_built = cloud.driver.describe_database("env-42-db")

    database = settled(lambda: cloud.driver.ensure_database(database_spec(cloud)))

    assert half_built.replica is None
    assert database.id == half_built.id
    assert database.replica is not None
    assert database.replica.region == cloud.inputs.dr_region


def test_failing_over_promotes_the_replica_to_a_primary_with_backups_in_the_dr_region(cloud: CloudHarness) -> None:
    database = settled(lambda: cloud.driver.ensure_database(database_spec(cloud)))
    assert database.replica is not None

    spec = database_spec(cloud)
    promoted = cloud.driver.promote_database_replica(spec.name, cloud.inputs.dr_region, backup_retention_days=21)
    again = cloud.driver.promote_database_replica(spec.name, cloud.inputs.dr_region, backup_retention_days=21)

    assert promoted.name == database.replica.name
    assert promoted.replica is None
    assert promoted.backup_retention_days == 21
    assert again.id == promoted.id
    assert cloud.driver.describe_database(spec.name).replica is None, "the old primary still has a replica"


def test_a_new_replica_is_refused_while_the_promoted_one_stands_in_its_place(cloud: CloudHarness) -> None:
    settled(lambda: cloud.driver.ensure_database(database_spec(cloud)))
    cloud.driver.promote_database_replica(database_spec(cloud).name, cloud.inputs.dr_region)

    with pytest.raises(errors.Conflict, match="promoted"):
        cloud.driver.ensure_database(database_spec(cloud))


def test_failing_over_a_database_without_a_replica_is_not_found(cloud: CloudHarness) -> None:
    settled(lambda: cloud.driver.ensure_database(replace(database_spec(cloud), replica_region=None)))

    with pytest.raises(errors.NotFound):
        cloud.driver.promote_database_replica(database_spec(cloud).name, cloud.inputs.dr_region)


def test_deleting_a_database_twice_succeeds_and_it_is_then_not_found(cloud: CloudHarness) -> None:
    # Without the replica: moto 5.2 fails (HTTP 500) deleting a cross-region replica; the sandbox covers it below.
    spec = DatabaseSpec(
        name="env-42-db",
        engine_version="16.3",
        instance_class=cloud.inputs.database_class,
        storage_gb=20,
        backup_retention_days=7,
        **placed(cloud),
    )
    settled(lambda: cloud.driver.ensure_database(spec))

    cloud.driver.delete_database("env-42-db")
    cloud.driver.delete_database("env-42-db")

    gone(lambda: cloud.driver.describe_database("env-42-db"))


# ---------------------------------------------------------------- caches


def test_a_cache_is_created_once_with_its_replicas(cloud: CloudHarness) -> None:
    node_type = cloud.inputs.cache_node_type
    spec = CacheSpec(
        name="env-42-redis",
        node_type=node_type,
        replicas=1,
        tags={"portal:environment": "42"},
        **placed(cloud),
    )

    first = settled(lambda: cloud.driver.ensure_cache(spec))
    again = settled(lambda: cloud.driver.ensure_cache(spec))

    assert again.id == first.id
    assert first.status == "available"
    assert first.node_type == node_type
    assert first.port == cloud.inputs.cache_port
    assert first.primary_endpoint
    assert first.tags["portal:environment"] == "42"
    if cloud.name == "aws":
        # moto 5.2 ignores NumCacheClusters without ReplicasPerNodeGroup: it builds the primary only.
        assert first.replicas == 0
    else:
        assert first.replicas == 1


def test_deleting_a_cache_twice_succeeds_and_it_is_then_gone_or_going(cloud: CloudHarness) -> None:
    spec = CacheSpec(name="env-42-redis", node_type=cloud.inputs.cache_node_type, **placed(cloud))
    settled(lambda: cloud.driver.ensure_cache(spec))

    cloud.driver.delete_cache(spec.name)
    cloud.driver.delete_cache(spec.name)

    # ElastiCache keeps a group "deleting" for minutes (the moto harness drops it after the look that saw it
    # deleting), and so does Azure (the driver starts the delete and returns); the sandbox drops it at once.
    try:
        status = cloud.driver.describe_cache(spec.name).status
    except errors.NotFound:
        status = "gone"
    assert status in ("deleting", "gone")
    cloud.driver.delete_cache(spec.name)  # a third time, on a cache going or gone, still succeeds


# ---------------------------------------------------------------- buckets and objects

BUCKET = BucketSpec(
    name="env-42-assets",
    versioning=True,
    replication_target_bucket="env-42-assets-dr",
    replication_role="arn:aws:iam::123456789012:role/s3-replication",
    cold_storage_after_days=90,
    tags={"portal:environment": "42", "portal:team": "payments"},
)


def test_a_bucket_reports_versioning_replication_and_cold_storage(cloud: CloudHarness) -> None:
    cloud.driver.ensure_bucket(BucketSpec(name="env-42-assets-dr"))

    bucket = cloud.driver.ensure_bucket(BUCKET)

    assert bucket.versioning
    assert bucket.replication_target_bucket == "env-42-assets-dr"
    assert bucket.cold_storage_after_days == 90
    assert bucket.region == cloud.inputs.region
    assert bucket.tags["portal:team"] == "payments"


def test_ensuring_a_bucket_again_changes_nothing(cloud: CloudHarness) -> None:
    cloud.driver.ensure_bucket(BucketSpec(name="env-42-assets-dr"))
    first = cloud.driver.ensure_bucket(BUCKET)

    assert cloud.driver.ensure_bucket(BUCKET) == first


def test_a_bucket_whose_configuration_failed_is_configured_by_the_rerun(cloud: CloudHarness) -> None:
    cloud.driver.ensure_bucket(BucketSpec(name="env-42-assets-dr"))
    cloud.fail_next("put_bucket_versioning", errors.Unavailable, 3)
    with pytest.raises(errors.Unavailable):
        cloud.driver.ensure_bucket(BUCKET)

    bucket = cloud.driver.ensure_bucket(BUCKET)

    assert bucket.versioning
    assert bucket.cold_storage_after_days == 90


def test_a_bucket_with_objects_is_deleted_idempotently(cloud: CloudHarness) -> None:
    cloud.driver.ensure_bucket(BucketSpec(name="env-42-logs"))
    cloud.put_object("env-42-logs", "a.txt", b"one")
    cloud.put_object("env-42-logs", "a.txt", b"two")

    cloud.driver.delete_bucket("env-42-logs")
    cloud.driver.delete_bucket("env-42-logs")

    with pytest.raises(errors.NotFound):
        cloud.driver.describe_bucket("env-42-logs")


def test_objects_are_listed_by_prefix_in_key_order_and_read_back(cloud: CloudHarness) -> None:
    cloud.driver.ensure_bucket(BucketSpec(name="env-42-reports"))
    cloud.put_object("env-42-reports", "2026/11/b.csv", b"b,2\n")
    cloud.put_object("env-42-reports", "2026/11/a.csv", b"a,1\n")
    cloud.put_object("env-42-reports", "2025/12/z.csv", b"z\n")

    listed = cloud.driver.list_objects("env-42-reports", prefix="2026/")

    assert [(item.key, item.size) for item in listed] == [("2026/11/a.csv", 4), ("2026/11/b.csv", 4)]
    assert all(item.etag and item.last_modified.tzinfo for item in listed)
    assert cloud.driver.read_object("env-42-reports", "2026/11/b.csv") == b"b,2\n"
    with pytest.raises(errors.NotFound):
        cloud.driver.read_object("env-42-reports", "2026/11/missing.csv")


def test_an_object_opened_as_a_stream_reads_back_a_chunk_at_a_time(cloud: CloudHarness) -> None:
    cloud.driver.ensure_bucket(BucketSpec(name="env-42-reports"))
    body = b"".join(b"line %d\n" % number for number in range(5000))
    cloud.put_object("env-42-reports", "2026/11/export.csv", body)

    stream = cloud.driver.open_object("env-42-reports", "2026/11/export.csv")
    chunks = []
    while chunk := stream.read(4096):
        assert len(chunk) <= 4096
        chunks.append(chunk)
    stream.close()

    assert b"".join(chunks) == body
    assert len(chunks) > 1
    with pytest.raises(errors.NotFound):
        cloud.driver.open_object("env-42-reports", "2026/11/missing.csv")


# ---------------------------------------------------------------- keys


def test_a_key_is_found_again_by_its_alias(cloud: CloudHarness) -> None:
    first = cloud.driver.ensure_key(KeySpec(alias="env-42", tags={"portal:environment": "42"}))

    again = cloud.driver.ensure_key(KeySpec(alias="env-42", tags={"portal:environment": "42"}))

    assert again.id == first.id
    assert first.enabled
    assert first.tags["portal:environment"] == "42"
    assert cloud.count_keys("env-42") == 1


def test_a_key_created_before_a_crash_is_adopted_by_the_rerun_instead_of_duplicated(cloud: CloudHarness) -> None:
    cloud.fail_next("create_alias", errors.Unavailable, 3)
    with pytest.raises(errors.Unavailable):
        cloud.driver.ensure_key(KeySpec(alias="env-42"))

    key = cloud.driver.ensure_key(KeySpec(alias="env-42"))

    assert key.alias == "env-42"
    assert cloud.count_keys("env-42") == 1


def test_deleting_a_key_twice_succeeds_and_its_alias_is_then_not_found(cloud: CloudHarness) -> None:
    cloud.driver.ensure_key(KeySpec(alias="env-42"))

    cloud.driver.delete_key("env-42")
    cloud.driver.delete_key("env-42")

    with pytest.raises(errors.NotFound):
        cloud.driver.describe_key("env-42")


# ---------------------------------------------------------------- costs


def test_costs_come_back_as_daily_decimal_line_items_grouped_by_the_tag_asked_for(cloud: CloudHarness) -> None:
    start, end = date(2026, 11, 1), date(2026, 11, 4)
    cloud.driver.ensure_bucket(BucketSpec(name="env-42-costed", tags={"portal:team": "payments"}))
    cloud.seed_costs(start, end, "portal:team", "payments", cloud.inputs.storage_service)

    items = cloud.driver.fetch_costs(start, end, ["portal:team"])

    assert items
    assert all(isinstance(item.amount, Decimal) and item.currency == "USD" for item in items)
    assert all(start <= item.usage_date < end for item in items)
    assert all(set(item.tags) == {"portal:team"} for item in items)
    payments = [item for item in items if item.tags == {"portal:team": "payments"}]
    assert {item.usage_date for item in payments} == {date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)}
    assert all(item.service == cloud.inputs.storage_service and item.amount > 0 for item in payments)
    assert all(item.account == cloud.inputs.account for item in items)


def test_a_cost_report_holds_the_same_line_items_and_counts_its_requests(cloud: CloudHarness) -> None:
    start, end = date(2026, 11, 1), date(2026, 11, 3)
    cloud.driver.ensure_bucket(BucketSpec(name="env-42-reported", tags={"portal:team": "payments"}))
    cloud.seed_costs(start, end, "portal:team", "payments", cloud.inputs.storage_service)

    items = cloud.driver.fetch_costs(start, end, ["portal:team"])
    report = cloud.driver.cost_report(start, end, ["portal:team"])

    assert report.items == items
    assert report.requests >= 1


# ---------------------------------------------------------------- throttling


def test_throttling_is_retried_and_the_call_then_succeeds(cloud: CloudHarness) -> None:
    cloud.fail_next("create_bucket", errors.Throttled, 2)

    bucket = cloud.driver.ensure_bucket(BucketSpec(name="env-42-throttled"))

    assert bucket.name == "env-42-throttled"
    assert len(cloud.sleeps) == 2


def test_a_transient_fault_is_retried_and_the_call_then_succeeds(cloud: CloudHarness) -> None:
    cloud.fail_next("create_key", errors.Unavailable, 2)

    key = cloud.driver.ensure_key(KeySpec(alias="env-42"))

    assert key.alias == "env-42"
    assert len(cloud.sleeps) == 2
    assert cloud.count_keys("env-42") == 1


def test_throttling_that_outlasts_the_retries_surfaces_as_throttled(cloud: CloudHarness) -> None:
    cloud.fail_next("create_subnet", errors.Throttled, 10)

    with pytest.raises(errors.Throttled):
        cloud.driver.ensure_network(network_spec(cloud))

    assert len(cloud.sleeps) == 2  # three attempts in all, then the error


# ---------------------------------------------------------------- sandbox only


def test_the_sandbox_deletes_a_database_with_its_replica(tmp_path: Path) -> None:
    cloud = sandbox_harness(tmp_path)
    settled(lambda: cloud.driver.ensure_database(database_spec(cloud)))

    cloud.driver.delete_database("env-42-db")

    with pytest.raises(errors.NotFound):
        cloud.driver.describe_database("env-42-db")
