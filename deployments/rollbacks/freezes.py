"""Deploy freeze windows: times when nothing may be deployed to or rolled back in an environment.

The portal's own changes (rollbacks) are refused during a freeze; a
pipeline's deployment reported during one is recorded (it happened) and the
pages flag it. Creating and ending a freeze needs ``deployments.change`` on
the environment's team and is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from access import policy
from access.audit import services as audit
from access.models import User
from access.permissions import CHANGE, VIEW
from deployments.models import Deployment, FreezeWindow
from environments.models import Environment

FREEZE_FIELDS = ["environment", "starts_at", "ends_at", "reason"]


@transaction.atomic
def freeze_create(
    *, actor: User, environment_id: int, starts_at: datetime, ends_at: datetime, reason: str
) -> FreezeWindow:
    """Freeze an environment from ``starts_at`` to ``ends_at`` (which must be in the future)."""
    environment = policy.get_for_update(Environment.objects.all(), actor, VIEW, pk=environment_id)
    freeze = FreezeWindow(
        environment=environment, starts_at=starts_at, ends_at=ends_at, reason=reason.strip(), created_by=actor
    )
    policy.require(actor, CHANGE, freeze)
    if ends_at <= timezone.now():
        raise ValidationError({"ends_at": "A freeze must end in the future."})
    freeze.full_clean()
    freeze.save()
    audit.record(
        audit.FREEZE_CREATED, freeze, actor=actor, after=audit.snapshot(freeze, FREEZE_FIELDS), team=environment.team
    )
    return freeze


@transaction.atomic
def freeze_end(*, actor: User, freeze_id: int) -> FreezeWindow:
    """End a freeze now; one not yet begun is removed. Ending an ended one changes nothing."""
    freeze = policy.get_for_update(
        FreezeWindow.objects.select_related("environment__team"), actor, CHANGE, pk=freeze_id
    )
    now = timezone.now()
    if freeze.ends_at <= now:
        return freeze
    before = audit.snapshot(freeze, FREEZE_FIELDS)
    if freeze.starts_at >= now:
        audit.record(audit.FREEZE_ENDED, freeze, actor=actor, before=before, team=freeze.environment.team)
        freeze.delete()
        return freeze
    freeze.ends_at = now
    freeze.save(update_fields=["ends_at"])
    audit.record(
        audit.FREEZE_ENDED,
        freeze,
        actor=actor,
        before=before,
        after=audit.snapshot(freeze, FREEZE_FIELDS),
        team=freeze.environment.team,
    )
    return freeze


def _frozen_at(environment_id: Any, started_at: Any) -> QuerySet[FreezeWindow]:
    return FreezeWindow.objects.filter(environment_id=environment_id, starts_at__lte=started_at, ends_at__gt=started_at)


def deployed_during_freeze(deployment: Deployment) -> bool:
    """Whether ``deployment`` started while its environment was frozen."""
    return (
        deployment.environment_id is not None and _frozen_at(deployment.environment_id, deployment.started_at).exists()
    )


def with_freeze_flag(deployments: QuerySet[Deployment]) -> QuerySet[Deployment]:
    """Annotate ``during_freeze``: the deployment started while its environment was frozen.

    The portal refuses its own changes during a freeze; a pipeline that
    deploys anyway is recorded (it happened) and flagged with this.
    """
    frozen = FreezeWindow.objects.filter(
        environment_id=OuterRef("environment_id"),
        starts_at__lte=OuterRef("started_at"),
        ends_at__gt=OuterRef("started_at"),
    )
    return deployments.annotate(during_freeze=Exists(frozen))
