"""Approvals of environment requests: an approved request is provisioned, a rejected one marked so."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from approvals.models import ApprovalRequest
from approvals.signals import decided


@receiver(decided, sender=ApprovalRequest, dispatch_uid="environments.approval_decided")
def approval_decided(sender: type[ApprovalRequest], *, request: ApprovalRequest, approved: bool, **kwargs: Any) -> None:
    from environments import services

    if request.purpose == services.PROVISION:
        services.environment_approval_decided(request, approved=approved)
