"""The lifecycles of region requests and failovers hear of their approvals' verdicts and their runs' ends."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from access.models import User
from approvals.models import ApprovalRequest
from approvals.signals import decided
from workflows.models import Run
from workflows.signals import run_finished


@receiver(decided, sender=ApprovalRequest, dispatch_uid="regions.approval_decided")
def approval_decided(
    sender: type[ApprovalRequest], *, request: ApprovalRequest, approved: bool, by: User | None = None, **kwargs: Any
) -> None:
    from regions.failover.services import FAILOVERS
    from regions.models import FailoverRequest, RegionRequest
    from regions.services import REGION_BUILDS

    subject = request.subject_type.model_class()
    if request.purpose == REGION_BUILDS.kind and subject is RegionRequest:
        REGION_BUILDS.decided(request, approved=approved, by=by)
    elif request.purpose == FAILOVERS.kind and subject is FailoverRequest:
        FAILOVERS.decided(request, approved=approved, by=by)


@receiver(run_finished, sender=Run, dispatch_uid="regions.run_finished")
def run_ended(sender: type[Run], *, run: Run, **kwargs: Any) -> None:
    from regions.failover.services import FAILOVERS
    from regions.services import REGION_BUILDS

    REGION_BUILDS.finished(run)
    FAILOVERS.finished(run)
