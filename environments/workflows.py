"""Provisioning an environment, and tearing it down, as a workflow of idempotent driver calls.

:class:`EnvironmentPlan` is everything the steps need, as plain JSON-able
values taken from the environment, its template and its team when the run
starts (a template edited later does not change a run under way). The plan
becomes ordered steps:

1. per namespace: the namespace, its resource quota, its limit range, its
   default-deny network policy and the role bindings of the team's IdP
   groups;
2. the ingress, in the first namespace;
3. the add-ons in the cluster's cloud region: PostgreSQL, Redis, a bucket.
   Each waits (``NotYet``) until the cloud reports it available, and records
   where to reach it and where its credentials are kept, never a secret.

Everything carries the labels or tags of the environment, team and tier.
Undo (teardown) deletes the add-ons, waiting until they are gone, and then
the namespaces, which take what is inside them along.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings

from providers import errors, names
from providers.cloud import BucketSpec, CacheSpec, CloudDriver, DatabaseSpec
from providers.cluster import (
    ClusterDriver,
    IngressSpec,
    LimitRangeSpec,
    NamespaceSpec,
    NetworkPolicySpec,
    ResourceQuotaSpec,
    RoleBindingSpec,
    Subject,
)
from workflows.engine import NotYet, PlannedStep, StepContext, Workflow, register

LABEL_PREFIX = "platform-portal.io"
# The longest name each add-on may have: what both clouds accept (an ElastiCache replication group id is at
# most 40 characters; RDS instance ids, Azure PostgreSQL servers and Redis caches at most 63).
NAME_LENGTHS = {"db": 63, "redis": 40}
BUCKET_NAME_LENGTH = 63  # S3 bucket names (the Azure driver derives its storage account name from it)
# What the cloud says while an add-on is not usable yet, and once it is.
READY = {"available", "active", "succeeded", "ready", "running"}


@dataclass(frozen=True)
class IngressPlan:
    """The environment's public entry: one NGINX ingress to ``service:port``."""

    host: str
    service: str = "web"
    port: int = 8080
    tls: bool = True
    rate_limit_rps: int | None = None
    allow_cidrs: tuple[str, ...] = ()
    deny_cidrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatabasePlan:
    """A managed PostgreSQL for the environment."""

    instance_class: str
    storage_gb: int = 20
    engine_version: str = "16"
    backup_retention_days: int = 7


@dataclass(frozen=True)
class CachePlan:
    """A managed Redis for the environment."""

    node_type: str
    replicas: int = 0


@dataclass(frozen=True)
class BucketPlan:
    """An object-storage bucket for the environment."""

    versioning: bool = True
    cold_storage_after_days: int | None = None


@dataclass(frozen=True)
class EnvironmentPlan:
    """What provisioning one environment does, in plain values (stored as the run's parameters)."""

    environment_id: int
    name: str
    team: str
    tier: str
    cluster_id: int
    namespaces: tuple[str, ...]
    quota: Mapping[str, str] = field(default_factory=dict)
    limit_defaults: Mapping[str, str] = field(default_factory=dict)
    limit_default_requests: Mapping[str, str] = field(default_factory=dict)
    limit_max: Mapping[str, str] = field(default_factory=dict)
    network_policy: bool = True
    allow_from_namespaces: tuple[str, ...] = ("monitoring",)
    editor_groups: tuple[str, ...] = ()
    viewer_groups: tuple[str, ...] = ()
    ingress: IngressPlan | None = None
    database: DatabasePlan | None = None
    cache: CachePlan | None = None
    bucket: BucketPlan | None = None
    # The installation's id, in the names of cloud resources; empty in plans made before names carried it.
    installation: str = field(default_factory=lambda: str(settings.INSTALLATION_ID))

    def to_params(self) -> dict[str, Any]:
        """The plan as the run's JSON parameters."""
        return asdict(self)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> EnvironmentPlan:
        """The plan back from the run's parameters."""
        values = dict(params)
        values.setdefault("installation", "")  # planned before names carried it: keep the names it built
        for name in ("namespaces", "allow_from_namespaces", "editor_groups", "viewer_groups"):
            values[name] = tuple(values.get(name) or ())
        if values.get("ingress"):
            ingress = dict(values["ingress"])
            ingress["allow_cidrs"] = tuple(ingress.get("allow_cidrs") or ())
            ingress["deny_cidrs"] = tuple(ingress.get("deny_cidrs") or ())
            values["ingress"] = IngressPlan(**ingress)
        for name, kind in (("database", DatabasePlan), ("cache", CachePlan), ("bucket", BucketPlan)):
            if values.get(name):
                values[name] = kind(**values[name])
        return cls(**values)

    # --- names and labels, derived once so every step and the undo agree -----------------------

    def namespace_name(self, namespace: str) -> str:
        """``<environment>-<namespace>``, a DNS label of at most 63 characters."""
        return _dns_label(f"{self.name}-{namespace}")

    @property
    def labels(self) -> dict[str, str]:
        return {
            f"{LABEL_PREFIX}/environment": self.name,
            f"{LABEL_PREFIX}/environment-id": str(self.environment_id),
            f"{LABEL_PREFIX}/team": self.team,
            f"{LABEL_PREFIX}/tier": self.tier,
        }

    @property
    def tags(self) -> dict[str, str]:
        """The same, as cloud tags (``portal:environment``…)."""
        return {f"portal:{key.split('/', 1)[1]}": value for key, value in self.labels.items()}

    def resource_name(self, suffix: str) -> str:
        """A cloud resource's name (``db``, ``redis``): unique per environment and installation, stable across runs.

        Azure PostgreSQL server and Redis cache names are unique across all of
        Azure, so they carry the installation's id; each fits the strictest
        length of its kind (:data:`NAME_LENGTHS`).
        """
        if not self.installation:
            return _dns_label(f"env-{self.environment_id}-{self.name}-{suffix}")
        return names.fit(f"env-{self.installation}-{self.environment_id}-{self.name}-{suffix}", NAME_LENGTHS[suffix])

    def bucket_name(self) -> str:
        """Bucket names are unique across a whole cloud: the installation's id and the environment's keep them apart."""
        if not self.installation:
            return _dns_label(f"portal-env-{self.environment_id}-{self.name}")
        return names.fit(f"portal-{self.installation}-env-{self.environment_id}-{self.name}", BUCKET_NAME_LENGTH)


def _dns_label(value: str) -> str:
    """``value`` as a DNS label; one too long keeps its start and a hash of the whole, so two never meet."""
    label = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")
    if len(label) <= 63:
        return label
    return f"{label[:54].rstrip('-')}-{hashlib.sha256(label.encode()).hexdigest()[:8]}"


def plan_steps(plan: EnvironmentPlan) -> list[PlannedStep]:
    """The ordered steps that provision ``plan``."""
    steps: list[PlannedStep] = []
    for namespace in plan.namespaces:
        target = {"namespace": namespace}
        steps.append(PlannedStep(f"Namespace {namespace}", "namespace", target))
        if plan.quota:
            steps.append(PlannedStep(f"Resource quota of {namespace}", "quota", target))
        if plan.limit_defaults or plan.limit_default_requests or plan.limit_max:
            steps.append(PlannedStep(f"Limit range of {namespace}", "limit_range", target))
        if plan.network_policy:
            steps.append(PlannedStep(f"Network policy of {namespace}", "network_policy", target))
        if plan.editor_groups or plan.viewer_groups:
            steps.append(PlannedStep(f"Team access to {namespace}", "role_bindings", target))
    if plan.ingress is not None and plan.namespaces:
        steps.append(PlannedStep(f"Ingress {plan.ingress.host}", "ingress", {"namespace": plan.namespaces[0]}))
    if plan.database is not None:
        steps.append(PlannedStep("PostgreSQL database", "database"))
    if plan.cache is not None:
        steps.append(PlannedStep("Redis cache", "cache"))
    if plan.bucket is not None:
        steps.append(PlannedStep("Object storage bucket", "bucket"))
    return steps


@register
class ProvisionEnvironment(Workflow):
    """``environments.provision``: the steps of :func:`plan_steps`; its undo is the teardown."""

    kind = "environments.provision"

    def plan(self, params: Mapping[str, Any]) -> Sequence[PlannedStep]:
        return plan_steps(EnvironmentPlan.from_params(params))

    # --- drivers (built per step: a step may run on any worker) ---------------------------------

    @staticmethod
    def _plan(ctx: StepContext) -> EnvironmentPlan:
        return EnvironmentPlan.from_params(ctx.run_params)

    @staticmethod
    def _cluster(plan: EnvironmentPlan) -> ClusterDriver:
        from regions.drivers import cluster_driver_for
        from regions.models import Cluster

        cluster = Cluster.objects.select_related("region__account").get(pk=plan.cluster_id)
        return cluster_driver_for(cluster)

    @staticmethod
    def _cloud(plan: EnvironmentPlan) -> CloudDriver:
        from regions.drivers import cloud_driver_for
        from regions.models import Cluster

        cluster = Cluster.objects.select_related("region__account").get(pk=plan.cluster_id)
        return cloud_driver_for(cluster.region)

    @staticmethod
    def _placement(plan: EnvironmentPlan, cloud: CloudDriver) -> dict[str, Any]:
        """Where the environment's database and cache go: beside its cluster, in the subnets its nodes run in and
        their network (a cloud puts a data service given no network in a default one, or refuses it). A cluster
        the cloud does not know gives no placement, and the driver says what is missing."""
        from regions.models import Cluster

        cluster = Cluster.objects.get(pk=plan.cluster_id)
        try:
            info = cloud.describe_kubernetes_cluster(cluster.name)
        except errors.NotFound:
            return {}
        return {"subnet_ids": info.subnet_ids, "vpc_id": info.network_id}

    # --- cluster steps ---------------------------------------------------------------------------

    def do_namespace(self, ctx: StepContext) -> Mapping[str, Any]:
        plan = self._plan(ctx)
        name = plan.namespace_name(ctx.params["namespace"])
        applied = self._cluster(plan).ensure_namespace(NamespaceSpec(name, plan.labels))
        return {"namespace": name, "uid": applied.uid}

    def undo_namespace(self, ctx: StepContext) -> None:
        plan = self._plan(ctx)
        # Deleting the namespace takes its quota, limits, policies, bindings and ingress with it.
        self._cluster(plan).delete_namespace(plan.namespace_name(ctx.params["namespace"]))

    def do_quota(self, ctx: StepContext) -> Mapping[str, Any]:
        plan = self._plan(ctx)
        name = plan.namespace_name(ctx.params["namespace"])
        self._cluster(plan).ensure_resource_quota(ResourceQuotaSpec(name, dict(plan.quota), labels=plan.labels))
        return {"hard": dict(plan.quota)}

    def do_limit_range(self, ctx: StepContext) -> Mapping[str, Any]:
        plan = self._plan(ctx)
        spec = LimitRangeSpec(
            plan.namespace_name(ctx.params["namespace"]),
            dict(plan.limit_defaults),
            dict(plan.limit_default_requests),
            dict(plan.limit_max),
            labels=plan.labels,
        )
        self._cluster(plan).ensure_limit_range(spec)
        return {}

    def do_network_policy(self, ctx: StepContext) -> Mapping[str, Any]:
        plan = self._plan(ctx)
        allowed = tuple(plan.namespace_name(namespace) for namespace in plan.namespaces) + plan.allow_from_namespaces
        name = plan.namespace_name(ctx.params["namespace"])
        spec = NetworkPolicySpec(name, tuple(dict.fromkeys(n for n in allowed if n != name)), labels=plan.labels)
        self._cluster(plan).ensure_network_policy(spec)
        return {"allowed_from": list(spec.allow_from_namespaces)}

    def do_role_bindings(self, ctx: StepContext) -> Mapping[str, Any]:
        plan = self._plan(ctx)
        cluster = self._cluster(plan)
        name = plan.namespace_name(ctx.params["namespace"])
        bound = {}
        for role, groups in (("edit", plan.editor_groups), ("view", plan.viewer_groups)):
            if groups:
                subjects = tuple(Subject("Group", group) for group in groups)
                cluster.ensure_role_binding(
                    RoleBindingSpec(name, f"portal-team-{role}", role, subjects, labels=plan.labels)
                )
                bound[role] = list(groups)
        return bound

    def do_ingress(self, ctx: StepContext) -> Mapping[str, Any]:
        plan = self._plan(ctx)
        ingress = plan.ingress
        assert ingress is not None  # noqa: S101 (planned only with an ingress)
        spec = IngressSpec(
            plan.namespace_name(ctx.params["namespace"]),
            "portal-ingress",
            ingress.host,
            ingress.service,
            ingress.port,
            tls_secret=f"{plan.name}-tls" if ingress.tls else None,
            rate_limit_rps=ingress.rate_limit_rps,
            allow_cidrs=ingress.allow_cidrs,
            deny_cidrs=ingress.deny_cidrs,
            labels=plan.labels,
        )
        self._cluster(plan).ensure_ingress(spec)
        return {"url": f"{'https' if ingress.tls else 'http'}://{ingress.host}/"}

    # --- add-ons ---------------------------------------------------------------------------------

    def do_database(self, ctx: StepContext) -> Mapping[str, Any]:
        plan = self._plan(ctx)
        database = plan.database
        assert database is not None  # noqa: S101 (planned only with a database)
        cloud = self._cloud(plan)
        info = cloud.ensure_database(
            DatabaseSpec(
                name=plan.resource_name("db"),
                engine_version=database.engine_version,
                instance_class=database.instance_class,
                storage_gb=database.storage_gb,
                backup_retention_days=database.backup_retention_days,
                tags=plan.tags,
                **self._placement(plan, cloud),
            )
        )
        _wait_for(info.status, "the database")
        return {
            "name": info.name,
            "endpoint": f"{info.endpoint}:{info.port}",
            "credentials_reference": info.credentials_reference,
        }

    def undo_database(self, ctx: StepContext) -> None:
        plan = self._plan(ctx)
        cloud = self._cloud(plan)
        cloud.delete_database(plan.resource_name("db"))
        _wait_until_gone(lambda: cloud.describe_database(plan.resource_name("db")).status, "the database")

    def do_cache(self, ctx: StepContext) -> Mapping[str, Any]:
        plan = self._plan(ctx)
        cache = plan.cache
        assert cache is not None  # noqa: S101 (planned only with a cache)
        cloud = self._cloud(plan)
        info = cloud.ensure_cache(
            CacheSpec(
                name=plan.resource_name("redis"),
                node_type=cache.node_type,
                replicas=cache.replicas,
                tags=plan.tags,
                **self._placement(plan, cloud),
            )
        )
        _wait_for(info.status, "the Redis cache")
        return {"name": info.name, "endpoint": f"{info.primary_endpoint}:{info.port}"}

    def undo_cache(self, ctx: StepContext) -> None:
        plan = self._plan(ctx)
        cloud = self._cloud(plan)
        cloud.delete_cache(plan.resource_name("redis"))
        _wait_until_gone(lambda: cloud.describe_cache(plan.resource_name("redis")).status, "the Redis cache")

    def do_bucket(self, ctx: StepContext) -> Mapping[str, Any]:
        plan = self._plan(ctx)
        bucket = plan.bucket
        assert bucket is not None  # noqa: S101 (planned only with a bucket)
        info = self._cloud(plan).ensure_bucket(
            BucketSpec(
                name=plan.bucket_name(),
                versioning=bucket.versioning,
                cold_storage_after_days=bucket.cold_storage_after_days,
                tags=plan.tags,
            )
        )
        return {"name": info.name, "region": info.region}

    def undo_bucket(self, ctx: StepContext) -> None:
        plan = self._plan(ctx)
        self._cloud(plan).delete_bucket(plan.bucket_name())


def _wait_for(status: str, what: str) -> None:
    if status.lower() not in READY:
        raise NotYet(f"{what} is {status}", retry_after=5)


def _wait_until_gone(status: Any, what: str) -> None:
    """Raise NotYet while the cloud still reports the resource (deletes take minutes on real clouds)."""
    try:
        current = status()
    except errors.NotFound:
        return
    raise NotYet(f"{what} is {current}", retry_after=10)
