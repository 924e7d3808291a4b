"""Approvals of production rollbacks: an approved one starts, a rejected one is marked so."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from approvals.models import ApprovalRequest
from approvals.signals import decided


@receiver(decided, sender=ApprovalRequest, dispatch_uid="deployments.approval_decided")
def approval_decided(sender: type[ApprovalRequest], *, request: ApprovalRequest, approved: bool, **kwargs: Any) -> None:
    from deployments import rollback

    if request.purpose == rollback.ROLLBACK:
        rollback.rollback_approval_decided(request, approved=approved)
