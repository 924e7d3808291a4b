"""The rollback's lifecycle hears of its approval's verdict and of its workflow run's end."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from access.models import User
from approvals.models import ApprovalRequest
from approvals.signals import decided
from workflows.models import Run
from workflows.signals import run_finished


@receiver(decided, sender=ApprovalRequest, dispatch_uid="deployments.approval_decided")
def approval_decided(
    sender: type[ApprovalRequest], *, request: ApprovalRequest, approved: bool, by: User | None = None, **kwargs: Any
) -> None:
    from deployments.rollbacks.services import ROLLBACKS

    if request.purpose == ROLLBACKS.kind:
        ROLLBACKS.decided(request, approved=approved, by=by)


@receiver(run_finished, sender=Run, dispatch_uid="deployments.run_finished")
def rollback_finished(sender: type[Run], *, run: Run, **kwargs: Any) -> None:
    from deployments.rollbacks.services import ROLLBACKS

    ROLLBACKS.finished(run)
