"""Plan before apply: a region request turned into the ordered resources its build-out will create.

:func:`region_plan` is the one source of what the ``regions.build`` workflow
does: the workflow runs one step per planned resource, in this order, with
these names and settings, so the plan a platform admin approves is what gets
built. The order follows the dependencies:

network -> encryption key (and, on AWS, its namesake in the DR partner) -> the IAM roles of the control plane,
the nodes and bucket replication (AWS) -> Kubernetes cluster -> its node pools -> PostgreSQL (backups,
point-in-time recovery, retention) -> the DR partner's network for the replica (private subnets only) -> read
replica in the DR partner -> Redis -> the DR partner's copy of the bucket -> the bucket (versioning,
replication to the partner, lifecycle to cold storage) -> the cluster, node pools and region registered in the
inventory -> the spec's namespaces, each with a resource quota and a default-deny network policy.

Names are deterministic (from the provider, region and account), so a step
run twice, by a worker that died or by a retry, finds what the first run made
instead of making a second one.

Each resource carries an estimated monthly cost from the portal's price table
(asked through :mod:`regions.pricing`), in Decimal. What the
price table has no kind for (the control plane, the key) is shown as not
priced, never as a silent zero; a price that is missing for the region is
shown with the message naming it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings

from providers import names
from regions import pricing
from regions.choices import CLUSTER_KIND_BY_PROVIDER, Provider, ResourceKind, WorkloadClass
from regions.models import RegionRequest

CENT = Decimal("0.01")
LABEL_PREFIX = "platform-portal.io"

# The spec's namespaces (section 4.1), bootstrapped in every new region.
SPEC_NAMESPACES = (
    "core-services",
    "student-services",
    "tutor-services",
    "admin-services",
    "analytics",
    "monitoring",
)
NAMESPACE_QUOTA = {
    "requests.cpu": "16",
    "requests.memory": "32Gi",
    "limits.cpu": "32",
    "limits.memory": "64Gi",
    "pods": "200",
}
# Who may call into a namespace besides monitoring (which scrapes everything): the services call core-services.
CALLERS = {"core-services": ("student-services", "tutor-services", "admin-services", "analytics")}


@dataclass(frozen=True)
class MachineType:
    """A node type of one provider: what one node of a pool is, for the cloud and for the price table."""

    name: str
    vcpus: int
    memory_gib: int
    gpus: int = 0


# The node type of each pool kind, per provider (spec 3.1: general, high-CPU and GPU workloads).
MACHINE_TYPES: dict[str, dict[str, MachineType]] = {
    Provider.AWS: {
        WorkloadClass.GENERAL: MachineType("m7i.xlarge", 4, 16),
        WorkloadClass.HIGH_CPU: MachineType("c7i.2xlarge", 8, 16),
        WorkloadClass.GPU: MachineType("g5.xlarge", 4, 16, gpus=1),
    },
    Provider.AZURE: {
        WorkloadClass.GENERAL: MachineType("Standard_D4s_v5", 4, 16),
        WorkloadClass.HIGH_CPU: MachineType("Standard_F8s_v2", 8, 16),
        WorkloadClass.GPU: MachineType("Standard_NC4as_T4_v3", 4, 28, gpus=1),
    },
}
# The driver's node pool kind for each workload class.
POOL_KIND = {WorkloadClass.GENERAL: "general", WorkloadClass.HIGH_CPU: "high-cpu", WorkloadClass.GPU: "gpu"}
# Pool names: lower-case letters and digits, at most 12 (AKS's rule, the strictest), the same on every provider.
POOL_NAMES = {WorkloadClass.GENERAL: "general", WorkloadClass.HIGH_CPU: "highcpu", WorkloadClass.GPU: "gpu"}
DATABASE_CLASSES: dict[str, dict[str, str]] = {
    Provider.AWS: {"small": "db.t4g.medium", "medium": "db.m7g.large", "large": "db.m7g.xlarge"},
    Provider.AZURE: {"small": "Standard_B2s", "medium": "Standard_D2ds_v5", "large": "Standard_D4ds_v5"},
}
DATABASE_STORAGE_GIB = {"small": 20, "medium": 100, "large": 500}
# Azure cannot make a read replica of a Burstable (Standard_B…) flexible server: General Purpose or Memory
# Optimized only. A database with a planned replica gets the smallest General Purpose size instead (priced as one).
AZURE_REPLICABLE_CLASS = ("Standard_D2ds_v5", "medium")
CACHE_NODE_TYPES: dict[str, dict[str, str]] = {
    Provider.AWS: {"small": "cache.t4g.small", "medium": "cache.m7g.large", "large": "cache.m7g.xlarge"},
    Provider.AZURE: {"small": "Basic_C1", "medium": "Standard_C2", "large": "Premium_P1"},
}

KIND_LABELS = {
    "network": "Network",
    "key": "Encryption key",
    "dr_key": "DR-region encryption key",
    "role": "Cloud identity",
    "cluster": "Kubernetes cluster",
    "node_pool": "Node pool",
    "database": "PostgreSQL database",
    "dr_network": "DR-region network",
    "database_replica": "Read replica",
    "cache": "Redis cache",
    "bucket_replica": "DR copy of the bucket",
    "bucket": "Bucket",
    "inventory": "Inventory registration",
    "namespace": "Namespace",
}


# How a setting of a planned resource reads on a page; a key not listed reads as itself in words.
SETTING_LABELS = {
    "cidr": "Address range",
    "zone_count": "Zones",
    "zone_choice": "Zones chosen",
    "availability_zones": "Zones",
    "nat_gateway": "NAT gateway",
    "nat_gateways": "NAT gateways",
    "instance_class": "Instance class",
    "storage_gb": "Storage (GiB)",
    "backup_retention_days": "Backups kept (days)",
    "point_in_time_recovery": "Point-in-time recovery",
    "encrypted_with_key": "Encrypted with the key",
    "replica_encrypted_with_key": "Copy encrypted with the key",
    "secrets_encrypted_with_key": "Secrets encrypted with the key",
    "cold_storage_after_days": "Cold storage after (days)",
    "replication_target_bucket": "Replicates to",
    "replication_role": "Replicates as",
    "dr_partner": "DR partner",
    "kubernetes_version": "Kubernetes version",
    "node_type": "Node type",
    "instance_type": "Instance type",
    "network": "In the network",
    "source_region": "Copies from the region",
    "network_policy": "Network policy",
    "allow_from_namespaces": "Reachable from",
    "quota": "Quota",
    "workload_class": "Workload class",
    "pool_kind": "Pool",
}
SETTING_VALUES = {
    **{str(workload_class.value): str(workload_class.label) for workload_class in WorkloadClass},
    "kubernetes_control_plane": "the Kubernetes control plane",
    "kubernetes_nodes": "the Kubernetes nodes",
    "bucket_replication": "bucket replication",
}


def readable(value: Any) -> str:
    """A setting's value in words: yes/no, lists joined, quotas as "requests.cpu 16", nothing as "none"."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return ", ".join(f"{key} {readable(item)}" for key, item in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(readable(item) for item in value) or "none"
    if value is None or value == "":
        return "none"
    return SETTING_VALUES.get(str(value), str(value))


@dataclass(frozen=True)
class PlannedResource:
    """One resource the build-out will create: what, its deterministic name, where, its settings and its cost.

    ``monthly_cost`` is None when the price table cannot price it;
    ``cost_note`` then says why (and otherwise how the cost is made up).
    """

    kind: str
    name: str
    region: str
    settings: Mapping[str, Any]
    monthly_cost: Decimal | None
    currency: str
    cost_note: str = ""

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def readable_settings(self) -> list[tuple[str, str]]:
        """The settings as a page shows them: (what, value in words), without the tags."""
        return [
            (SETTING_LABELS.get(key, key.replace("_", " ").capitalize()), readable(value))
            for key, value in self.settings.items()
            if key not in ("tags", "labels")
        ]

    @property
    def step_name(self) -> str:
        """How the workflow's step for it is called on the progress list."""
        return f"{self.label} {self.name}" + (f" in {self.region}" if self.kind in IN_PARTNER else "")

    def as_step(self) -> dict[str, Any]:
        """What the workflow's step needs: kind, name, region and settings (plain JSON, no secret)."""
        return {"kind": self.kind, "name": self.name, "region": self.region, "settings": dict(self.settings)}

    def as_json(self) -> dict[str, Any]:
        return {
            **self.as_step(),
            "label": self.label,
            "monthly_cost": None if self.monthly_cost is None else str(self.monthly_cost),
            "currency": self.currency,
            "cost_note": self.cost_note,
        }


# What the build makes in the DR partner rather than in the region itself.
IN_PARTNER = frozenset({"database_replica", "bucket_replica", "dr_key", "dr_network"})


@dataclass(frozen=True)
class RegionPlan:
    """Every resource of a region request, in build order, with the monthly total of what could be priced."""

    provider: str
    region: str
    residency_zone: str
    dr_partner: str
    resources: tuple[PlannedResource, ...]
    currency: str
    unpriced: tuple[str, ...] = field(default=())

    @property
    def monthly_total(self) -> Decimal:
        return sum((item.monthly_cost for item in self.resources if item.monthly_cost is not None), Decimal("0.00"))

    def as_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "region": self.region,
            "residency_zone": self.residency_zone,
            "dr_partner": self.dr_partner,
            "currency": self.currency,
            "monthly_total": str(self.monthly_total),
            "not_priced": list(self.unpriced),
            "resources": [item.as_json() for item in self.resources],
        }


# --- names: deterministic, so every try of a step finds what an earlier one made -----------------------------


def _digest(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:length]


def resource_prefix(code: str) -> str:
    return f"portal-{code}"


def cluster_name(provider: str, code: str) -> str:
    """``eks-eu-west-1`` or ``aks-westeurope``, as the demo inventory names its clusters."""
    return f"{CLUSTER_KIND_BY_PROVIDER[Provider(provider)]}-{code}"


def bucket_name(request: RegionRequest, code: str) -> str:
    """Bucket names are unique across a whole cloud: a digest of the installation and the account keeps two
    portals' buckets apart, and leaves room for the DR copy's ``-dr``."""
    digest = _digest(str(settings.INSTALLATION_ID), request.provider, request.account.external_id)
    return names.fit(f"portal-{code}-{digest}-data", names.RULES["s3_bucket"].max_length - len("-dr"))


def database_name(provider: str, code: str) -> str:
    """The region's PostgreSQL: an RDS id is unique within the account and region the request owns, but an Azure
    PostgreSQL server's name is a DNS name unique across Azure, so there it carries the installation's id."""
    installation = f"-{settings.INSTALLATION_ID}" if provider == Provider.AZURE else ""
    return names.fit(f"{resource_prefix(code)}{installation}-db", names.RULES["postgresql_server"].max_length)


def cache_name(provider: str, code: str) -> str:
    """The region's Redis: at most 40 characters (ElastiCache's limit); on Azure, where cache names are unique
    across Azure, with the installation's id."""
    installation = f"-{settings.INSTALLATION_ID}" if provider == Provider.AZURE else ""
    return names.fit(
        f"{resource_prefix(code)}{installation}-redis", names.RULES["elasticache_replication_group"].max_length
    )


def role_name(code: str, purpose: str) -> str:
    """An IAM role of the region's build-out: IAM names are unique in the whole account (every region), so the
    name carries the installation's id and the region; at most 64 characters (IAM's limit)."""
    return names.fit(f"portal-{settings.INSTALLATION_ID}-{code}-{purpose}", names.RULES["iam_role"].max_length)


# The roles an AWS build-out makes, by what they are for (the driver's purpose), and the name's last part.
AWS_ROLES = {
    "kubernetes_control_plane": "eks-cluster",
    "kubernetes_nodes": "eks-nodes",
    "bucket_replication": "s3-replication",
}


def network_cidr(code: str) -> str:
    """A /16 of 10.0.0.0/8 chosen by the region code: the same on every run, distinct for most regions."""
    return f"10.{64 + int(_digest(code, length=4), 16) % 128}.0.0/16"


def dr_network_cidr(code: str, partner: str) -> str:
    """The /16 of the network the region's DR copies live in, in ``partner``: distinct from the region's own and
    from the one the portal would give a region built in ``partner``, so the networks can be peered."""
    taken = {network_cidr(code), network_cidr(partner)}
    salt = 0
    while (cidr := network_cidr(f"{code}>{partner}" + (f"#{salt}" if salt else ""))) in taken:
        salt += 1
    return cidr


# Zones the region's network spans: one public and one private subnet, and on AWS one NAT gateway, in each.
ZONE_COUNT = 2
# How the plan says where the AWS zones come from (the plan is made before the build and asks no cloud).
AWS_ZONE_CHOICE = "by zone id, from the zones the account offers, when the network is built"


def availability_zones(provider: str, code: str) -> tuple[str, ...]:
    """The zones the plan can name: Azure's zone numbers mean the same in every subscription and region. AWS zone
    names map to different physical zones in each account, so on AWS the network step chooses zone ids from what
    the account offers (``DescribeAvailabilityZones``) and records them; the plan names none."""
    return () if provider == Provider.AWS else tuple(str(number) for number in range(1, ZONE_COUNT + 1))


def tags_for(request: RegionRequest) -> dict[str, str]:
    """The cloud tags every resource of the build-out carries."""
    return {"portal:region": request.code, "portal:region-request": str(request.pk), "portal:managed-by": "portal"}


# --- costs --------------------------------------------------------------------------------------------------


class _Costing:
    """Prices each resource in its region; remembers the currencies met and what could not be priced."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.currencies: set[str] = set()
        self.unpriced: list[str] = []

    def cost(self, region: str, parts: Sequence[tuple[str, str, Decimal, str]]) -> tuple[Decimal | None, str, str]:
        """(monthly cost, currency, note) of ``parts``: (kind, size, quantity per month or per hour, what)."""
        priced = pricing.price(provider=self.provider, region=region, parts=[pricing.Part(*part) for part in parts])
        if priced.amount is None:
            return None, "", priced.note
        self.currencies.add(priced.currency)
        return priced.amount.quantize(CENT, rounding=ROUND_HALF_UP), priced.currency, priced.note

    def not_priced(self, what: str) -> tuple[None, str, str]:
        self.unpriced.append(what)
        return None, "", f"The price table has no price for {what}."


def _free() -> tuple[Decimal, str, str]:
    return Decimal("0.00"), "", "No cloud charge."


# --- the plan -----------------------------------------------------------------------------------------------


def region_plan(request: RegionRequest) -> RegionPlan:
    """The resources building ``request`` creates, in build order, with their estimated monthly cost."""
    costing = _Costing(request.provider)
    provider, code, partner = request.provider, request.code, request.dr_partner_code
    prefix = resource_prefix(code)
    tags = tags_for(request)
    items: list[tuple[str, str, str, dict[str, Any], tuple[Decimal | None, str, str]]] = []

    zones = availability_zones(provider, code)
    cidr = network_cidr(code)
    base = cidr.split(".")
    where: dict[str, Any] = (
        {"zone_choice": AWS_ZONE_CHOICE} if provider == Provider.AWS else {"availability_zones": list(zones)}
    )
    # AWS: a NAT gateway in each zone (a zone's outage cuts off only its own); Azure: one for the network.
    nat_gateways = ZONE_COUNT if provider == Provider.AWS else 1
    items.append(
        (
            "network",
            f"{prefix}-network",
            code,
            {
                "cidr": cidr,
                "zone_count": ZONE_COUNT,
                **where,
                "public_subnets": [f"{base[0]}.{base[1]}.{index}.0/24" for index in range(ZONE_COUNT)],
                "private_subnets": [f"{base[0]}.{base[1]}.{10 + index}.0/24" for index in range(ZONE_COUNT)],
                "nat_gateway": True,
                "nat_gateways": nat_gateways,
                "tags": tags,
            },
            costing.cost(
                code,
                [
                    (
                        ResourceKind.NAT_GATEWAY,
                        "",
                        Decimal(nat_gateways),
                        "NAT gateway per zone" if nat_gateways > 1 else "NAT gateway",
                    )
                ],
            ),
        )
    )
    if request.encryption_key:
        items.append(
            (
                "key",
                f"{prefix}-key",
                code,
                {"description": f"Encrypts the portal's data in {code}", "tags": tags},
                costing.not_priced("the encryption key"),
            )
        )
    # On AWS the key encrypts the data, and its namesake in the DR partner the DR copies there (KMS keys are
    # regional: a cross-region RDS replica and S3 replicas of SSE-KMS objects need a key in the partner).
    aws_keys = bool(request.encryption_key and provider == Provider.AWS)
    replicates = bool(partner and ((request.database and request.database_replica) or request.bucket))
    dr_key = f"{prefix}-key" if aws_keys and replicates else ""
    if dr_key:
        items.append(
            (
                "dr_key",
                dr_key,
                partner,
                {"description": f"Encrypts the portal's DR copies of {code} in {partner}", "tags": tags},
                costing.not_priced(f"the encryption key in {partner}"),
            )
        )
    cluster = cluster_name(provider, code)
    # AWS services act as IAM roles the build makes (Azure's run as identities Azure makes for them).
    role_names = {purpose: role_name(code, suffix) for purpose, suffix in AWS_ROLES.items()}
    if provider == Provider.AWS:
        for purpose in ("kubernetes_control_plane", "kubernetes_nodes"):
            items.append(("role", role_names[purpose], code, {"purpose": purpose, "tags": tags}, _free()))
        if request.bucket and partner:
            bucket = bucket_name(request, code)
            items.append(
                (
                    "role",
                    role_names["bucket_replication"],
                    code,
                    {
                        "purpose": "bucket_replication",
                        "source_bucket": bucket,
                        "target_bucket": f"{bucket}-dr",
                        "source_key": f"{prefix}-key" if aws_keys else "",
                        "target_key": dr_key,
                        "tags": tags,
                    },
                    _free(),
                )
            )
    roles = (
        {
            "control_plane_role": role_names["kubernetes_control_plane"],
            "node_role": role_names["kubernetes_nodes"],
        }
        if provider == Provider.AWS
        else {"control_plane_role": "", "node_role": ""}
    )
    items.append(
        (
            "cluster",
            cluster,
            code,
            {
                "kubernetes_version": request.kubernetes_version,
                **roles,
                "secrets_encrypted_with_key": f"{prefix}-key" if aws_keys else "",
                "tags": tags,
            },
            costing.not_priced(f"the {CLUSTER_KIND_BY_PROVIDER[Provider(provider)].label} control plane"),
        )
    )
    pools = [
        (WorkloadClass.GENERAL, request.general_nodes, False),
        (WorkloadClass.HIGH_CPU, request.high_cpu_nodes, request.high_cpu_spot),
        (WorkloadClass.GPU, request.gpu_nodes, request.gpu_spot),
    ]
    for workload_class, nodes, spot in pools:
        if workload_class != WorkloadClass.GENERAL and nodes == 0:
            continue
        machine = MACHINE_TYPES[provider][workload_class]
        count = Decimal(nodes)
        parts = [
            (ResourceKind.CPU, "", count * machine.vcpus, f"{nodes} {chr(0xD7)} {machine.vcpus} vCPU"),
            (ResourceKind.MEMORY, "", count * machine.memory_gib, f"{nodes} {chr(0xD7)} {machine.memory_gib} GiB"),
        ]
        if machine.gpus:
            parts.append((ResourceKind.GPU, "", count * machine.gpus, f"{nodes} {chr(0xD7)} {machine.gpus} GPU"))
        cost, currency, note = costing.cost(code, parts)
        if spot and cost is not None:
            note += "; priced at on-demand rates (spot is usually cheaper)"
        items.append(
            (
                "node_pool",
                POOL_NAMES[workload_class],
                code,
                {
                    "cluster": cluster,
                    "workload_class": str(workload_class),
                    "pool_kind": POOL_KIND[workload_class],
                    "instance_type": machine.name,
                    "min_nodes": 1 if workload_class == WorkloadClass.GENERAL else 0,
                    "desired_nodes": nodes,
                    "max_nodes": max(nodes * 2, 1),
                    "spot": spot,
                    **({"node_role": roles["node_role"]} if roles["node_role"] else {}),
                },
                (cost, currency, note),
            )
        )
    # The Azure driver cannot yet give PostgreSQL and Blob a customer-managed key (that needs a user-assigned
    # identity): there they are encrypted with platform-managed keys, and the plan says so.
    key_for_data = f"{prefix}-key" if request.encryption_key and provider == Provider.AWS else ""
    database = database_name(provider, code)
    if request.database:
        size = request.database_size
        instance_class, priced_size, priced_note = DATABASE_CLASSES[provider][size], size, ""
        if (
            provider == Provider.AZURE
            and request.database_replica
            and partner
            and instance_class.removeprefix("Standard_").startswith("B")
        ):
            instance_class, priced_size = AZURE_REPLICABLE_CLASS
            priced_note = "; General Purpose, as Azure replicates no Burstable server"
        database_cost = costing.cost(
            code, [(ResourceKind.POSTGRESQL, priced_size, Decimal(1), f"PostgreSQL ({priced_size})")]
        )
        if priced_note and database_cost[0] is not None:
            database_cost = (database_cost[0], database_cost[1], database_cost[2] + priced_note)
        items.append(
            (
                "database",
                database,
                code,
                {
                    "engine_version": "16",
                    "instance_class": instance_class,
                    "size": size,
                    "storage_gb": DATABASE_STORAGE_GIB[size],
                    "backup_retention_days": request.backup_retention_days,
                    "point_in_time_recovery": True,
                    "encrypted_with_key": key_for_data,
                    "tags": tags,
                },
                database_cost,
            )
        )
        if request.database_replica and partner:
            # The replica is placed in a network of its own in the partner: private subnets in two zones (an RDS
            # subnet group spans two), no way out to the internet, reached from that network only.
            dr_cidr = dr_network_cidr(code, partner)
            dr_base = dr_cidr.split(".")
            items.append(
                (
                    "dr_network",
                    f"{prefix}-dr-network",
                    partner,
                    {
                        "cidr": dr_cidr,
                        "zone_count": ZONE_COUNT,
                        **(
                            {"zone_choice": AWS_ZONE_CHOICE}
                            if provider == Provider.AWS
                            else {"availability_zones": list(availability_zones(provider, partner))}
                        ),
                        "public_subnets": [],
                        "private_subnets": [
                            f"{dr_base[0]}.{dr_base[1]}.{10 + index}.0/24" for index in range(ZONE_COUNT)
                        ],
                        "nat_gateway": False,
                        "nat_gateways": 0,
                        "tags": tags,
                    },
                    _free(),
                )
            )
            items.append(
                (
                    "database_replica",
                    f"{database}-replica",
                    partner,
                    {"source": database, "source_region": code, "size": size, "network": f"{prefix}-dr-network"},
                    costing.cost(
                        partner, [(ResourceKind.POSTGRESQL, priced_size, Decimal(1), f"replica ({priced_size})")]
                    ),
                )
            )
    if request.cache:
        size = request.cache_size
        node_type = CACHE_NODE_TYPES[provider][size]
        # Azure gives read replicas to Premium caches only (Basic has none; Standard's standby is not one).
        replicas = 1 if provider == Provider.AWS or node_type.startswith("Premium") else 0
        items.append(
            (
                "cache",
                cache_name(provider, code),
                code,
                {"node_type": node_type, "size": size, "replicas": replicas, "tags": tags},
                costing.cost(code, [(ResourceKind.REDIS, size, Decimal(1), f"Redis ({size})")]),
            )
        )
    if request.bucket:
        bucket = bucket_name(request, code)
        gib = Decimal(request.bucket_expected_gib)
        target = ""
        if partner:
            target = f"{bucket}-dr"
            items.append(
                (
                    "bucket_replica",
                    target,
                    partner,
                    {"versioning": True, "replica_of": bucket, "encrypted_with_key": dr_key, "tags": tags},
                    costing.cost(partner, [(ResourceKind.BUCKET, "", gib, "expected GiB")]),
                )
            )
        items.append(
            (
                "bucket",
                bucket,
                code,
                {
                    "versioning": True,
                    "replication_target_bucket": target,
                    "replication_role": role_names["bucket_replication"] if provider == Provider.AWS and target else "",
                    "replica_encrypted_with_key": dr_key if target else "",
                    "cold_storage_after_days": request.cold_storage_after_days,
                    "encrypted_with_key": key_for_data,
                    "tags": tags,
                },
                costing.cost(code, [(ResourceKind.BUCKET, "", gib, "expected GiB")]),
            )
        )
    items.append(("inventory", cluster, code, {"dr_partner": partner, "zone": request.residency_zone}, _free()))
    for namespace in SPEC_NAMESPACES:
        allowed = ("monitoring", *CALLERS.get(namespace, ())) if namespace != "monitoring" else ()
        items.append(
            (
                "namespace",
                namespace,
                code,
                {
                    "cluster": cluster,
                    "quota": NAMESPACE_QUOTA,
                    "network_policy": "default deny",
                    "allow_from_namespaces": list(allowed),
                    "labels": {f"{LABEL_PREFIX}/region": code, f"{LABEL_PREFIX}/namespace": namespace},
                },
                _free(),
            )
        )
    # One currency adds up; should the table price the two regions in different ones, only the first is
    # totalled and the others are listed as not priced (a plan never adds dollars to euros).
    currency = sorted(costing.currencies)[0] if costing.currencies else "USD"
    resources = tuple(
        PlannedResource(
            kind,
            name,
            region,
            settings,
            cost if item_currency in ("", currency) else None,
            currency if cost is not None and item_currency in ("", currency) else "",
            note if item_currency in ("", currency) else f"Priced in {item_currency}, not {currency}: {note}",
        )
        for kind, name, region, settings, (cost, item_currency, note) in items
    )
    if len(costing.currencies) > 1:
        costing.unpriced.extend(
            f"{item.label} {item.name} (priced in another currency)"
            for item in resources
            if item.monthly_cost is None and item.cost_note.startswith("Priced in")
        )
    return RegionPlan(
        provider=provider,
        region=code,
        residency_zone=request.residency_zone,
        dr_partner=partner,
        resources=resources,
        currency=currency,
        unpriced=tuple(costing.unpriced),
    )
