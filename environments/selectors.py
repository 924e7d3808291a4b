"""Reads of environment templates and team limits, always scoped by the policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from access import policy
from access.models import Team, User
from costs import selectors as cost_selectors
from costs.prices import PriceMissing
from environments.estimates import EstimateError, SizeComparison, estimates_by_size
from environments.models import EnvironmentTemplate, TeamLimits
from regions.models import Region

AnyUser = User | AnonymousUser


def template_list(*, user: AnyUser) -> QuerySet[EnvironmentTemplate]:
    """Templates ``user`` may see; inactive ones only for those who may change templates."""
    templates = policy.restrict(EnvironmentTemplate.objects.all(), user, policy.VIEW)
    if not policy.can(user, policy.CHANGE, EnvironmentTemplate):
        templates = templates.filter(active=True)
    return templates.prefetch_related("allowed_regions").order_by("name")


def template_get(*, user: AnyUser, slug: str) -> EnvironmentTemplate:
    return get_object_or_404(template_list(user=user), slug=slug)


def template_regions(*, template: EnvironmentTemplate, user: AnyUser) -> QuerySet[Region]:
    """The regions an environment from ``template`` may run in, among those ``user`` may see."""
    regions = policy.restrict(Region.objects.all(), user, policy.VIEW).filter(provider__in=template.allowed_providers)
    if template.allowed_zones:
        regions = regions.filter(residency_zone__in=template.allowed_zones)
    allowed = [region.pk for region in template.allowed_regions.all()]
    if allowed:
        regions = regions.filter(pk__in=allowed)
    return regions.order_by("residency_zone", "provider", "code")


@dataclass(frozen=True)
class RegionEstimate:
    """The estimate of a template at every size in one region, or why there is none."""

    region: Region
    comparison: SizeComparison | None = None
    problem: str = ""


def template_estimate(*, template: EnvironmentTemplate, region: Region, at: date | None = None) -> RegionEstimate:
    """The size-by-size estimate in ``region``; a missing price is reported, never priced at zero."""
    prices = cost_selectors.price_book(provider=region.provider, region=region, at=at)
    try:
        return RegionEstimate(region, estimates_by_size(template, prices=prices))
    except (PriceMissing, EstimateError) as error:
        return RegionEstimate(region, problem=str(error))


def team_limits_list(*, user: AnyUser) -> QuerySet[TeamLimits]:
    return policy.restrict(TeamLimits.objects.all(), user, policy.VIEW).select_related("team")


@dataclass(frozen=True)
class TeamLimitsRow:
    team: Team
    limits: TeamLimits | None
    can_change: bool


def team_limits_overview(*, user: AnyUser) -> list[TeamLimitsRow]:
    """Every team whose limits ``user`` may see, with its limits (None: not capped)."""
    limits = {row.team_id: row for row in team_limits_list(user=user)}
    rows = []
    for team in policy.restrict(Team.objects.all(), user, policy.VIEW).order_by("name"):
        probe = limits.get(team.pk) or TeamLimits(team=team)
        if team.pk in limits or policy.can(user, policy.VIEW, probe):
            rows.append(TeamLimitsRow(team, limits.get(team.pk), policy.can(user, policy.CHANGE, probe)))
    return rows


def team_for_limits(*, user: AnyUser, slug: str) -> tuple[Team, TeamLimits | None]:
    """A team and its limits, 404 unless ``user`` may see that team's limits."""
    team = get_object_or_404(policy.restrict(Team.objects.all(), user, policy.VIEW), slug=slug)
    limits = TeamLimits.objects.filter(team=team).first()
    if not policy.can(user, policy.VIEW, limits or TeamLimits(team=team)):
        raise Http404("Not found.")
    return team, limits
