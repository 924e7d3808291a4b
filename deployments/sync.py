"""Cluster sync: what runs in a cluster, read through its driver and stored as workloads and Argo CD applications.

:func:`sync_cluster` reads every Deployment, StatefulSet, DaemonSet and
CronJob (``ClusterDriver.list_workloads``) and writes the workload rows in
bulk: only the rows that are new, changed or back from gone are upserted
(``INSERT … ON CONFLICT DO UPDATE`` in batches); the unchanged ones only get
``last_seen_at``, in one ``UPDATE``; the ones the cluster no longer has get
``gone_at`` (kept, with their deployments). So a sync of 10,000 workloads is a
handful of queries, plus a few for each workload whose version changed,
which goes through :func:`deployments.services.record_deployment` (so a
pipeline's report of the same deployment and the sync's are one row).

Which versions become deployments:

- a workload whose version (or revision) changed since the last sync;
- a workload seen for the first time, if it belongs to a service, unless it
  is the cluster's first sync: what already runs when the portal first looks
  is the baseline, not 10,000 deployments happening now (that would also
  skew the deployment frequency). When a baseline workload first changes and
  its target has no deployment yet, the version it replaced is recorded
  first (as it was, from its rollout time), so the new deployment carries
  its previous version and images;
- a workload that was progressing and now is healthy or degraded, while its
  deployment is still in progress, so that deployment gets its outcome.

:func:`sync_argo_applications` does the same for Argo CD ``Application``
custom resources (none where Argo CD is not installed) and marks the
workloads each one manages.

Matching: a workload belongs to the service whose slug is the value of its
``app.kubernetes.io/part-of``, ``app.kubernetes.io/name`` or
``platform-portal/service`` label (in that order), unless a person claimed it
for a service (``ServiceMatch.CLAIMED``), which the sync keeps. It belongs to
the live environment on its cluster whose namespaces include its own
(``<environment>-<namespace group>``, as provisioning names them). Its team is
the service's, else the environment's; its tier is the environment's.

A cluster the driver cannot reach raises the driver's error before anything
is written: nothing stored is lost or marked gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from access import policy
from access.audit import services as audit
from access.models import User
from access.permissions import CHANGE, VIEW
from deployments.choices import DeploymentSource, DeploymentStatus, Health, ServiceMatch, WorkloadKind
from deployments.models import ArgoApplication, Deployment, Service, Workload
from deployments.services import Target, record_deployment
from deployments.workflows import SYNC
from environments.choices import LIVE
from environments.models import Environment
from environments.workflows import EnvironmentPlan
from providers.cluster import ClusterDriver, CustomResource
from providers.cluster import Workload as SeenWorkload
from regions.choices import ClusterStatus
from regions.drivers import cluster_driver_for
from regions.models import Cluster
from workflows import engine
from workflows.models import ACTIVE, Run
from workflows.selectors import runs_of

SERVICE_LABELS = ("app.kubernetes.io/part-of", "app.kubernetes.io/name", "platform-portal/service")
VERSION_LABEL = "app.kubernetes.io/version"
INSTANCE_LABEL = "app.kubernetes.io/instance"
ARGO_CD = ("argoproj.io", "v1alpha1", "applications")
# Conditions that say a workload is failing: no minimum availability, a rollout past its deadline, pods refused.
FAILING_CONDITIONS = frozenset({"Available=False", "Progressing=False", "ReplicaFailure=True"})
BATCH_SIZE = 1000
SHORT_DIGEST = 12

# What a sync computes for a workload; a row whose stored values equal these is not written again.
SYNCED_FIELDS = (
    "service_id",
    "service_match",
    "environment_id",
    "team_id",
    "tier",
    "images",
    "version",
    "revision",
    "replicas_desired",
    "replicas_ready",
    "hpa_current",
    "hpa_desired",
    "conditions",
    "labels",
    "health",
    "rolled_out_at",
)
# Upserted rows: what changed, plus when it was seen and that it is not gone.
UPSERT_FIELDS = [name.removesuffix("_id") if name.endswith("_id") else name for name in SYNCED_FIELDS] + [
    "last_seen_at",
    "gone_at",
]
ARGO_FIELDS = [
    "project",
    "repo_url",
    "path",
    "target_revision",
    "destination_namespace",
    "sync_status",
    "health_status",
    "revision",
    "auto_sync",
    "service",
    "environment",
    "team",
    "tier",
    "last_seen_at",
    "gone_at",
]
STATUS_OF_HEALTH = {
    Health.HEALTHY: DeploymentStatus.SUCCEEDED,
    Health.PROGRESSING: DeploymentStatus.IN_PROGRESS,
    Health.DEGRADED: DeploymentStatus.FAILED,
    # A CronJob's new template is in place once applied; the sync cannot see more of how it went.
    Health.UNKNOWN: DeploymentStatus.SUCCEEDED,
}

Key = tuple[str, str, str]  # (namespace, kind, name)


@dataclass(frozen=True)
class WorkloadSync:
    """What one workload sync did, by count (the step's output)."""

    seen: int
    created: int
    changed: int
    unchanged: int
    gone: int
    back: int
    deployments: int

    def as_output(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ArgoSync:
    """What one Argo CD sync did, by count (the step's output)."""

    applications: int
    gone: int
    workloads_marked: int

    def as_output(self) -> dict[str, int]:
        return dict(self.__dict__)


# Clusters the scheduled sync visits: those in service (a degraded one's workloads matter most).
SYNCED_STATUSES = (ClusterStatus.READY, ClusterStatus.DEGRADED)


# --- starting syncs -------------------------------------------------------------------------------


@transaction.atomic
def sync_request(*, actor: User | None, cluster_id: int) -> Run:
    """Start a ``deployments.sync`` run of the cluster, or return the one already under way.

    ``actor`` is the person asking (on demand: they must see the cluster and
    hold ``deployments.change``; the start is audited); ``None`` is the
    schedule. The cluster's row is locked while looking, so two requests at
    once start one run.
    """
    clusters = Cluster.objects.select_related("region")
    if actor is None:
        cluster = clusters.select_for_update().get(pk=cluster_id)
    else:
        cluster = policy.get_for_update(clusters, actor, VIEW, pk=cluster_id)
        policy.require(actor, CHANGE, Workload)
    active = runs_of(cluster, SYNC).filter(status__in=ACTIVE).first()
    if active is not None:
        return active
    now = timezone.now()
    run = engine.start(
        SYNC,
        key=f"cluster:{cluster.pk}:sync:{now:%Y%m%dT%H%M%S.%fZ}",
        subject=cluster,
        params={"cluster_id": cluster.pk},
        user=actor,
    )
    if actor is not None:
        audit.record(audit.DEPLOYMENTS_SYNC_REQUESTED, cluster, actor=actor, after={"run": run.key})
    return run


def sync_scheduled() -> list[Run]:
    """Start a sync of every cluster in service (``SYNCED_STATUSES``), keeping any still under way."""
    cluster_ids = Cluster.objects.filter(status__in=SYNCED_STATUSES).order_by("pk").values_list("pk", flat=True)
    return [sync_request(actor=None, cluster_id=cluster_id) for cluster_id in cluster_ids]


# --- reading a workload ---------------------------------------------------------------------------


def image_version(image: str) -> str:
    """The tag of an image reference; a digest-only one gives its short digest, an untagged one ``latest``.

    ``registry:5000/team/app:1.4.2@sha256:…`` is ``1.4.2``; ``app@sha256:0123…``
    is ``sha256:0123456789ab``; ``app`` is ``latest`` (what Kubernetes pulls).
    """
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]  # a registry's port is not a tag
    if ":" in last:
        return last.rsplit(":", 1)[1]
    if digest:
        algorithm, _, hexdigest = digest.partition(":")
        return f"{algorithm}:{hexdigest[:SHORT_DIGEST]}" if hexdigest else algorithm[:SHORT_DIGEST]
    return "latest" if name else ""


def workload_version(seen: SeenWorkload) -> str:
    """The ``app.kubernetes.io/version`` label, else the first image's tag."""
    labelled = seen.labels.get(VERSION_LABEL, "")
    version = labelled or (image_version(seen.images[0]) if seen.images else "")
    return version[:128]


def workload_health(seen: SeenWorkload) -> Health:
    """Healthy, progressing or degraded from the replicas and conditions; a CronJob's is unknown.

    A failing condition (no minimum availability, a rollout past its
    deadline, a replica failure) or no ready replica at all is degraded;
    fewer ready than desired otherwise is a rollout in progress.
    """
    if seen.kind == "CronJob":
        return Health.UNKNOWN
    if FAILING_CONDITIONS.intersection(seen.conditions):
        return Health.DEGRADED
    if seen.replicas_desired == 0 or seen.replicas_ready >= seen.replicas_desired:
        return Health.HEALTHY
    if seen.replicas_ready == 0:
        return Health.DEGRADED
    return Health.PROGRESSING


def _service_slug(labels: Mapping[str, str], slugs: Mapping[str, Any]) -> str | None:
    return next((labels[label] for label in SERVICE_LABELS if labels.get(label) in slugs), None)


# --- what the portal knows of a cluster -----------------------------------------------------------


@dataclass
class _Catalogue:
    """The services by slug and id, and the cluster's live environments by namespace."""

    by_slug: dict[str, Service]
    by_id: dict[int, Service]
    by_namespace: dict[str, Environment]

    @classmethod
    def of(cls, cluster: Cluster) -> _Catalogue:
        services = list(Service.objects.only("pk", "slug", "team_id"))
        environments = Environment.objects.filter(cluster=cluster, status__in=LIVE).select_related("template")
        owners: dict[str, list[Environment]] = {}
        for environment in environments:
            plan = EnvironmentPlan(
                environment_id=environment.pk,
                name=environment.name,
                team="",
                tier=environment.tier,
                cluster_id=cluster.pk,
                namespaces=tuple(environment.template.namespaces),
            )
            for group in plan.namespaces:
                owners.setdefault(plan.namespace_name(group), []).append(environment)
        return cls(
            by_slug={service.slug: service for service in services},
            by_id={service.pk: service for service in services},
            # Two live environments claiming one namespace (names clash) is ambiguous: neither gets it.
            by_namespace={namespace: found[0] for namespace, found in owners.items() if len(found) == 1},
        )


def _synced_values(
    seen: SeenWorkload, stored: Mapping[str, Any] | None, catalogue: _Catalogue
) -> tuple[dict[str, Any], Service | None, Environment | None]:
    """The fields a sync sets on the workload's row, with its service and environment."""
    service: Service | None
    match: str
    if stored is not None and stored["service_match"] == ServiceMatch.CLAIMED and stored["service_id"]:
        service, match = catalogue.by_id.get(stored["service_id"]), ServiceMatch.CLAIMED
    else:
        slug = _service_slug(seen.labels, catalogue.by_slug)
        service = catalogue.by_slug[slug] if slug is not None else None
        match = ServiceMatch.LABEL if service is not None else ""
    environment = catalogue.by_namespace.get(seen.namespace)
    team_id = service.team_id if service is not None else environment.team_id if environment is not None else None
    values = {
        "service_id": service.pk if service is not None else None,
        "service_match": match if service is not None else "",
        "environment_id": environment.pk if environment is not None else None,
        "team_id": team_id,
        "tier": environment.tier if environment is not None else "",
        "images": list(seen.images),
        "version": workload_version(seen),
        "revision": seen.revision,
        "replicas_desired": seen.replicas_desired,
        "replicas_ready": seen.replicas_ready,
        "hpa_current": seen.hpa_current,
        "hpa_desired": seen.hpa_desired,
        "conditions": list(seen.conditions),
        "labels": dict(seen.labels),
        "health": workload_health(seen),
        "rolled_out_at": seen.updated_at,
    }
    return values, service, environment


# --- the workload sync ----------------------------------------------------------------------------


@dataclass
class _Change:
    """A workload whose version may have to be recorded as a deployment, with what it was before."""

    row: Workload
    service: Service | None
    environment: Environment | None
    before: Mapping[str, Any] | None  # None: new
    completes: bool = False  # same version, its rollout just ended


def sync_cluster(cluster: Cluster, *, driver: ClusterDriver | None = None) -> WorkloadSync:
    """Bring the cluster's workload rows in line with what the cluster runs now (see the module's docstring).

    Raises the driver's :class:`~providers.errors.ProviderError` when the
    cluster cannot be read; nothing is written then.
    """
    seen_workloads = (driver or cluster_driver_for(cluster)).list_workloads()
    with transaction.atomic():
        # One sync of a cluster at a time (the scheduled one and one asked for may overlap). NO KEY: rows
        # that only point at the cluster (a webhook's deployment, a new environment) are not held up.
        Cluster.objects.select_for_update(no_key=True).filter(pk=cluster.pk).first()
        now = timezone.now()
        catalogue = _Catalogue.of(cluster)
        stored_rows = {
            (row["namespace"], row["kind"], row["name"]): row
            for row in Workload.objects.filter(cluster=cluster).values(
                "pk", "namespace", "kind", "name", "gone_at", *SYNCED_FIELDS
            )
        }
        first_sync = not stored_rows
        upserts: list[Workload] = []
        changes: list[_Change] = []
        created = back = 0
        seen_keys: set[Key] = set()
        for seen in seen_workloads:
            key = (seen.namespace, seen.kind, seen.name)
            if key in seen_keys:
                continue  # a driver listing one object twice must not make two rows
            seen_keys.add(key)
            stored = stored_rows.get(key)
            values, service, environment = _synced_values(seen, stored, catalogue)
            if stored is not None and stored["gone_at"] is None and all(stored[f] == values[f] for f in values):
                continue  # unchanged: only last_seen_at moves, below, for all of them at once
            row = Workload(
                cluster=cluster,
                namespace=seen.namespace,
                kind=seen.kind,
                name=seen.name,
                first_seen_at=now,
                last_seen_at=now,
                gone_at=None,
                **values,
            )
            upserts.append(row)
            if stored is None:
                created += 1
                if service is not None and not first_sync:
                    changes.append(_Change(row, service, environment, None))
                continue
            back += stored["gone_at"] is not None
            if (stored["version"], stored["revision"]) != (values["version"], values["revision"]):
                changes.append(_Change(row, service, environment, stored))
            elif stored["health"] == Health.PROGRESSING and values["health"] in (Health.HEALTHY, Health.DEGRADED):
                changes.append(_Change(row, service, environment, stored, completes=True))
        Workload.objects.bulk_create(
            upserts,
            batch_size=BATCH_SIZE,
            update_conflicts=True,
            unique_fields=["cluster", "namespace", "kind", "name"],
            update_fields=UPSERT_FIELDS,
        )
        gone_ids = [row["pk"] for key, row in stored_rows.items() if key not in seen_keys and row["gone_at"] is None]
        gone = Workload.objects.filter(pk__in=gone_ids).update(gone_at=now) if gone_ids else 0
        unchanged = Workload.objects.filter(cluster=cluster, gone_at__isnull=True, last_seen_at__lt=now).update(
            last_seen_at=now
        )
        deployments = _record_deployments(changes, cluster, now)
    return WorkloadSync(
        seen=len(seen_keys),
        created=created,
        changed=len(upserts) - created - back,
        unchanged=unchanged,
        gone=gone,
        back=back,
        deployments=deployments,
    )


def _record_deployments(changes: list[_Change], cluster: Cluster, now: datetime) -> int:
    """Record each changed workload's version through ``record_deployment``; how many calls were made."""
    if not changes:
        return 0
    completing = {change.row.pk for change in changes if change.completes}
    in_progress = set(
        Deployment.objects.filter(workload_id__in=completing, status=DeploymentStatus.IN_PROGRESS).values_list(
            "workload_id", flat=True
        )
    )
    calls = 0
    for change in changes:
        if change.completes and change.row.pk not in in_progress:
            continue  # nothing in progress to finish
        row = change.row
        target = Target(
            service=change.service,
            environment=change.environment,
            cluster=cluster,
            namespace=row.namespace,
            workload=row,
        )
        before = change.before
        if before is not None and not change.completes and not Deployment.objects.filter(target.filter()).exists():
            # The baseline this workload had when the portal first saw it, so the change has a "previous".
            record_deployment(
                target,
                version=before["version"],
                source=DeploymentSource.CLUSTER,
                started_at=before["rolled_out_at"] or now,
                status=STATUS_OF_HEALTH[Health(before["health"])],
                finished_at=before["rolled_out_at"] or now,
                images=before["images"],
                revision=before["revision"],
            )
            calls += 1
        status = STATUS_OF_HEALTH[Health(row.health)]
        started_at = row.rolled_out_at or now
        record_deployment(
            target,
            version=row.version,
            source=DeploymentSource.CLUSTER,
            started_at=started_at,
            status=status,
            finished_at=started_at if status != DeploymentStatus.IN_PROGRESS else None,
            images=row.images,
            revision=row.revision,
        )
        calls += 1
    return calls


# --- Argo CD --------------------------------------------------------------------------------------


def _argo_values(
    app: CustomResource, now: datetime, catalogue: _Catalogue, managed_services: Iterable[int]
) -> dict[str, Any]:
    spec, status = app.spec, app.status
    source = spec.get("source") or next(iter(spec.get("sources") or []), None) or {}
    destination = spec.get("destination") or {}
    sync = status.get("sync") or {}
    revision = sync.get("revision") or next(iter(sync.get("revisions") or []), "")
    slug = _service_slug(app.labels, catalogue.by_slug) or (app.name if app.name in catalogue.by_slug else None)
    service = catalogue.by_slug[slug] if slug is not None else None
    if service is None:
        distinct = set(managed_services)
        service = catalogue.by_id.get(distinct.pop()) if len(distinct) == 1 else None
    environment = catalogue.by_namespace.get(str(destination.get("namespace") or ""))
    team_id = service.team_id if service is not None else environment.team_id if environment is not None else None
    return {
        "project": str(spec.get("project") or "")[:253],
        "repo_url": str(source.get("repoURL") or "")[:500],
        "path": str(source.get("path") or source.get("chart") or "")[:500],
        "target_revision": str(source.get("targetRevision") or "")[:253],
        "destination_namespace": str(destination.get("namespace") or "")[:63],
        "sync_status": str(sync.get("status") or "")[:32],
        "health_status": str((status.get("health") or {}).get("status") or "")[:32],
        "revision": str(revision or "")[:253],
        # Present at all (even as {}) means automated sync is on.
        "auto_sync": (spec.get("syncPolicy") or {}).get("automated") is not None,
        "service": service,
        "environment": environment,
        "team_id": team_id,
        "tier": environment.tier if environment is not None else "",
        "last_seen_at": now,
        "gone_at": None,
    }


def _managed_keys(app: CustomResource) -> set[Key]:
    """The workloads an application lists among its resources."""
    kinds = set(WorkloadKind.values)
    return {
        (str(resource.get("namespace") or ""), str(resource.get("kind")), str(resource.get("name")))
        for resource in app.status.get("resources") or []
        if resource.get("kind") in kinds
    }


def sync_argo_applications(cluster: Cluster, *, driver: ClusterDriver | None = None) -> ArgoSync:
    """Upsert the cluster's Argo CD applications, mark the missing ones gone, and the workloads each manages.

    A workload is an application's when the application lists it among its
    resources, or else when its ``app.kubernetes.io/instance`` label is the
    application's name (Argo CD's default tracking label). Where Argo CD is
    not installed the driver lists none: every application stored for the
    cluster is marked gone and no workload is marked.
    """
    apps = (driver or cluster_driver_for(cluster)).list_custom_resources(*ARGO_CD)
    with transaction.atomic():
        Cluster.objects.select_for_update(no_key=True).filter(pk=cluster.pk).first()
        now = timezone.now()
        catalogue = _Catalogue.of(cluster)
        workloads = list(
            Workload.objects.filter(cluster=cluster, gone_at__isnull=True).only(
                "pk", "namespace", "kind", "name", "labels", "service_id", "argocd_application"
            )
        )
        by_key = {(w.namespace, w.kind, w.name): w for w in workloads}
        owner: dict[int, str] = {}  # workload pk -> application name
        rows: list[ArgoApplication] = []
        for app in sorted(apps, key=lambda app: (app.namespace or "", app.name)):
            managed = [by_key[key] for key in _managed_keys(app) if key in by_key]
            for workload in managed:
                owner.setdefault(workload.pk, app.name)
            values = _argo_values(app, now, catalogue, (w.service_id for w in managed if w.service_id))
            rows.append(ArgoApplication(cluster=cluster, namespace=app.namespace or "", name=app.name, **values))
        names = {row.name for row in rows}
        for workload in workloads:
            instance = (workload.labels or {}).get(INSTANCE_LABEL)
            if workload.pk not in owner and instance in names:
                owner[workload.pk] = instance
        ArgoApplication.objects.bulk_create(
            rows,
            batch_size=BATCH_SIZE,
            update_conflicts=True,
            unique_fields=["cluster", "namespace", "name"],
            update_fields=ARGO_FIELDS,
        )
        gone = (
            ArgoApplication.objects.filter(cluster=cluster, gone_at__isnull=True)
            .exclude(last_seen_at=now)
            .update(gone_at=now)
        )
        marked = []
        for workload in workloads:
            wanted = owner.get(workload.pk, "")
            if workload.argocd_application != wanted:
                workload.argocd_application = wanted
                marked.append(workload)
        Workload.objects.bulk_update(marked, ["argocd_application"], batch_size=BATCH_SIZE)
    return ArgoSync(applications=len(rows), gone=gone, workloads_marked=len(marked))
