"""The cloud driver interface: what the portal asks of AWS, Azure or the sandbox, as plain typed values.

Specs name resources deterministically and carry the portal's ids in
``tags``, so every ``ensure_*`` can look before it creates: re-running it, or
re-running it after a crash half-way, leaves exactly one resource. Results
are frozen snapshots of what the backend reports. Every method raises the
errors of :mod:`providers.errors`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Literal, Protocol, runtime_checkable

Tags = Mapping[str, str]
NodePoolKind = Literal["general", "high-cpu", "gpu"]
#: How the cloud supports a Kubernetes version: ``standard`` (the cloud's normal support window), ``extended``
#: (past it, still creatable, at extra cost or with a narrower promise) or ``preview`` (not generally available).
KubernetesSupport = Literal["standard", "extended", "preview"]

# What a cloud identity is for: the Kubernetes control plane, its nodes, or copying a bucket to its DR copy.
RolePurpose = Literal["kubernetes_control_plane", "kubernetes_nodes", "bucket_replication"]


def _no_tags() -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class AwsCredentials:
    """How the portal reaches an AWS account: a role it assumes (no long-lived keys are stored), with the
    external id its trust policy requires, or ``""`` when it requires none (then none is sent)."""

    role_arn: str
    external_id: str
    region: str
    session_name: str = "platform-portal"


# ---------------------------------------------------------------- specs


@dataclass(frozen=True)
class NetworkSpec:
    """A virtual network with one public and one private subnet per availability zone, and NAT when asked.

    ``availability_zones`` names the zones where the cloud's zone names mean
    the same in every account (Azure's "1", "2", "3"). Left empty, the driver
    chooses ``zone_count`` zones (one per subnet pair when 0) from what the
    account offers: AWS zone names map to different physical zones in each
    account, so the AWS driver picks by zone id and reports the ids it chose
    (``SubnetInfo.zone_id``); ``zone_ids`` pins them. With NAT, each zone gets
    its own NAT gateway and its private subnet routes through it.
    """

    name: str
    cidr: str
    availability_zones: tuple[str, ...]
    public_subnet_cidrs: tuple[str, ...]
    private_subnet_cidrs: tuple[str, ...]
    nat_gateway: bool = True
    tags: Tags = field(default_factory=_no_tags)
    zone_count: int = 0
    zone_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodePoolSpec:
    """A group of worker nodes of one kind; ``spot`` for pools whose work may be interrupted.

    GPU pools get a GPU machine image and a ``nvidia.com/gpu`` taint, so only
    workloads that ask for GPUs land on them.
    """

    name: str
    kind: NodePoolKind
    instance_type: str
    min_size: int
    max_size: int
    desired_size: int
    spot: bool = False


@dataclass(frozen=True)
class KubernetesClusterSpec:
    """A managed Kubernetes control plane and its node pools.

    ``control_plane_role`` and ``node_role`` are the cloud identities the
    control plane and the nodes run as (IAM role ARNs on AWS).
    """

    name: str
    version: str
    subnet_ids: tuple[str, ...]
    node_pools: tuple[NodePoolSpec, ...] = ()
    control_plane_role: str = ""
    node_role: str = ""
    tags: Tags = field(default_factory=_no_tags)
    #: Enforce Kubernetes NetworkPolicies (on EKS the VPC CNI enforces them only when told to).
    network_policy: bool = True
    #: The key the cluster envelope-encrypts Kubernetes secrets with (a KMS key ARN on AWS); "" for none.
    secrets_encryption_key: str = ""


@dataclass(frozen=True)
class Placement:
    """Where a data service goes in a network: private subnets (in at least two zones on AWS), the network's id
    (a VPC or VNet), and the one address range allowed to reach its port (the network's CIDR when "")."""

    subnet_ids: tuple[str, ...] = ()
    vpc_id: str = ""
    allowed_cidr: str = ""


@dataclass(frozen=True)
class DatabaseSpec:
    """A managed PostgreSQL instance with backups, point-in-time recovery and an optional DR-region replica."""

    name: str
    engine_version: str
    instance_class: str
    storage_gb: int
    backup_retention_days: int
    point_in_time_recovery: bool = True
    replica_region: str | None = None
    encryption_key_id: str | None = None
    master_username: str = "portal"
    tags: Tags = field(default_factory=_no_tags)
    #: Where it is placed: private subnets of the network (in at least two zones on AWS), that network's id,
    #: and the one address range allowed to reach its port (the network's CIDR).
    subnet_ids: tuple[str, ...] = ()
    vpc_id: str = ""
    allowed_cidr: str = ""
    #: The key in ``replica_region`` the replica of an encrypted database is encrypted with (keys are regional).
    replica_encryption_key_id: str | None = None
    #: Where the replica goes: a network of the portal's in ``replica_region``.
    replica_placement: Placement | None = None


@dataclass(frozen=True)
class CacheSpec:
    """A managed Redis replication group: a primary and ``replicas`` read replicas."""

    name: str
    node_type: str
    engine_version: str = "7.1"
    replicas: int = 1
    tags: Tags = field(default_factory=_no_tags)
    #: Where it is placed, as for :class:`DatabaseSpec`.
    subnet_ids: tuple[str, ...] = ()
    vpc_id: str = ""
    allowed_cidr: str = ""


@dataclass(frozen=True)
class BucketSpec:
    """An object-storage bucket: versioning, replication to a DR-region bucket, and a move to cold storage."""

    name: str
    versioning: bool = True
    replication_target_bucket: str | None = None
    replication_role: str = ""
    cold_storage_after_days: int | None = None
    encryption_key_id: str | None = None
    tags: Tags = field(default_factory=_no_tags)
    #: The key in the target bucket's region that replicas of encrypted objects are encrypted with.
    replication_target_key_id: str | None = None


@dataclass(frozen=True)
class KeySpec:
    """An encryption key, found again by its ``alias`` (the idempotency handle); rotated yearly unless asked not to."""

    alias: str
    description: str = ""
    tags: Tags = field(default_factory=_no_tags)
    rotation: bool = True


@dataclass(frozen=True)
class RoleSpec:
    """A cloud identity a managed service acts as, found again by its ``name`` (unique in the account).

    ``purpose`` decides whom it trusts and what it may do; the driver holds
    the provider's documented trust and permissions for each (on AWS, the IAM
    role EKS, EC2 or S3 assumes). A ``bucket_replication`` role may read only
    ``source_bucket`` and write only ``target_bucket``, decrypting with
    ``source_key`` and encrypting with ``target_key`` when those are given.
    """

    name: str
    purpose: RolePurpose
    source_bucket: str = ""
    target_bucket: str = ""
    source_key: str = ""
    target_key: str = ""
    description: str = ""
    tags: Tags = field(default_factory=_no_tags)


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class SubnetInfo:
    """One subnet of a network."""

    id: str
    cidr: str
    availability_zone: str
    public: bool
    #: The zone's account-independent id where the cloud has one (AWS ``euw1-az1``).
    zone_id: str = ""


@dataclass(frozen=True)
class NetworkInfo:
    """A network as the backend reports it."""

    id: str
    name: str
    cidr: str
    status: str
    subnets: tuple[SubnetInfo, ...]
    nat_gateway_ids: tuple[str, ...]
    tags: Tags = field(default_factory=_no_tags)


@dataclass(frozen=True)
class NodePoolInfo:
    """A node pool as the backend reports it."""

    name: str
    status: str
    instance_type: str
    min_size: int
    max_size: int
    desired_size: int
    spot: bool
    kind: str = "general"


@dataclass(frozen=True)
class KubernetesClusterInfo:
    """A managed Kubernetes cluster: where to reach it, the CA to trust, its status and node pools."""

    name: str
    id: str
    status: str
    version: str
    endpoint: str
    certificate_authority_data: str
    node_pools: tuple[NodePoolInfo, ...]
    tags: Tags = field(default_factory=_no_tags)
    #: What enforces NetworkPolicies ("vpc-cni v1.19.0-eksbuild.1") and its state ("active", "creating"); both ""
    #: where the driver does not manage it.
    network_policy: str = ""
    network_policy_status: str = ""
    #: Where its nodes run: their subnets and the network holding them (a VPC or VNet id), so the data services of
    #: the environments on it can be placed beside them; empty where the driver does not know.
    subnet_ids: tuple[str, ...] = ()
    network_id: str = ""


@dataclass(frozen=True)
class KubernetesVersionInfo:
    """A Kubernetes minor version (``1.33``) a new managed cluster can be created with in the driver's region.

    ``default`` is the cloud's own default for a new cluster; ``patch_versions`` are the patch releases the
    cloud offers of it, where it says (AKS does, EKS gives only its current one).
    """

    version: str
    support: KubernetesSupport
    default: bool = False
    end_of_standard_support: date | None = None
    patch_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReplicaInfo:
    """A database read replica in another region, and how far behind it is."""

    name: str
    region: str
    status: str
    lag_seconds: float | None


@dataclass(frozen=True)
class DatabaseInfo:
    """A database as the backend reports it, with what point-in-time recovery can reach."""

    name: str
    id: str
    status: str
    endpoint: str
    port: int
    engine_version: str
    backup_retention_days: int
    latest_restorable_time: datetime | None
    encrypted: bool
    replica: ReplicaInfo | None
    tags: Tags = field(default_factory=_no_tags)
    credentials_reference: str = ""
    """Where the cloud keeps the master credentials (a Secrets Manager ARN, a Key Vault secret id); never the value."""


@dataclass(frozen=True)
class CacheInfo:
    """A Redis replication group as the backend reports it."""

    name: str
    id: str
    status: str
    primary_endpoint: str
    port: int
    node_type: str
    replicas: int
    tags: Tags = field(default_factory=_no_tags)


@dataclass(frozen=True)
class BucketInfo:
    """A bucket's protection settings as the backend reports them."""

    name: str
    region: str
    versioning: bool
    replication_target_bucket: str | None
    cold_storage_after_days: int | None
    tags: Tags = field(default_factory=_no_tags)


@dataclass(frozen=True)
class KeyInfo:
    """An encryption key and the alias it is known by."""

    id: str
    arn: str
    alias: str
    enabled: bool
    tags: Tags = field(default_factory=_no_tags)


@dataclass(frozen=True)
class RoleInfo:
    """A cloud identity: its name, the id other resources name it by (an IAM role ARN), and its tags."""

    name: str
    arn: str
    purpose: str
    created_at: datetime | None = None
    tags: Tags = field(default_factory=_no_tags)


@dataclass(frozen=True)
class ObjectInfo:
    """One object in a bucket."""

    key: str
    size: int
    last_modified: datetime
    etag: str


@dataclass(frozen=True)
class CostLineItem:
    """One day's cost of one service in one region and account, for one combination of tag values.

    ``tags`` holds the values of the tags the costs were grouped by (empty
    string when a resource did not carry the tag).
    """

    usage_date: date
    service: str
    region: str
    account: str
    tags: Tags
    amount: Decimal
    currency: str
    usage_type: str
    charge_type: str
    #: The amortised (effective) cost where the API gives one besides the cash ``amount``; None: the same.
    effective_amount: Decimal | None = None


@dataclass(frozen=True)
class CostReport:
    """What one cost query answered, and how many API requests it took (some providers charge per request)."""

    items: list[CostLineItem]
    requests: int


def newest_first(versions: Sequence[KubernetesVersionInfo]) -> list[KubernetesVersionInfo]:
    """The versions ordered by number, newest first (1.10 after 1.9, which a string sort gets wrong)."""

    def number(info: KubernetesVersionInfo) -> tuple[int, ...]:
        return tuple(int(part) if part.isdigit() else -1 for part in info.version.split("."))

    return sorted(versions, key=number, reverse=True)


# ---------------------------------------------------------------- driver


class CloudDriver(Protocol):
    """What every cloud driver does. ``ensure_*`` is idempotent; ``delete_*`` of a missing resource succeeds."""

    def ensure_network(self, spec: NetworkSpec) -> NetworkInfo:
        """Create the network and everything in it that is missing; return it."""
        ...

    def describe_network(self, name: str) -> NetworkInfo:
        """The network of this name, or :class:`~providers.errors.NotFound`."""
        ...

    def delete_network(self, name: str) -> None:
        """Delete the network and what the portal created in it."""
        ...

    def ensure_kubernetes_cluster(self, spec: KubernetesClusterSpec) -> KubernetesClusterInfo:
        """Create the cluster and any missing node pool of the spec; return it."""
        ...

    def describe_kubernetes_cluster(self, name: str) -> KubernetesClusterInfo:
        """The cluster of this name with its node pools, or NotFound."""
        ...

    def kubernetes_versions(self) -> list[KubernetesVersionInfo]:
        """The Kubernetes minor versions a new cluster can be created with in the driver's region, newest first.

        Versions the cloud no longer creates are not listed.
        """
        ...

    def delete_kubernetes_cluster(self, name: str) -> None:
        """Delete the cluster's node pools, then the cluster."""
        ...

    def ensure_node_pool(self, cluster_name: str, pool: NodePoolSpec, node_role: str = "") -> NodePoolInfo:
        """Create the node pool if the cluster lacks it; return it."""
        ...

    def delete_node_pool(self, cluster_name: str, pool_name: str) -> None:
        """Delete one node pool."""
        ...

    def kubernetes_token(self, cluster_name: str) -> tuple[str, datetime]:
        """A bearer token for the cluster's API server and when it expires."""
        ...

    def ensure_database(self, spec: DatabaseSpec) -> DatabaseInfo:
        """Create the database (and its replica when the spec names a region); return it."""
        ...

    def describe_database(self, name: str) -> DatabaseInfo:
        """The database with its backup and replica status, or NotFound."""
        ...

    def delete_database(self, name: str) -> None:
        """Delete the replica, then the database."""
        ...

    def ensure_database_replica(self, name: str, region: str, *, placement: Placement | None = None) -> ReplicaInfo:
        """Create a read replica of the database in ``region`` if it has none; return it.

        An encrypted database's replica is encrypted with the key of the same alias in ``region`` (keys are
        regional), which must exist by then. ``placement`` is a network in ``region`` the replica is reached
        from only (AWS refuses a cross-region replica without one, which would land in no VPC).
        """
        ...

    def promote_database_replica(self, name: str, region: str, backup_retention_days: int = 7) -> DatabaseInfo:
        """Fail over: make the database's replica in ``region`` a standalone primary there, with backups on.

        Returns the promoted database (``describe_database`` of a driver for
        ``region`` finds it under the returned name). Promoting it again
        changes nothing; a database with no replica there is NotFound.
        """
        ...

    def delete_database_replica(self, name: str, region: str) -> None:
        """Start deleting the database's read replica in ``region``; call it again once the replica is gone to
        remove what it was placed in there."""
        ...

    def ensure_cache(self, spec: CacheSpec) -> CacheInfo:
        """Create the Redis replication group if missing; return it."""
        ...

    def describe_cache(self, name: str) -> CacheInfo:
        """The Redis replication group, or NotFound."""
        ...

    def delete_cache(self, name: str) -> None:
        """Delete the Redis replication group."""
        ...

    def ensure_bucket(self, spec: BucketSpec) -> BucketInfo:
        """Create the bucket if missing and apply its versioning, replication and lifecycle; return it."""
        ...

    def describe_bucket(self, name: str) -> BucketInfo:
        """The bucket's settings, or NotFound."""
        ...

    def delete_bucket(self, name: str) -> None:
        """Delete the bucket with every object version in it."""
        ...

    def ensure_key(self, spec: KeySpec) -> KeyInfo:
        """Create the key and its alias if the alias is unknown; return it."""
        ...

    def describe_key(self, alias: str) -> KeyInfo:
        """The key behind the alias, or NotFound."""
        ...

    def delete_key(self, alias: str) -> None:
        """Schedule the key's deletion and remove its alias."""
        ...

    def list_objects(self, bucket: str, prefix: str = "") -> list[ObjectInfo]:
        """Objects in the bucket whose key starts with ``prefix``, in key order."""
        ...

    def read_object(self, bucket: str, key: str) -> bytes:
        """The object's content, or NotFound."""
        ...

    def open_object(self, bucket: str, key: str) -> IO[bytes]:
        """The object's content as a stream to ``read(size)`` a chunk at a time (large export files are never
        held whole), or NotFound. The caller closes it."""
        ...

    def fetch_costs(self, start: date, end: date, group_by_tags: Sequence[str] = ()) -> list[CostLineItem]:
        """Daily cost line items from ``start`` to ``end`` (exclusive), split by service and the given tags."""
        ...

    def cost_report(self, start: date, end: date, group_by_tags: Sequence[str] = ()) -> CostReport:
        """What :meth:`fetch_costs` returns, with the number of requests it took (pages and retries included)."""
        ...


@runtime_checkable
class RoleDriver(Protocol):
    """What a driver whose cloud needs identities made for its services does (AWS; not Azure, whose managed
    services run as identities Azure makes for them)."""

    def ensure_role(self, spec: RoleSpec) -> RoleInfo:
        """Create the identity if missing and give it the trust and permissions of its purpose; return it."""
        ...

    def describe_role(self, name: str) -> RoleInfo:
        """The identity of this name, or NotFound."""
        ...

    def delete_role(self, name: str) -> None:
        """Remove the identity's permissions, then the identity; a missing one is already deleted."""
        ...
