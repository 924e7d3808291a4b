"""``regions.build``: a new cloud region built step by step from its approved plan (:mod:`regions.plan`).

One step per planned resource, in the plan's order, each through the
drivers and idempotent: the names are the plan's, and every ``ensure_*``
looks before it creates, so a step performed again (a worker killed in the
middle of it, a retry) finds what the first try made. A step whose resource
is still being created waits (``NotYet``) rather than holding a worker.
Each step that succeeds records its resource as a
:class:`~regions.models.RegionResource`; its undo deletes the resource
(waiting until the cloud says it is gone) and marks the record deleted, so
the build's undo run, newest step first, is the rollback that leaves
nothing behind.

Drivers are built per step, since a step may run on any worker, through
:func:`cloud_driver` and :func:`cluster_driver` (tests put the AWS driver
on moto or the Azure driver on its transport fake there).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from providers import errors
from providers.cloud import (
    BucketSpec,
    CacheSpec,
    CloudDriver,
    DatabaseSpec,
    KeySpec,
    KubernetesClusterSpec,
    NetworkSpec,
    NodePoolSpec,
    Placement,
    RoleDriver,
    RoleSpec,
)
from providers.cluster import ClusterDriver, NamespaceSpec, NetworkPolicySpec, ResourceQuotaSpec
from regions import catalogue
from regions.choices import (
    CLUSTER_KIND_BY_PROVIDER,
    CapacityType,
    ClusterStatus,
    Provider,
    RegionStatus,
    ResourceStatus,
)
from regions.models import CloudAccount, Cluster, Namespace, NodePool, Region, RegionResource
from workflows.engine import NotYet, PlannedStep, StepContext, Workflow, register

BUILD = "regions.build"
# What the clouds say once a resource is usable.
READY = {"available", "active", "succeeded", "ready", "running"}


def cloud_driver(account: CloudAccount, region_code: str) -> CloudDriver:
    """The cloud driver of ``account`` in ``region_code``."""
    from regions.drivers import cloud_driver_in

    return cloud_driver_in(account, region_code)


def cluster_driver(cluster: Cluster) -> ClusterDriver:
    """The driver of a cluster the build-out registered."""
    from regions.drivers import cluster_driver_for

    return cluster_driver_for(cluster)


def build_params(request_id: int, resources: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The run's parameters: the request and its planned resources (names and settings, never a secret)."""
    return {"request_id": request_id, "resources": [dict(resource) for resource in resources]}


def _step_name(resource: Mapping[str, Any]) -> str:
    from regions.plan import IN_PARTNER, KIND_LABELS

    label = KIND_LABELS.get(resource["kind"], resource["kind"])
    suffix = f" in {resource['region']}" if resource["kind"] in IN_PARTNER else ""
    return f"{label} {resource['name']}{suffix}"


# How long a read replica may take to come up: a cross-region copy of a large database takes hours on Azure.
REPLICA_MAX_WAIT = timedelta(hours=12)


def _wait_for(status: str, what: str, give_up_after: timedelta | None = None) -> None:
    if status.lower() not in READY:
        raise NotYet(f"{what} is {status}", retry_after=settings.WORKFLOW_RECHECK_SECONDS, give_up_after=give_up_after)


def _wait_until_gone(describe: Callable[[], Any], what: str) -> None:
    """Raise NotYet while the cloud still reports the resource (deletes take minutes on real clouds)."""
    try:
        current = describe()
    except errors.NotFound:
        return
    raise NotYet(f"{what} is {getattr(current, 'status', 'still there')}", retry_after=10)


@register
class BuildRegion(Workflow):
    """``regions.build``: the steps are the plan's resources; the undo is the rollback."""

    kind = BUILD

    def plan(self, params: Mapping[str, Any]) -> Sequence[PlannedStep]:
        return [
            PlannedStep(_step_name(resource), resource["kind"], {"position": position, **resource})
            for position, resource in enumerate(params["resources"], start=1)
        ]

    # --- helpers ---------------------------------------------------------------------------------------------

    @staticmethod
    def _request(ctx: StepContext) -> Any:
        from regions.models import RegionRequest

        return RegionRequest.objects.select_related("account").get(pk=ctx.run_params["request_id"])

    def _cloud(self, ctx: StepContext, region_code: str | None = None) -> CloudDriver:
        request = self._request(ctx)
        return cloud_driver(request.account, region_code or ctx.params["region"])

    @staticmethod
    def _output_of(ctx: StepContext, kind: str, name: str | None = None) -> Mapping[str, Any]:
        for output in ctx.outputs.values():
            if output.get("kind") == kind and (name is None or output.get("name") == name):
                return output
        return {}

    def _placement(self, ctx: StepContext, kind: str = "network") -> Placement:
        """Where a data service goes: the private subnets of the network step of ``kind``, its VPC, and its address
        range (the only one allowed to reach the service's port)."""
        network = self._output_of(ctx, kind)
        planned: Mapping[str, Any] = next(
            (resource["settings"] for resource in ctx.run_params["resources"] if resource["kind"] == kind), {}
        )
        return Placement(
            subnet_ids=tuple(network.get("private_subnet_ids", ())),
            vpc_id=str(network.get("vpc_id") or network.get("provider_id") or ""),
            allowed_cidr=str(network.get("cidr") or planned.get("cidr", "")),
        )

    @classmethod
    def _key_arn(cls, ctx: StepContext, kind: str, alias: str) -> str:
        """The ARN the key step of ``kind`` (``key``, ``dr_key``) made for ``alias``; "" when none is asked for."""
        return str(cls._output_of(ctx, kind, alias).get("provider_id") or "") if alias else ""

    @classmethod
    def _role_arn(cls, ctx: StepContext, role: str) -> str:
        """The ARN of the role step named ``role``; a run planned before the build made its roles names the ARN
        itself, which is passed on as it is."""
        return str(cls._output_of(ctx, "role", role).get("provider_id") or role) if role else ""

    @staticmethod
    def _record(ctx: StepContext, provider_id: str, **details: Any) -> dict[str, Any]:
        """Record the resource as built (once, whatever the number of tries) and return the step's output."""
        from regions.models import RegionRequest

        params = ctx.params
        request_id = ctx.run_params["request_id"]
        RegionResource.objects.update_or_create(
            request_id=request_id,
            kind=params["kind"],
            name=params["name"],
            region_code=params["region"],
            defaults={
                "position": params["position"],
                "provider_id": provider_id[:500],
                "settings": {**params["settings"], **details},
                "status": ResourceStatus.CREATED,
                "region_id": RegionRequest.objects.filter(pk=request_id).values_list("region_id", flat=True).first(),
            },
        )
        return {"kind": params["kind"], "name": params["name"], "provider_id": provider_id, **details}

    @staticmethod
    def _forget(ctx: StepContext) -> None:
        params = ctx.params
        request_id = ctx.run_params["request_id"]
        RegionResource.objects.filter(
            request_id=request_id, kind=params["kind"], name=params["name"], region_code=params["region"]
        ).update(status=ResourceStatus.DELETED)

    # --- network and key -------------------------------------------------------------------------------------

    def do_network(self, ctx: StepContext) -> Mapping[str, Any]:
        settings = ctx.params["settings"]
        info = self._cloud(ctx).ensure_network(
            NetworkSpec(
                name=ctx.params["name"],
                cidr=settings["cidr"],
                # Azure's zone numbers are named by the plan; AWS zones are chosen here, by zone id, from what the
                # account offers (a plan made before that named AWS zones by name, which the driver resolves).
                availability_zones=tuple(settings.get("availability_zones", ())),
                public_subnet_cidrs=tuple(settings["public_subnets"]),
                private_subnet_cidrs=tuple(settings["private_subnets"]),
                nat_gateway=settings["nat_gateway"],
                tags=settings["tags"],
                zone_count=int(settings.get("zone_count", 0)),
            )
        )
        private = [subnet.id for subnet in info.subnets if not subnet.public]
        zones = sorted({subnet.availability_zone for subnet in info.subnets})
        zone_ids = sorted({subnet.zone_id for subnet in info.subnets if subnet.zone_id})
        return self._record(
            ctx,
            info.id,
            vpc_id=info.id,
            cidr=info.cidr,
            private_subnet_ids=private,
            nat_gateway_ids=list(info.nat_gateway_ids),
            zones=zones,
            zone_ids=zone_ids,
        )

    def undo_network(self, ctx: StepContext) -> None:
        cloud = self._cloud(ctx)
        cloud.delete_network(ctx.params["name"])
        _wait_until_gone(lambda: cloud.describe_network(ctx.params["name"]), "the network")
        self._forget(ctx)

    def do_dr_network(self, ctx: StepContext) -> Mapping[str, Any]:
        """The network the DR copies live in, in the partner (the step's region): private subnets only."""
        return self.do_network(ctx)

    def undo_dr_network(self, ctx: StepContext) -> None:
        self.undo_network(ctx)

    def do_key(self, ctx: StepContext) -> Mapping[str, Any]:
        settings = ctx.params["settings"]
        info = self._cloud(ctx).ensure_key(
            KeySpec(alias=ctx.params["name"], description=settings["description"], tags=settings["tags"])
        )
        return self._record(ctx, info.arn or info.id, key_id=info.id)

    def undo_key(self, ctx: StepContext) -> None:
        self._cloud(ctx).delete_key(ctx.params["name"])
        self._forget(ctx)

    def do_dr_key(self, ctx: StepContext) -> Mapping[str, Any]:
        """The key of the same alias in the DR partner, for the replicas there (the step's region is the partner)."""
        return self.do_key(ctx)

    def undo_dr_key(self, ctx: StepContext) -> None:
        self.undo_key(ctx)

    # --- identities ------------------------------------------------------------------------------------------

    def _roles(self, ctx: StepContext) -> RoleDriver:
        cloud = self._cloud(ctx)
        if not isinstance(cloud, RoleDriver):
            raise errors.InvalidRequest(f"The {self._request(ctx).provider} driver makes no identities for services.")
        return cloud

    def do_role(self, ctx: StepContext) -> Mapping[str, Any]:
        settings = ctx.params["settings"]
        info = self._roles(ctx).ensure_role(
            RoleSpec(
                name=ctx.params["name"],
                purpose=settings["purpose"],
                source_bucket=settings.get("source_bucket", ""),
                target_bucket=settings.get("target_bucket", ""),
                source_key=self._key_arn(ctx, "key", settings.get("source_key", "")),
                target_key=self._key_arn(ctx, "dr_key", settings.get("target_key", "")),
                tags=settings["tags"],
            )
        )
        return self._record(ctx, info.arn, purpose=info.purpose)

    def undo_role(self, ctx: StepContext) -> None:
        self._roles(ctx).delete_role(ctx.params["name"])
        self._forget(ctx)

    # --- Kubernetes ------------------------------------------------------------------------------------------

    def _pool_spec(self, settings: Mapping[str, Any], name: str) -> NodePoolSpec:
        return NodePoolSpec(
            name=name,
            kind=settings["pool_kind"],
            instance_type=settings["instance_type"],
            min_size=settings["min_nodes"],
            max_size=settings["max_nodes"],
            desired_size=settings["desired_nodes"],
            spot=settings["spot"],
        )

    def do_cluster(self, ctx: StepContext) -> Mapping[str, Any]:
        settings = ctx.params["settings"]
        network = self._output_of(ctx, "network")
        request = self._request(ctx)
        pools: tuple[NodePoolSpec, ...] = ()
        if request.provider == Provider.AZURE:
            # AKS creates a cluster only with its system pool: the general pool comes with it (its step finds it).
            general = next(
                resource
                for resource in ctx.run_params["resources"]
                if resource["kind"] == "node_pool" and resource["settings"]["workload_class"] == "general"
            )
            pools = (self._pool_spec(general["settings"], general["name"]),)
        cloud = self._cloud(ctx)
        self._refuse_a_version_no_longer_offered(ctx, cloud, request, settings["kubernetes_version"])
        info = cloud.ensure_kubernetes_cluster(
            KubernetesClusterSpec(
                name=ctx.params["name"],
                version=settings["kubernetes_version"],
                subnet_ids=tuple(network.get("private_subnet_ids", ())),
                node_pools=pools,
                control_plane_role=self._role_arn(ctx, settings["control_plane_role"]),
                node_role=self._role_arn(ctx, settings["node_role"]),
                tags=settings["tags"],
                network_policy=True,  # the namespaces' default-deny policies must be enforced
                secrets_encryption_key=self._key_arn(ctx, "key", settings.get("secrets_encrypted_with_key", "")),
            )
        )
        _wait_for(info.status, "the cluster")
        if info.network_policy_status:
            _wait_for(info.network_policy_status, f"network policy enforcement ({info.network_policy})")
        enforced_by = {"network_policy": info.network_policy} if info.network_policy else {}
        return self._record(ctx, info.id, endpoint=info.endpoint, version=info.version, **enforced_by)

    @staticmethod
    def _refuse_a_version_no_longer_offered(ctx: StepContext, cloud: CloudDriver, request: Any, version: str) -> None:
        """Fail the step, in words, when the cloud no longer creates clusters of the approved version (a request
        can wait days for approval while a version leaves support); a cluster already made is left to finish."""
        from regions import versions

        try:
            offered = versions.offered_versions(request.account, ctx.params["region"], driver=cloud)
        except versions.VersionsUnavailable as error:
            raise errors.Unavailable(error.message, resource=ctx.params["name"]) from error
        reason = versions.refusal(offered, version, request.get_provider_display(), ctx.params["region"])
        if reason is None:
            return
        try:
            cloud.describe_kubernetes_cluster(ctx.params["name"])
        except errors.NotFound:
            raise errors.InvalidRequest(
                f"{reason} Roll the build back and request the region again with one of them.",
                resource=ctx.params["name"],
            ) from None

    def undo_cluster(self, ctx: StepContext) -> None:
        cloud = self._cloud(ctx)
        cloud.delete_kubernetes_cluster(ctx.params["name"])
        _wait_until_gone(lambda: cloud.describe_kubernetes_cluster(ctx.params["name"]), "the cluster")
        self._forget(ctx)

    def do_node_pool(self, ctx: StepContext) -> Mapping[str, Any]:
        settings = ctx.params["settings"]
        info = self._cloud(ctx).ensure_node_pool(
            settings["cluster"],
            self._pool_spec(settings, ctx.params["name"]),
            self._role_arn(ctx, settings.get("node_role", "")),
        )
        _wait_for(info.status, f"the node pool {info.name}")
        return self._record(ctx, f"{settings['cluster']}/{info.name}", instance_type=info.instance_type)

    def undo_node_pool(self, ctx: StepContext) -> None:
        settings = ctx.params["settings"]
        with contextlib.suppress(errors.NotFound):  # the cluster is gone already, and its pools with it
            self._cloud(ctx).delete_node_pool(settings["cluster"], ctx.params["name"])
        self._forget(ctx)

    # --- data ------------------------------------------------------------------------------------------------

    def do_database(self, ctx: StepContext) -> Mapping[str, Any]:
        settings = ctx.params["settings"]
        key = self._output_of(ctx, "key").get("provider_id") if settings["encrypted_with_key"] else None
        info = self._cloud(ctx).ensure_database(
            DatabaseSpec(
                name=ctx.params["name"],
                engine_version=settings["engine_version"],
                instance_class=settings["instance_class"],
                storage_gb=settings["storage_gb"],
                backup_retention_days=settings["backup_retention_days"],
                point_in_time_recovery=settings["point_in_time_recovery"],
                encryption_key_id=key or None,
                tags=settings["tags"],
                **dataclasses.asdict(self._placement(ctx)),
            )
        )
        _wait_for(info.status, "the database")
        return self._record(
            ctx,
            info.id,
            endpoint=f"{info.endpoint}:{info.port}",
            credentials_reference=info.credentials_reference,
            encrypted=info.encrypted,
        )

    def undo_database(self, ctx: StepContext) -> None:
        cloud = self._cloud(ctx)
        cloud.delete_database(ctx.params["name"])
        _wait_until_gone(lambda: cloud.describe_database(ctx.params["name"]), "the database")
        cloud.delete_database(ctx.params["name"])  # gone now: this removes its subnet group and security group
        self._forget(ctx)

    def do_database_replica(self, ctx: StepContext) -> Mapping[str, Any]:
        settings = ctx.params["settings"]
        source = self._cloud(ctx, settings["source_region"])
        # A run planned before the replica had a network of its own has no such step: the cloud then refuses
        # (AWS) or skips (Azure) the placement, saying so.
        placement = self._placement(ctx, "dr_network") if settings.get("network") else None
        info = source.ensure_database_replica(settings["source"], ctx.params["region"], placement=placement)
        _wait_for(info.status, "the read replica", REPLICA_MAX_WAIT)
        return self._record(ctx, info.name)

    def undo_database_replica(self, ctx: StepContext) -> None:
        settings = ctx.params["settings"]
        source = self._cloud(ctx, settings["source_region"])
        with contextlib.suppress(errors.NotFound):
            source.delete_database_replica(settings["source"], ctx.params["region"])

        def replica_status() -> Any:
            replica = source.describe_database(settings["source"]).replica
            if replica is None:
                raise errors.NotFound("no replica")
            return replica

        _wait_until_gone(replica_status, "the read replica")
        source.delete_database_replica(settings["source"], ctx.params["region"])  # gone now: this removes its placement
        self._forget(ctx)

    def do_cache(self, ctx: StepContext) -> Mapping[str, Any]:
        settings = ctx.params["settings"]
        info = self._cloud(ctx).ensure_cache(
            CacheSpec(
                name=ctx.params["name"],
                node_type=settings["node_type"],
                replicas=settings["replicas"],
                tags=settings["tags"],
                **dataclasses.asdict(self._placement(ctx)),
            )
        )
        _wait_for(info.status, "the Redis cache")
        return self._record(ctx, info.id, endpoint=f"{info.primary_endpoint}:{info.port}")

    def undo_cache(self, ctx: StepContext) -> None:
        cloud = self._cloud(ctx)
        cloud.delete_cache(ctx.params["name"])
        # Waited out until gone: a cache still deleting holds its subnets, which the network's undo removes next.
        _wait_until_gone(lambda: cloud.describe_cache(ctx.params["name"]), "the Redis cache")
        cloud.delete_cache(ctx.params["name"])  # gone now: this removes what placed it (subnet and access groups)
        self._forget(ctx)

    def do_bucket_replica(self, ctx: StepContext) -> Mapping[str, Any]:
        settings = ctx.params["settings"]
        info = self._cloud(ctx).ensure_bucket(
            BucketSpec(
                name=ctx.params["name"],
                versioning=settings["versioning"],
                tags=settings["tags"],
                encryption_key_id=self._key_arn(ctx, "dr_key", settings.get("encrypted_with_key", "")) or None,
            )
        )
        return self._record(ctx, info.name)

    def undo_bucket_replica(self, ctx: StepContext) -> None:
        self._cloud(ctx).delete_bucket(ctx.params["name"])
        self._forget(ctx)

    def do_bucket(self, ctx: StepContext) -> Mapping[str, Any]:
        settings = ctx.params["settings"]
        key = self._output_of(ctx, "key").get("provider_id") if settings["encrypted_with_key"] else None
        info = self._cloud(ctx).ensure_bucket(
            BucketSpec(
                name=ctx.params["name"],
                versioning=settings["versioning"],
                replication_target_bucket=settings["replication_target_bucket"] or None,
                replication_role=self._role_arn(ctx, settings["replication_role"]),
                cold_storage_after_days=settings["cold_storage_after_days"],
                encryption_key_id=key or None,
                tags=settings["tags"],
                replication_target_key_id=self._key_arn(ctx, "dr_key", settings.get("replica_encrypted_with_key", ""))
                or None,
            )
        )
        return self._record(
            ctx,
            info.name,
            versioning=info.versioning,
            replicates_to=info.replication_target_bucket or "",
            cold_storage_after_days_reported=info.cold_storage_after_days,
        )

    def undo_bucket(self, ctx: StepContext) -> None:
        self._cloud(ctx).delete_bucket(ctx.params["name"])
        self._forget(ctx)

    # --- the inventory and the namespaces ---------------------------------------------------------------------

    def do_inventory(self, ctx: StepContext) -> Mapping[str, Any]:
        """Register the region (provisioning until the run ends), its cluster and node pools."""
        request = self._request(ctx)
        cluster_output = self._output_of(ctx, "cluster")
        display_name, zone = catalogue.regions_in_zones(request.provider)[request.code]
        with transaction.atomic():
            region, created = Region.objects.select_for_update().get_or_create(
                provider=request.provider,
                code=request.code,
                defaults={
                    "display_name": display_name,
                    "residency_zone": zone,
                    "status": RegionStatus.PROVISIONING,
                    "account": request.account,
                },
            )
            if not created and region.status == RegionStatus.PLANNED:
                region.status = RegionStatus.PROVISIONING
                region.account = request.account
                region.save(update_fields=["status", "account"])
            cluster, _ = Cluster.objects.get_or_create(
                region=region,
                name=ctx.params["name"],
                defaults={
                    "kind": CLUSTER_KIND_BY_PROVIDER[Provider(request.provider)],
                    "kubernetes_version": cluster_output.get("version") or request.kubernetes_version,
                    "api_endpoint": cluster_output.get("endpoint") or f"https://{ctx.params['name']}.invalid",
                    "status": ClusterStatus.READY,
                },
            )
            for resource in ctx.run_params["resources"]:
                if resource["kind"] != "node_pool":
                    continue
                pool = resource["settings"]
                NodePool.objects.update_or_create(
                    cluster=cluster,
                    name=resource["name"],
                    defaults={
                        "workload_class": pool["workload_class"],
                        "capacity_type": CapacityType.SPOT if pool["spot"] else CapacityType.ON_DEMAND,
                        "instance_type": pool["instance_type"],
                        "min_nodes": pool["min_nodes"],
                        "desired_nodes": pool["desired_nodes"],
                        "max_nodes": pool["max_nodes"],
                    },
                )
            type(request).objects.filter(pk=request.pk).update(region=region)
            output = self._record(ctx, f"cluster:{cluster.pk}", region_id=region.pk, cluster_id=cluster.pk)
            RegionResource.objects.filter(request=request).update(region=region)
        return output

    def undo_inventory(self, ctx: StepContext) -> None:
        """Remove the cluster's rows (its node pools and namespaces go with it), and the region if it never came up.

        A region row is removed only while it is provisioning and holds nothing
        else: one that was active before, or carries other clusters, stays.
        """
        request = self._request(ctx)
        with transaction.atomic():
            region = Region.objects.select_for_update().filter(provider=request.provider, code=request.code).first()
            if region is not None:
                Cluster.objects.filter(region=region, name=ctx.params["name"]).delete()
                if (
                    region.status == RegionStatus.PROVISIONING
                    and not region.clusters.exists()
                    and not region.centre_servers.exists()
                ):
                    type(request).objects.filter(pk=request.pk).update(region=None)
                    RegionResource.objects.filter(request=request).update(region=None)
                    Region.objects.filter(dr_partner=region).update(dr_partner=None)
                    region.delete()
            self._forget(ctx)

    def _cluster_row(self, ctx: StepContext) -> Cluster:
        request = self._request(ctx)
        return Cluster.objects.select_related("region__account").get(
            region__provider=request.provider, region__code=request.code, name=ctx.params["settings"]["cluster"]
        )

    def do_namespace(self, ctx: StepContext) -> Mapping[str, Any]:
        """The namespace with its resource quota and default-deny network policy, in the cluster and the inventory."""
        settings = ctx.params["settings"]
        name = ctx.params["name"]
        cluster = self._cluster_row(ctx)
        kube = cluster_driver(cluster)
        labels = dict(settings["labels"])
        applied = kube.ensure_namespace(NamespaceSpec(name, labels))
        kube.ensure_resource_quota(ResourceQuotaSpec(name, dict(settings["quota"]), labels=labels))
        kube.ensure_network_policy(NetworkPolicySpec(name, tuple(settings["allow_from_namespaces"]), labels=labels))
        Namespace.objects.update_or_create(cluster=cluster, name=name, defaults={"labels": labels})
        return self._record(ctx, applied.uid)

    def undo_namespace(self, ctx: StepContext) -> None:
        request = self._request(ctx)
        cluster = (
            Cluster.objects.select_related("region__account")
            .filter(
                region__provider=request.provider, region__code=request.code, name=ctx.params["settings"]["cluster"]
            )
            .first()
        )
        if cluster is not None:
            # Deleting the namespace takes its quota and network policy with it.
            cluster_driver(cluster).delete_namespace(ctx.params["name"])
            Namespace.objects.filter(cluster=cluster, name=ctx.params["name"]).delete()
        self._forget(ctx)
