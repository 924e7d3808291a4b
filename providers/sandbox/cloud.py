"""A simulated cloud for demos and tests: persisted, shared between processes, slow or faulty on demand.

State lives in one JSON document per account and region inside the
directory given to the driver. Every step reads, changes and writes it under
an exclusive file lock and replaces the file atomically, so the web server and
the Celery workers see the same cloud. Each step of a multi-step ``ensure_*``
is its own locked transaction, so a fault between two steps leaves the
half-built state a real cloud would, and a re-run finishes it without
duplicates.

Faults are part of the state too: :meth:`SandboxCloudDriver.inject_fault`
makes the next N calls of one step raise a typed error (``Throttled``,
``Unavailable``…), whichever process makes them.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, TypeVar

from providers import errors
from providers.cloud import (
    BucketInfo,
    BucketSpec,
    CacheInfo,
    CacheSpec,
    CostLineItem,
    CostReport,
    DatabaseInfo,
    DatabaseSpec,
    KeyInfo,
    KeySpec,
    KubernetesClusterInfo,
    KubernetesClusterSpec,
    KubernetesVersionInfo,
    NetworkInfo,
    NetworkSpec,
    NodePoolInfo,
    NodePoolSpec,
    ObjectInfo,
    Placement,
    ReplicaInfo,
    RoleInfo,
    RoleSpec,
    SubnetInfo,
    newest_first,
)
from providers.retry import RetryPolicy, call_with_retries

DEFAULT_RETRIES = RetryPolicy()
T = TypeVar("T")
State = dict[str, Any]

FAULTS: dict[str, type[errors.ProviderError]] = {
    cls.__name__: cls
    for cls in (
        errors.Throttled,
        errors.Unavailable,
        errors.NotFound,
        errors.Conflict,
        errors.Busy,
        errors.PermissionDenied,
        errors.QuotaExceeded,
        errors.InvalidRequest,
    )
}

# Plausible list prices per day, so the sandbox's bills look like a cloud's.
DAILY_PRICES: dict[str, tuple[str, Decimal, str]] = {
    "networks": ("Amazon Virtual Private Cloud", Decimal("1.0800"), "NatGateway-Hours"),
    "clusters": ("Amazon Elastic Kubernetes Service", Decimal("2.4000"), "AmazonEKS-Hours:perCluster"),
    "node_pools": ("Amazon Elastic Compute Cloud - Compute", Decimal("4.6080"), "BoxUsage"),
    "databases": ("Amazon Relational Database Service", Decimal("8.2800"), "InstanceUsage:db"),
    "caches": ("Amazon ElastiCache", Decimal("3.7440"), "NodeUsage:cache"),
    "buckets": ("Amazon Simple Storage Service", Decimal("0.2300"), "TimedStorage-ByteHrs"),
    "keys": ("AWS Key Management Service", Decimal("0.0329"), "KMS-Keys"),
}
# The Kubernetes versions the sandbox creates clusters with unless a test or demo offers others
# (:meth:`SandboxCloudDriver.offer_kubernetes_versions`), shaped like a managed cloud's list: the newest in
# standard support, older ones in extended support.
KUBERNETES_VERSIONS: tuple[KubernetesVersionInfo, ...] = (
    KubernetesVersionInfo("1.35", "standard", default=True, end_of_standard_support=date(2027, 3, 27)),
    KubernetesVersionInfo("1.34", "standard", end_of_standard_support=date(2026, 12, 2)),
    KubernetesVersionInfo("1.33", "extended", end_of_standard_support=date(2026, 7, 29)),
    KubernetesVersionInfo("1.32", "extended", end_of_standard_support=date(2026, 3, 23)),
)
SPOT_DISCOUNT = Decimal("0.35")
REPLICA_LAG_SECONDS = 0.8


def _now() -> datetime:
    return datetime.now(tz=UTC)


def _short_id(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:17]


class SandboxCloudDriver:
    """A :class:`~providers.cloud.CloudDriver` that keeps its cloud in JSON files under ``state_dir``.

    ``latency_seconds`` is how long a new resource stays ``creating`` before it
    reports ``available`` (0: at once). Retryable faults are retried with
    ``retry_policy``, sleeping with ``sleep``.
    """

    def __init__(
        self,
        state_dir: Path | str,
        *,
        account: str = "sandbox",
        region: str = "eu-west-1",
        latency_seconds: float = 0.0,
        retry_policy: RetryPolicy = DEFAULT_RETRIES,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.account = account
        self.region = region
        self.latency_seconds = latency_seconds
        self.retry_policy = retry_policy
        self.sleep = sleep
        self.clock = clock
        self.state_dir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------ state

    def _path(self, region: str | None = None) -> Path:
        return self.state_dir / f"{self.account}-{region or self.region}.json"

    @contextmanager
    def _state(self, region: str | None = None) -> Iterator[State]:
        """The region's document, locked; written back atomically when the block ends without error."""
        path = self._path(region)
        with open(path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state: State = json.loads(path.read_text()) if path.exists() else {}
                before = json.dumps(state, sort_keys=True)
                yield state
                after = json.dumps(state, sort_keys=True)
                if after != before:
                    handle, temporary = tempfile.mkstemp(dir=self.state_dir, prefix=path.name, suffix=".tmp")
                    with os.fdopen(handle, "w") as out:
                        out.write(after)
                    os.replace(temporary, path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _step(self, operation: str, change: Callable[[State], T], region: str | None = None) -> T:
        """Run one locked step, after any fault injected for ``operation``; retry retryable faults."""

        def attempt() -> T:
            with self._state(region) as state:
                fault = state.setdefault("faults", {}).get(operation)
                if fault and fault["remaining"] > 0:
                    fault["remaining"] -= 1
                    error = FAULTS[fault["error"]](f"sandbox fault injected for {operation}", resource=operation)
                else:
                    return change(state)
            raise error  # outside the lock, after the decremented count was saved

        return call_with_retries(attempt, self.retry_policy, self.sleep)

    def inject_fault(self, operation: str, error: type[errors.ProviderError], times: int = 1) -> None:
        """Make the next ``times`` calls of ``operation`` (e.g. ``create_subnet``) raise ``error``."""
        with self._state() as state:
            state.setdefault("faults", {})[operation] = {"error": error.__name__, "remaining": times}

    def offer_kubernetes_versions(self, versions: Sequence[KubernetesVersionInfo]) -> None:
        """Make the region offer these Kubernetes versions to new clusters (and refuse every other)."""
        with self._state() as state:
            state["kubernetes_versions"] = [
                {
                    "version": info.version,
                    "support": info.support,
                    "default": info.default,
                    "end_of_standard_support": info.end_of_standard_support.isoformat()
                    if info.end_of_standard_support
                    else None,
                    "patch_versions": list(info.patch_versions),
                }
                for info in versions
            ]

    @staticmethod
    def _offered(state: State) -> list[KubernetesVersionInfo]:
        if "kubernetes_versions" not in state:
            return list(KUBERNETES_VERSIONS)
        return [
            KubernetesVersionInfo(
                version=item["version"],
                support=item["support"],
                default=item["default"],
                end_of_standard_support=date.fromisoformat(item["end_of_standard_support"])
                if item["end_of_standard_support"]
                else None,
                patch_versions=tuple(item["patch_versions"]),
            )
            for item in state["kubernetes_versions"]
        ]

    def kubernetes_versions(self) -> list[KubernetesVersionInfo]:
        """The versions the region offers new clusters, newest first."""
        return newest_first(self._step("list_kubernetes_versions", self._offered))

    @contextmanager
    def paused(self, region: str | None = None) -> Iterator[None]:
        """Hold the region's document: every call on it, from any process, waits until the block ends.

        A cloud that hangs on a call, for tests that must stop a worker in the
        middle of a step (and kill it there) without racing it. Inside the
        block, this process must not call the driver on the same region: it
        would wait for itself.
        """
        with self._state(region):
            yield

    def records(self, kind: str, region: str | None = None) -> list[dict[str, Any]]:
        """Every stored record of ``kind`` (``databases``, ``caches``, ``buckets``…), for inspection."""
        with self._state(region) as state:
            return [dict(record) for record in state.get(kind, {}).values()]

    def _table(self, state: State, kind: str) -> dict[str, Any]:
        table: dict[str, Any] = state.setdefault(kind, {})
        return table

    def _status(self, record: dict[str, Any]) -> str:
        if record.get("status") != "creating":
            return str(record.get("status", "available"))
        created = datetime.fromisoformat(record["created_at"])
        ready = self.clock() - created >= timedelta(seconds=self.latency_seconds)
        return "available" if ready else "creating"

    def _new(self, kind: str, name: str, tags: dict[str, str], **fields: Any) -> dict[str, Any]:
        return {
            "id": f"{kind[:3]}-{_short_id(self.account, self.region, kind, name)}",
            "name": name,
            "status": "creating",
            "created_at": self.clock().isoformat(),
            "tags": dict(tags),
            **fields,
        }

    def _get(self, kind: str, name: str, region: str | None = None) -> dict[str, Any]:
        with self._state(region) as state:
            record = self._table(state, kind).get(name)
        if record is None:
            raise errors.NotFound(f"no {kind[:-1]} named {name}", resource=name)
        return dict(record)

    # ------------------------------------------------------------ network

    def ensure_network(self, spec: NetworkSpec) -> NetworkInfo:
        """Create the network, its subnets, internet gateway, NAT gateway and routes where missing."""

        def network(state: State) -> None:
            table = self._table(state, "networks")
            if spec.name not in table:
                table[spec.name] = self._new(
                    "networks", spec.name, dict(spec.tags), cidr=spec.cidr, subnets={}, nat_gateways=[], routes=[]
                )

        self._step("create_vpc", network)
        # Zones the spec leaves to the cloud are the region's first ones, as AWS's letters name them here.
        pairs = spec.zone_count or max(len(spec.public_subnet_cidrs), len(spec.private_subnet_cidrs))
        zones = spec.availability_zones or spec.zone_ids or tuple(f"{self.region}{chr(97 + i)}" for i in range(pairs))
        subnets = [(cidr, zone, True) for cidr, zone in zip(spec.public_subnet_cidrs, zones, strict=False)]
        subnets += [(cidr, zone, False) for cidr, zone in zip(spec.private_subnet_cidrs, zones, strict=False)]
        for cidr, zone, public in subnets:

            def subnet(state: State, cidr: str = cidr, zone: str = zone, public: bool = public) -> None:
                record = self._table(state, "networks")[spec.name]
                key = f"subnet-{_short_id(record['id'], cidr)}"
                record["subnets"].setdefault(key, {"cidr": cidr, "zone": zone, "public": public})

            self._step("create_subnet", subnet)

        def internet_gateway(state: State) -> None:
            record = self._table(state, "networks")[spec.name]
            record.setdefault("internet_gateway", f"igw-{_short_id(record['id'], 'igw')}")

        self._step("create_internet_gateway", internet_gateway)
        if spec.nat_gateway:

            def nat(state: State) -> None:
                record = self._table(state, "networks")[spec.name]
                if not record["nat_gateways"]:
                    record["nat_gateways"].append(f"nat-{_short_id(record['id'], 'nat')}")

            self._step("create_nat_gateway", nat)

        def routes(state: State) -> None:
            record = self._table(state, "networks")[spec.name]
            record["routes"] = ["public", "private"]

        self._step("create_route_table", routes)
        return self.describe_network(spec.name)

    def describe_network(self, name: str) -> NetworkInfo:
        """The network of this name, or NotFound."""
        record = self._get("networks", name)
        return NetworkInfo(
            id=record["id"],
            name=name,
            cidr=record["cidr"],
            status=self._status(record),
            subnets=tuple(
                SubnetInfo(id=key, cidr=value["cidr"], availability_zone=value["zone"], public=value["public"])
                for key, value in sorted(record["subnets"].items(), key=lambda item: item[1]["cidr"])
            ),
            nat_gateway_ids=tuple(record["nat_gateways"]),
            tags=record["tags"],
        )

    def delete_network(self, name: str) -> None:
        """Delete the network; a missing one is already deleted."""
        self._step("delete_vpc", lambda state: self._table(state, "networks").pop(name, None))

    # ------------------------------------------------------------ Kubernetes

    def ensure_kubernetes_cluster(self, spec: KubernetesClusterSpec) -> KubernetesClusterInfo:
        """Create the control plane, then each missing node pool."""

        def cluster(state: State) -> None:
            table = self._table(state, "clusters")
            if spec.name not in table:
                # A managed cloud refuses a version it no longer (or not yet) creates clusters with.
                minor = ".".join(spec.version.split(".")[:2])
                offered = [info.version for info in self._offered(state)]
                if minor not in offered:
                    raise errors.InvalidRequest(
                        f"Kubernetes {spec.version} is not offered for new clusters; offered: {', '.join(offered)}",
                        resource=spec.name,
                    )
                table[spec.name] = self._new(
                    "clusters",
                    spec.name,
                    dict(spec.tags),
                    version=spec.version,
                    subnet_ids=list(spec.subnet_ids),
                    node_pools={},
                )

        self._step("create_cluster", cluster)
        for pool in spec.node_pools:
            self.ensure_node_pool(spec.name, pool, spec.node_role)
        return self.describe_kubernetes_cluster(spec.name)

    def ensure_node_pool(self, cluster_name: str, pool: NodePoolSpec, node_role: str = "") -> NodePoolInfo:
        """Create the node pool if the cluster lacks it."""

        def create(state: State) -> dict[str, Any]:
            cluster = self._table(state, "clusters").get(cluster_name)
            if cluster is None:
                raise errors.NotFound(f"no cluster named {cluster_name}", resource=cluster_name)
            record: dict[str, Any] = cluster["node_pools"].setdefault(
                pool.name,
                {
                    "status": "creating",
                    "created_at": self.clock().isoformat(),
                    "kind": pool.kind,
                    "instance_type": pool.instance_type,
                    "min_size": pool.min_size,
                    "max_size": pool.max_size,
                    "desired_size": pool.desired_size,
                    "spot": pool.spot,
                },
            )
            return dict(record)

        return self._pool_info(pool.name, self._step("create_node_pool", create))

    def _pool_info(self, name: str, record: dict[str, Any]) -> NodePoolInfo:
        return NodePoolInfo(
            name=name,
            status=self._status(record),
            instance_type=record["instance_type"],
            min_size=record["min_size"],
            max_size=record["max_size"],
            desired_size=record["desired_size"],
            spot=record["spot"],
            kind=record["kind"],
        )

    def describe_kubernetes_cluster(self, name: str) -> KubernetesClusterInfo:
        """The cluster and its node pools, or NotFound."""
        record = self._get("clusters", name)
        return KubernetesClusterInfo(
            name=name,
            id=f"arn:sandbox:eks:{self.region}:{self.account}:cluster/{name}",
            status=self._status(record),
            version=record["version"],
            endpoint=f"https://{record['id']}.sandbox.{self.region}.invalid",
            certificate_authority_data="c2FuZGJveC1jYQ==",
            node_pools=tuple(self._pool_info(key, value) for key, value in sorted(record["node_pools"].items())),
            tags=record["tags"],
            subnet_ids=tuple(record.get("subnet_ids", ())),
        )

    def delete_node_pool(self, cluster_name: str, pool_name: str) -> None:
        """Delete one node pool; a missing one is already deleted."""

        def delete(state: State) -> None:
            cluster = self._table(state, "clusters").get(cluster_name)
            if cluster is not None:
                cluster["node_pools"].pop(pool_name, None)

        self._step("delete_node_pool", delete)

    def delete_kubernetes_cluster(self, name: str) -> None:
        """Delete the cluster with its node pools."""
        self._step("delete_cluster", lambda state: self._table(state, "clusters").pop(name, None))

    def kubernetes_token(self, cluster_name: str) -> tuple[str, datetime]:
        """A sandbox bearer token for the cluster, valid for 15 minutes."""
        self._get("clusters", cluster_name)
        issued = self.clock()
        digest = _short_id(self.account, cluster_name, issued.isoformat())
        return f"k8s-sandbox-v1.{digest}", issued + timedelta(minutes=15)

    # ------------------------------------------------------------ databases

    def ensure_database(self, spec: DatabaseSpec) -> DatabaseInfo:
        """Create the database, then its replica when the spec names a DR region."""

        def create(state: State) -> None:
            table = self._table(state, "databases")
            if spec.name not in table:
                table[spec.name] = self._new(
                    "databases",
                    spec.name,
                    dict(spec.tags),
                    engine_version=spec.engine_version,
                    instance_class=spec.instance_class,
                    storage_gb=spec.storage_gb,
                    backup_retention_days=spec.backup_retention_days,
                    point_in_time_recovery=spec.point_in_time_recovery,
                    encrypted=True,
                    replica=None,
                )

        self._step("create_db_instance", create)
        if spec.replica_region:
            self.ensure_database_replica(spec.name, spec.replica_region, placement=spec.replica_placement)
        return self.describe_database(spec.name)

    def in_region(self, region: str) -> SandboxCloudDriver:
        """This driver working in ``region`` of the same account and state directory."""
        there = copy.copy(self)
        there.region = region
        return there

    def ensure_database_replica(
        self,
        name: str,
        region: str,
        encryption_key_id: str | None = None,
        *,
        placement: Placement | None = None,
    ) -> ReplicaInfo:
        """Create the read replica in ``region`` if the database has none there (the sandbox encrypts nothing, so
        ``encryption_key_id`` is accepted and ignored; ``placement``'s subnets are kept on the replica)."""
        replica_name = f"{name}-replica"
        with self._state(region) as elsewhere:
            if replica_name in self._table(elsewhere, "databases"):
                message = f"{replica_name} in {region} was promoted to a standalone database; delete it first"
                raise errors.Conflict(message, resource=replica_name)

        def create(state: State) -> None:
            record = self._table(state, "databases").get(name)
            if record is None:
                raise errors.NotFound(f"no database named {name}", resource=name)
            if not record["replica"]:
                record["replica"] = {
                    "name": replica_name,
                    "region": region,
                    "status": "creating",
                    "created_at": self.clock().isoformat(),
                    "subnet_ids": list(placement.subnet_ids) if placement else [],
                }

        self._step("create_db_instance_read_replica", create)
        replica = self.describe_database(name).replica
        assert replica is not None  # noqa: S101 (created just above)
        return replica

    def describe_database(self, name: str) -> DatabaseInfo:
        """The database with its restorable time, retention and replica lag, or NotFound."""
        return self._describe_database(name, self.region)

    def _describe_database(self, name: str, region: str) -> DatabaseInfo:
        record = self._get("databases", name, region)
        status = self._status(record)
        replica = record["replica"]
        replica_info = None
        if replica:
            replica_status = self._status(replica)
            replica_info = ReplicaInfo(
                name=replica["name"],
                region=replica["region"],
                status=replica_status,
                lag_seconds=REPLICA_LAG_SECONDS if replica_status == "available" else None,
            )
        restorable = None
        if status == "available" and record["backup_retention_days"] > 0 and record["point_in_time_recovery"]:
            restorable = (self.clock() - timedelta(minutes=5)).replace(microsecond=0)
        return DatabaseInfo(
            name=name,
            id=f"arn:sandbox:rds:{region}:{self.account}:db:{name}",
            status=status,
            endpoint=f"{name}.{record['id']}.{region}.sandbox.invalid",
            port=5432,
            engine_version=record["engine_version"],
            backup_retention_days=record["backup_retention_days"],
            latest_restorable_time=restorable,
            encrypted=record["encrypted"],
            replica=replica_info,
            tags=record["tags"],
            credentials_reference=f"arn:sandbox:secretsmanager:{region}:{self.account}:secret:{name}-master",
        )

    def promote_database_replica(self, name: str, region: str, backup_retention_days: int = 7) -> DatabaseInfo:
        """Make the replica in ``region`` a standalone database there, with backups on.

        The replica first becomes a database in ``region``'s document, then
        the primary forgets it; each step is idempotent, so a re-run after a
        crash between them finishes the second.
        """
        replica_name = f"{name}-replica"

        def replica_of_primary(state: State) -> dict[str, Any] | None:
            record = self._table(state, "databases").get(name)
            if record is None or not record["replica"] or record["replica"]["region"] != region:
                return None
            return {**record, "replica": None, "name": replica_name, "created_at": record["replica"]["created_at"]}

        source = self._step("promote_read_replica", replica_of_primary)

        def stand_alone(state: State) -> None:
            table = self._table(state, "databases")
            if replica_name in table:
                return
            if source is None:
                raise errors.NotFound(f"database {name} has no replica in {region}", resource=replica_name)
            table[replica_name] = {
                **source,
                "id": f"dat-{_short_id(self.account, region, 'databases', replica_name)}",
                "status": "available",
                "backup_retention_days": backup_retention_days,
                "point_in_time_recovery": backup_retention_days > 0,
            }

        self._step("promote_read_replica", stand_alone, region=region)
        self.delete_database_replica(name, region)
        return self._describe_database(replica_name, region)

    def delete_database_replica(self, name: str, region: str) -> None:
        """Delete the database's replica; a missing one is already deleted."""

        def delete(state: State) -> None:
            record = self._table(state, "databases").get(name)
            if record is not None and record["replica"] and record["replica"]["region"] == region:
                record["replica"] = None

        self._step("delete_db_instance_replica", delete)

    def delete_database(self, name: str) -> None:
        """Delete the database and its replica."""
        self._step("delete_db_instance", lambda state: self._table(state, "databases").pop(name, None))

    # ------------------------------------------------------------ caches

    def ensure_cache(self, spec: CacheSpec) -> CacheInfo:
        """Create the Redis replication group if missing."""

        def create(state: State) -> None:
            table = self._table(state, "caches")
            if spec.name not in table:
                table[spec.name] = self._new(
                    "caches", spec.name, dict(spec.tags), node_type=spec.node_type, replicas=spec.replicas
                )

        self._step("create_replication_group", create)
        return self.describe_cache(spec.name)

    def describe_cache(self, name: str) -> CacheInfo:
        """The Redis replication group, or NotFound."""
        record = self._get("caches", name)
        return CacheInfo(
            name=name,
            id=record["id"],
            status=self._status(record),
            primary_endpoint=f"{name}.{record['id']}.cache.sandbox.invalid",
            port=6379,
            node_type=record["node_type"],
            replicas=record["replicas"],
            tags=record["tags"],
        )

    def delete_cache(self, name: str) -> None:
        """Delete the replication group; a missing one is already deleted."""
        self._step("delete_replication_group", lambda state: self._table(state, "caches").pop(name, None))

    # ------------------------------------------------------------ buckets and objects

    def ensure_bucket(self, spec: BucketSpec) -> BucketInfo:
        """Create the bucket if missing, then apply versioning, replication and lifecycle."""

        def create(state: State) -> None:
            table = self._table(state, "buckets")
            if spec.name not in table:
                record = self._new("buckets", spec.name, dict(spec.tags), versioning=False, objects={})
                record["status"] = "available"
                table[spec.name] = record

        def configure(state: State) -> None:
            record = self._table(state, "buckets")[spec.name]
            record["versioning"] = spec.versioning
            record["replication_target_bucket"] = spec.replication_target_bucket
            record["cold_storage_after_days"] = spec.cold_storage_after_days

        self._step("create_bucket", create)
        self._step("put_bucket_versioning", configure)
        return self.describe_bucket(spec.name)

    def describe_bucket(self, name: str) -> BucketInfo:
        """The bucket's settings, or NotFound."""
        record = self._get("buckets", name)
        return BucketInfo(
            name=name,
            region=self.region,
            versioning=record["versioning"],
            replication_target_bucket=record.get("replication_target_bucket"),
            cold_storage_after_days=record.get("cold_storage_after_days"),
            tags=record["tags"],
        )

    def delete_bucket(self, name: str) -> None:
        """Delete the bucket and its objects; a missing one is already deleted."""
        self._step("delete_bucket", lambda state: self._table(state, "buckets").pop(name, None))

    def put_object(self, bucket: str, key: str, body: bytes) -> None:
        """Store an object (the sandbox's stand-in for uploads by the platform's own services)."""

        def put(state: State) -> None:
            record = self._table(state, "buckets").get(bucket)
            if record is None:
                raise errors.NotFound(f"no bucket named {bucket}", resource=bucket)
            record["objects"][key] = {
                "body": body.decode("latin-1"),
                "last_modified": self.clock().isoformat(),
                "etag": hashlib.md5(body, usedforsecurity=False).hexdigest(),
            }

        self._step("put_object", put)

    def list_objects(self, bucket: str, prefix: str = "") -> list[ObjectInfo]:
        """Objects under ``prefix``, in key order."""
        record = self._get("buckets", bucket)
        return [
            ObjectInfo(
                key=key,
                size=len(value["body"].encode("latin-1")),
                last_modified=datetime.fromisoformat(value["last_modified"]),
                etag=value["etag"],
            )
            for key, value in sorted(record["objects"].items())
            if key.startswith(prefix)
        ]

    def read_object(self, bucket: str, key: str) -> bytes:
        """The object's content, or NotFound."""
        record = self._get("buckets", bucket)
        if key not in record["objects"]:
            raise errors.NotFound(f"no object {key} in {bucket}", resource=f"{bucket}/{key}")
        body: str = record["objects"][key]["body"]
        return body.encode("latin-1")

    def open_object(self, bucket: str, key: str) -> IO[bytes]:
        """The object's content as a stream (the sandbox keeps objects in its state file anyway)."""
        return io.BytesIO(self.read_object(bucket, key))

    # ------------------------------------------------------------ keys

    def ensure_key(self, spec: KeySpec) -> KeyInfo:
        """Create the key under its alias if the alias is unknown."""

        def create(state: State) -> None:
            table = self._table(state, "keys")
            if spec.alias not in table:
                record = self._new("keys", spec.alias, dict(spec.tags), description=spec.description, aliased=False)
                record["status"] = "available"
                table[spec.alias] = record

        def alias(state: State) -> None:
            self._table(state, "keys")[spec.alias]["aliased"] = True

        # Two steps, as on a real cloud: a crash between them leaves a key without its alias.
        self._step("create_key", create)
        self._step("create_alias", alias)
        return self.describe_key(spec.alias)

    def describe_key(self, alias: str) -> KeyInfo:
        """The key behind the alias, or NotFound."""
        record = self._get("keys", alias)
        if not record.get("aliased"):
            raise errors.NotFound(f"no key aliased {alias}", resource=alias)
        key_id = record["id"].removeprefix("key-")
        return KeyInfo(
            id=key_id,
            arn=f"arn:sandbox:kms:{self.region}:{self.account}:key/{key_id}",
            alias=alias,
            enabled=True,
            tags=record["tags"],
        )

    def delete_key(self, alias: str) -> None:
        """Forget the key and its alias; a missing one is already deleted."""
        self._step("schedule_key_deletion", lambda state: self._table(state, "keys").pop(alias, None))

    # ------------------------------------------------------------ identities

    def ensure_role(self, spec: RoleSpec) -> RoleInfo:
        """Record the identity and what it is for (the sandbox checks no permissions)."""

        def create(state: State) -> None:
            table = self._table(state, "roles")
            if spec.name not in table:
                record = self._new("roles", spec.name, dict(spec.tags), purpose=spec.purpose)
                record["status"] = "available"
                table[spec.name] = record
            table[spec.name]["grants"] = {
                "source_bucket": spec.source_bucket,
                "target_bucket": spec.target_bucket,
                "source_key": spec.source_key,
                "target_key": spec.target_key,
            }

        self._step("create_role", create)
        return self.describe_role(spec.name)

    def describe_role(self, name: str) -> RoleInfo:
        """The identity of this name, or NotFound."""
        record = self._get("roles", name)
        return RoleInfo(
            name=name,
            arn=f"arn:sandbox:iam::{self.account}:role/{name}",
            purpose=record["purpose"],
            created_at=datetime.fromisoformat(record["created_at"]),
            tags=record["tags"],
        )

    def delete_role(self, name: str) -> None:
        """Forget the identity; a missing one is already deleted."""
        self._step("delete_role", lambda state: self._table(state, "roles").pop(name, None))

    # ------------------------------------------------------------ costs

    def cost_report(self, start: date, end: date, group_by_tags: Sequence[str] = ()) -> CostReport:
        """:meth:`fetch_costs` as one request (the sandbox charges nothing for it)."""
        return CostReport(self.fetch_costs(start, end, group_by_tags), 1)

    def fetch_costs(self, start: date, end: date, group_by_tags: Sequence[str] = ()) -> list[CostLineItem]:
        """Daily line items for what exists now, priced from :data:`DAILY_PRICES`, summed per tag values."""
        with self._state() as state:
            snapshot = json.loads(json.dumps(state))
        charges: list[tuple[str, str, dict[str, str], Decimal]] = []
        for kind, (service, price, usage_type) in DAILY_PRICES.items():
            if kind == "node_pools":
                continue
            for record in self._table(snapshot, kind).values():
                charges.append((service, usage_type, record["tags"], price))
                if kind == "clusters":
                    compute, pool_price, pool_usage = DAILY_PRICES["node_pools"]
                    for pool in record["node_pools"].values():
                        multiplier = SPOT_DISCOUNT if pool["spot"] else Decimal(1)
                        amount = pool_price * pool["desired_size"] * multiplier
                        charges.append((compute, f"{pool_usage}:{pool['instance_type']}", record["tags"], amount))
        totals: dict[tuple[date, str, str, tuple[tuple[str, str], ...]], Decimal] = {}
        day = start
        while day < end:
            for service, usage_type, tags, amount in charges:
                grouped = tuple((tag, tags.get(tag, "")) for tag in group_by_tags)
                key = (day, service, usage_type, grouped)
                totals[key] = totals.get(key, Decimal(0)) + amount
            day += timedelta(days=1)
        return [
            CostLineItem(
                usage_date=day,
                service=service,
                region=self.region,
                account=self.account,
                tags=dict(grouped),
                amount=amount.quantize(Decimal("0.0001")),
                currency="USD",
                usage_type=usage_type,
                charge_type="Usage",
            )
            for (day, service, usage_type, grouped), amount in sorted(totals.items())
        ]
