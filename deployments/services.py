"""Writes of the deployments app. This module: recording deployments, from whichever source saw them.

A pipeline's deploy stage and the cluster sync that then finds the new
version are two reports of one deployment: :func:`record_deployment` merges
reports of the same version at the same place within ``MERGE_WINDOW`` into
one row, each filling in what it knows (the pipeline: commit, run, who; the
sync: workload, images, revision).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q

from deployments.choices import DeploymentSource, DeploymentStatus, SmokeTest, Strategy
from deployments.models import Deployment, PipelineRun, Service, Workload
from environments.models import Environment
from regions.models import Cluster

MERGE_WINDOW = timedelta(hours=6)
FINAL = (DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK)


@dataclass(frozen=True)
class Target:
    """Where a version was deployed: a service in an environment, else a cluster namespace (or a workload).

    Deployments are compared per target: the previous version, the merging
    of reports and the matrix's cells all use :meth:`filter`.
    """

    service: Service | None = None
    environment: Environment | None = None
    cluster: Cluster | None = None
    namespace: str = ""
    workload: Workload | None = None

    def __post_init__(self) -> None:
        if self.service is None and self.workload is None:
            raise ValueError("a deployment target needs a service or a workload")

    def filter(self) -> Q:
        if self.service is not None and self.environment is not None:
            return Q(service=self.service, environment=self.environment)
        if self.service is not None and self.cluster is not None:
            return Q(service=self.service, cluster=self.cluster, namespace=self.namespace)
        if self.workload is not None:
            return Q(workload=self.workload)
        return Q(service=self.service, environment__isnull=True, cluster__isnull=True)

    @property
    def team_id(self) -> int | None:
        if self.service is not None:
            return self.service.team_id
        if self.environment is not None:
            return self.environment.team_id
        return self.workload.team_id if self.workload is not None else None

    @property
    def tier(self) -> str:
        if self.environment is not None:
            return self.environment.tier
        return self.workload.tier if self.workload is not None else ""


@transaction.atomic
def record_deployment(
    target: Target,
    *,
    version: str,
    source: DeploymentSource,
    started_at: datetime,
    status: DeploymentStatus = DeploymentStatus.IN_PROGRESS,
    finished_at: datetime | None = None,
    images: Sequence[str] = (),
    revision: int | None = None,
    commit_sha: str = "",
    commit_at: datetime | None = None,
    pipeline_run: PipelineRun | None = None,
    triggered_by: str = "",
    strategy: Strategy | None = None,
    progress: Mapping[str, Any] | None = None,
    smoke_test: SmokeTest | None = None,
) -> Deployment:
    """Record that ``version`` was deployed at ``target``; a second report of the same one updates it.

    The same deployment is the same version at the same target, started
    within ``MERGE_WINDOW``, and not ended as a different source's
    rollback. Blank fields are filled in, an in-progress status moves to a
    final one (never back), and the earlier start is kept. A new deployment
    takes its previous version and images from the latest one before it at
    the target. Rows at one target are locked while deciding, so a sync and
    a webhook arriving together make one deployment.
    """
    at_target = Deployment.objects.select_for_update().filter(target.filter())
    same = (
        at_target.filter(version=version, started_at__gte=started_at - MERGE_WINDOW)
        .filter(started_at__lte=started_at + MERGE_WINDOW)
        .exclude(source=DeploymentSource.ROLLBACK, status__in=FINAL)
        .order_by("-started_at", "-pk")
        .first()
    )
    values: dict[str, Any] = {
        "workload": target.workload,
        "environment": target.environment,
        "cluster": target.cluster,
        "namespace": target.namespace,
        "images": list(images),
        "revision": revision,
        "commit_sha": commit_sha,
        "commit_at": commit_at,
        "pipeline_run": pipeline_run,
        "triggered_by": triggered_by,
        "progress": dict(progress or {}),
    }
    if same is None:
        previous = at_target.filter(started_at__lte=started_at).order_by("-started_at", "-pk").first()
        return Deployment.objects.create(
            service=target.service,
            team_id=target.team_id,
            tier=target.tier,
            version=version,
            previous_version=previous.version if previous is not None else "",
            previous_images=previous.images if previous is not None else [],
            status=status,
            source=source,
            strategy=strategy or Strategy.ROLLING,
            smoke_test=smoke_test or SmokeTest.NOT_RUN,
            started_at=started_at,
            finished_at=finished_at,
            **values,
        )
    changed: list[str] = []
    for name, value in values.items():
        if value not in (None, "", [], {}) and getattr(same, name) in (None, "", [], {}):
            setattr(same, name, value)
            changed.append(name)
    if progress and same.progress != dict(progress):  # progress moves on with every report
        same.progress = dict(progress)
        changed.append("progress")
    if status in FINAL and same.status == DeploymentStatus.IN_PROGRESS:
        same.status, same.finished_at = status, finished_at or same.finished_at
        changed += ["status", "finished_at"]
    if strategy is not None and strategy != same.strategy and same.strategy == Strategy.ROLLING:
        same.strategy = strategy
        changed.append("strategy")
    if smoke_test and smoke_test != same.smoke_test:
        same.smoke_test = smoke_test
        changed.append("smoke_test")
    if started_at < same.started_at:
        same.started_at = started_at
        changed.append("started_at")
    if changed:
        same.save(update_fields=sorted(set(changed)))
    return same
