"""Long operations of the deployments app, as workflows on the engine (:mod:`workflows.engine`).

``deployments.sync``: read one cluster's workloads, then its Argo CD
applications (:mod:`deployments.sync`). Each step is a whole sync of its
kind, so performing it again (a worker killed half-way) is harmless. A
cluster that cannot be reached is tried once more a little later (the driver
has already retried its call with backoff), then the run fails with the
driver's error; the next scheduled sync is the next try.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workflows.engine import PlannedStep, StepContext, StepFailed, Workflow, register

SYNC = "deployments.sync"


@register
class SyncCluster(Workflow):
    """``deployments.sync`` of the cluster ``params["cluster_id"]``: workloads, then Argo CD applications."""

    kind = SYNC
    step_attempts = 2
    backoff_base_seconds = 5.0
    backoff_cap_seconds = 30.0

    def plan(self, params: Mapping[str, Any]) -> Sequence[PlannedStep]:
        return [PlannedStep("Workloads", "workloads"), PlannedStep("Argo CD applications", "argocd")]

    @staticmethod
    def _cluster(ctx: StepContext) -> Any:
        from regions.models import Cluster

        try:
            return Cluster.objects.select_related("region__account").get(pk=ctx.run_params["cluster_id"])
        except Cluster.DoesNotExist:
            raise StepFailed("The cluster no longer exists.") from None

    def do_workloads(self, ctx: StepContext) -> Mapping[str, Any]:
        from deployments.sync import sync_cluster

        return sync_cluster(self._cluster(ctx)).as_output()

    def do_argocd(self, ctx: StepContext) -> Mapping[str, Any]:
        from deployments.sync import sync_argo_applications

        return sync_argo_applications(self._cluster(ctx)).as_output()
