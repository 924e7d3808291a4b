"""Approvals of region requests and failovers: an approved one is carried out, a rejected one marked so."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from approvals.models import ApprovalRequest
from approvals.signals import decided


@receiver(decided, sender=ApprovalRequest, dispatch_uid="regions.approval_decided")
def approval_decided(sender: type[ApprovalRequest], *, request: ApprovalRequest, approved: bool, **kwargs: Any) -> None:
    from regions import failover, services
    from regions.models import FailoverRequest, RegionRequest

    if request.purpose == services.BUILD and request.subject_type.model_class() is RegionRequest:
        services.region_approval_decided(request, approved=approved)
    elif request.purpose == failover.FAILOVER and request.subject_type.model_class() is FailoverRequest:
        failover.failover_approval_decided(request, approved=approved)
