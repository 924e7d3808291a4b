"""Reads of environment templates, team limits and environments, always scoped by the policy.

:func:`request_check` is the one place a request is judged before it is
saved: the request form's live check, the API and the submit itself all ask
it, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import AnonymousUser
from django.db.models import Case, Count, Q, QuerySet, Sum, Value, When
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from access import policy
from access.models import Team, User
from costs import selectors as cost_selectors
from costs.budgets.services import BudgetStatus, team_budget_status
from costs.prices import PriceMissing
from environments import admission
from environments.choices import LIVE, Approval
from environments.estimates import Estimate, EstimateError, SizeComparison, estimates_by_size, monthly_estimate
from environments.models import Environment, EnvironmentTemplate, TeamLimits
from regions.choices import RegionStatus
from regions.models import Cluster, Region

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


# --- environments ---------------------------------------------------------------------------


def environment_list(*, user: AnyUser) -> QuerySet[Environment]:
    """Environments ``user`` may see, with what the list shows, in one query."""
    return (
        policy.restrict(Environment.objects.all(), user, policy.VIEW)
        .select_related("team", "template", "cluster__region", "requested_by")
        .defer("cluster__kubeconfig")  # a secret, decrypted on every row read: read only where it is used
        .order_by("-created_at", "-pk")
    )


def environment_get(*, user: AnyUser, pk: int) -> Environment:
    return get_object_or_404(environment_list(user=user), pk=pk)


def expiring_soon(
    environments: QuerySet[Environment], *, within: timedelta = timedelta(hours=24)
) -> QuerySet[Environment]:
    """Live environments that expire within ``within`` from now."""
    now = timezone.now()
    return environments.filter(status__in=LIVE).filter(expires_at__isnull=False, expires_at__lte=now + within)


def request_clusters(
    *, user: AnyUser, template: EnvironmentTemplate | None = None, preferred: QuerySet[Cluster] | None = None
) -> QuerySet[Cluster]:
    """Clusters ``user`` may see to place an environment on (for ``template``: in its regions); those in
    ``preferred`` first."""
    clusters = policy.restrict(Cluster.objects.all(), user, policy.VIEW).select_related("region")
    if template is not None:
        clusters = clusters.filter(region__in=template_regions(template=template, user=user))
    order = ["region__residency_zone", "region__provider", "region__code", "name"]
    if preferred is not None:
        clusters = clusters.annotate(
            elsewhere=Case(When(pk__in=preferred.values("pk"), then=Value(0)), default=Value(1))
        )
        order.insert(0, "elsewhere")
    return clusters.order_by(*order)


def preferred_clusters(*, user: AnyUser, team: Team | None, template: EnvironmentTemplate | None) -> QuerySet[Cluster]:
    """The clusters a request of ``team`` from ``template`` would be placed on without a residency or region
    refusal: in an active region the template allows, in the team's residency zone."""
    clusters = policy.restrict(Cluster.objects.all(), user, policy.VIEW).filter(region__status=RegionStatus.ACTIVE)
    if template is not None:
        clusters = clusters.filter(region__in=template_regions(template=template, user=user))
    if team is not None and team.residency_zone:
        clusters = clusters.filter(region__residency_zone=team.residency_zone)
    return clusters.select_related("region").order_by("region__provider", "region__code", "name")


@dataclass(frozen=True)
class RequestCheck:
    """What a request would cost and what the policy says, or the problem that stops both.

    ``facts`` are what the decision was made on, kept so the live check can show the team's
    quota left (environments and committed monthly estimates against its limits).
    ``budget`` is the team's budget as Costs -> Budgets shows it (amount, spent, forecast), or None.
    """

    estimate: Estimate | None = None
    decision: admission.Decision | None = None
    problem: str = ""
    budget: BudgetStatus | None = None
    facts: admission.RequestFacts | None = None

    @property
    def currency(self) -> str:
        return self.estimate.currency if self.estimate is not None else ""

    @property
    def environments_left(self) -> int | None:
        """How many more live environments the team may have (never below 0); None: no maximum."""
        if self.facts is None or self.facts.team_max_environments is None:
            return None
        return max(0, self.facts.team_max_environments - self.facts.team_environments)

    @property
    def monthly_committed_after(self) -> Decimal | None:
        """The team's committed monthly estimates if this request goes ahead; None: no maximum to compare to."""
        if self.facts is None or self.facts.team_monthly_limit is None:
            return None
        return self.facts.team_monthly_committed + self.facts.monthly_estimate

    @property
    def budget_left_after(self) -> Decimal | None:
        """What is left of the team's monthly budget if this request goes ahead."""
        if self.decision is None or self.decision.budget_left is None or self.estimate is None:
            return None
        return self.decision.budget_left - self.estimate.total


_APPROVERS = {
    Approval.TEAM_LEAD: admission.Approver.TEAM_LEAD,
    Approval.PLATFORM_ADMIN: admission.Approver.PLATFORM_ADMIN,
}


def request_check(
    *,
    team_id: int,
    template: EnvironmentTemplate,
    cluster: Cluster,
    size: str,
    ttl_hours: int | None,
    at: datetime | None = None,
) -> RequestCheck:
    """Estimate the request and gather the facts :func:`environments.admission.decide` needs, then decide.

    Not scoped: the caller has already checked that the requester may request
    for the team on the cluster. Team totals count the team's live
    environments (see :data:`environments.choices.LIVE`). The team's residency
    zone is read here, fresh, so a zone set a moment ago applies.
    """
    region = cluster.region
    prices = cost_selectors.price_book(provider=region.provider, region=region, at=at)
    try:
        estimate = monthly_estimate(template, size=size, prices=prices)
    except (PriceMissing, EstimateError) as error:
        return RequestCheck(problem=str(error))
    limits = TeamLimits.objects.filter(team_id=team_id).first()
    if limits is not None and limits.currency != estimate.currency:
        return RequestCheck(
            estimate=estimate,
            problem=f"This estimate is in {estimate.currency} but the team's limits are in {limits.currency}; "
            "ask a platform admin to align the price table and the team's limits.",
        )
    budget = team_budget_status(team_id=team_id, today=timezone.localdate(at) if at is not None else None)
    if budget is not None and budget.budget.currency != estimate.currency:
        return RequestCheck(
            estimate=estimate,
            problem=f"This estimate is in {estimate.currency} but the team's budget ({budget.budget.name}) is in "
            f"{budget.budget.currency}; ask a manager to align the budget and the price table.",
        )
    live = (
        Environment.objects.live()
        .filter(team_id=team_id)
        .aggregate(count=Count("pk"), committed=Sum("monthly_estimate", filter=Q(currency=estimate.currency)))
    )
    team_zone = Team.objects.filter(pk=team_id).values_list("residency_zone", flat=True).first()
    allowed_regions = list(template.allowed_regions.all())
    # What a refusal suggests instead: the active regions this template may run in, by zone.
    choices = Region.objects.filter(status=RegionStatus.ACTIVE, provider__in=template.allowed_providers)
    if allowed_regions:
        choices = choices.filter(pk__in=[r.pk for r in allowed_regions])
    zone_regions = tuple(choices.order_by("residency_zone", "code").values_list("residency_zone", "code"))
    facts = admission.RequestFacts(
        tier=template.tier,
        region_code=region.code,
        region_zone=region.residency_zone,
        provider=region.provider,
        team_zone=team_zone or None,
        allowed_zones=frozenset(template.allowed_zones),
        allowed_regions=frozenset(r.code for r in allowed_regions),
        allowed_providers=frozenset(template.allowed_providers),
        template_approval=_APPROVERS.get(Approval(template.approval)),
        ttl=timedelta(hours=ttl_hours) if ttl_hours is not None else None,
        default_ttl=timedelta(hours=template.default_ttl_hours) if template.default_ttl_hours else None,
        max_ttl=timedelta(hours=template.max_ttl_hours) if template.max_ttl_hours else None,
        monthly_estimate=estimate.total,
        currency=estimate.currency,
        team_monthly_committed=live["committed"] or Decimal(0),
        team_monthly_limit=limits.max_monthly_estimate if limits is not None else None,
        team_budget=budget.budget.amount if budget is not None else None,
        team_budget_spent=budget.actual if budget is not None else Decimal(0),
        team_budget_period=budget.budget.get_period_display().lower() if budget is not None else "monthly",
        team_environments=live["count"] or 0,
        team_max_environments=limits.max_environments if limits is not None else None,
        region_status=region.status,
        region_dr_partner=region.dr_partner.code if region.dr_partner_id and region.dr_partner else "",
        zone_regions=zone_regions,
    )
    return RequestCheck(
        estimate=estimate,
        decision=admission.decide(facts),
        budget=budget,
        facts=facts,
    )
