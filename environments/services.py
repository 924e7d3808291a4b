"""Writes of environment templates and team limits: each re-checks the policy inside its
transaction, validates with the model's rules and records one audit event with before/after."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from access import audit, policy
from access.models import Team, User
from access.permissions import ADD, CHANGE, DELETE
from environments.models import EnvironmentTemplate, TeamLimits
from regions.models import Region

TEMPLATE_FIELDS = [
    field.name
    for field in EnvironmentTemplate._meta.get_fields()
    if field.concrete and not field.many_to_many and field.name not in {"id", "created_at", "updated_at"}
]
TEAM_LIMITS_FIELDS = ["max_environments", "max_monthly_estimate", "monthly_budget", "currency"]


def template_snapshot(template: EnvironmentTemplate, regions: Iterable[Region] | None = None) -> dict[str, Any]:
    """The template's fields for the audit log, allowed regions as "provider/code"."""
    if regions is None:
        regions = template.allowed_regions.all() if template.pk else []
    return {
        **audit.snapshot(template, TEMPLATE_FIELDS),
        "allowed_regions": sorted(f"{region.provider}/{region.code}" for region in regions),
    }


def _check(actor: User, action: str, obj: Any) -> None:
    policy.forget(actor)
    policy.require(actor, action, obj)


def _set_fields(template: EnvironmentTemplate, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if name not in TEMPLATE_FIELDS:
            raise TypeError(f"not a template field: {name}")
        setattr(template, name, value.strip() if isinstance(value, str) else value)


def _validate_regions(template: EnvironmentTemplate, regions: list[Region]) -> None:
    problems = template.region_errors(regions)
    if problems:
        raise ValidationError({"allowed_regions": problems})


@transaction.atomic
def template_create(*, actor: User, allowed_regions: Iterable[Region] = (), **fields: Any) -> EnvironmentTemplate:
    """Create a template (platform admins: ``templates.add``)."""
    template = EnvironmentTemplate()
    _set_fields(template, fields)
    _check(actor, ADD, template)
    regions = list(allowed_regions)
    template.full_clean()
    _validate_regions(template, regions)
    template.save()
    template.allowed_regions.set(regions)
    audit.record(audit.TEMPLATE_CREATED, template, actor=actor, after=template_snapshot(template, regions))
    return template


@transaction.atomic
def template_update(
    *, actor: User, template_id: int, allowed_regions: Iterable[Region] | None = None, **fields: Any
) -> EnvironmentTemplate:
    """Change a template; re-activating one is a change too. Nothing changed: no event."""
    template = policy.get_for_update(EnvironmentTemplate.objects.all(), actor, CHANGE, pk=template_id)
    before = template_snapshot(template)
    _set_fields(template, fields)
    # The new values may move the template out of the actor's reach (a tier they may not change).
    _check(actor, CHANGE, template)
    regions = list(template.allowed_regions.all()) if allowed_regions is None else list(allowed_regions)
    template.full_clean()
    _validate_regions(template, regions)
    template.save()
    template.allowed_regions.set(regions)
    after = template_snapshot(template, regions)
    if after != before:
        changed = {name for name in after if after[name] != before.get(name)}
        audit.record(
            audit.TEMPLATE_CHANGED,
            template,
            actor=actor,
            before={name: before.get(name) for name in sorted(changed)},
            after={name: after[name] for name in sorted(changed)},
        )
    return template


@transaction.atomic
def template_deactivate(*, actor: User, template_id: int) -> EnvironmentTemplate:
    """Take a template out of use: no new requests. Environments made from it are not touched.

    Templates are deactivated, never deleted, so environments keep naming the
    template they came from. Deactivating an inactive template changes nothing.
    """
    template = policy.get_for_update(EnvironmentTemplate.objects.all(), actor, DELETE, pk=template_id)
    if not template.active:
        return template
    template.active = False
    template.save(update_fields=["active", "updated_at"])
    audit.record(audit.TEMPLATE_DEACTIVATED, template, actor=actor, before={"active": True}, after={"active": False})
    return template


@transaction.atomic
def team_limits_set(
    *,
    actor: User,
    team: Team,
    max_environments: int,
    max_monthly_estimate: Decimal,
    monthly_budget: Decimal,
    currency: str = "USD",
) -> TeamLimits:
    """Set a team's limits, creating them the first time (``costs.change`` on the team)."""
    Team.objects.select_for_update().filter(pk=team.pk).first()  # one writer per team: no duplicate row
    existing = TeamLimits.objects.filter(team=team).first()
    limits = existing if existing is not None else TeamLimits(team=team)
    _check(actor, CHANGE, limits)
    before = audit.snapshot(limits, TEAM_LIMITS_FIELDS) if existing is not None else None
    limits.max_environments = max_environments
    limits.max_monthly_estimate = max_monthly_estimate
    limits.monthly_budget = monthly_budget
    limits.currency = currency.strip().upper()
    limits.full_clean()
    limits.save()
    after = audit.snapshot(limits, TEAM_LIMITS_FIELDS)
    if after != before:
        audit.record(audit.TEAM_LIMITS_SET, limits, actor=actor, before=before, after=after, team=team)
    return limits


@transaction.atomic
def team_limits_remove(*, actor: User, team: Team) -> None:
    """Remove a team's limits: it is no longer capped. Removing none changes nothing."""
    limits = TeamLimits.objects.select_for_update().filter(team=team).first()
    if limits is None:
        return
    _check(actor, CHANGE, limits)
    audit.record(
        audit.TEAM_LIMITS_REMOVED, limits, actor=actor, before=audit.snapshot(limits, TEAM_LIMITS_FIELDS), team=team
    )
    limits.delete()
