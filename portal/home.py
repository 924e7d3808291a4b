"""The home page: what a person signing in needs to see about their own work, read through the policy.

Every section is read in a bounded number of queries (a few rows each, never a
whole table) and holds only what the person may see on the section's own page.
Sections that do not apply to someone (no team, nothing to decide, no audit
view) are left out rather than shown empty.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q, Sum
from django.utils import timezone

from access import policy
from access import selectors as access_selectors
from access.audit.selectors import audit_event_list
from access.models import AuditEvent, Team, User
from approvals import selectors as approval_selectors
from approvals.models import ApprovalRequest
from costs.budgets import anomalies as anomaly_selectors
from costs.budgets import services as budget_selectors
from costs.budgets.models import Anomaly
from costs.budgets.services import BudgetStatus
from costs.reports import visible_rollups
from deployments import selectors as deployment_selectors
from deployments.choices import DeploymentStatus
from deployments.models import Deployment
from environments import selectors as environment_selectors
from environments.choices import LIVE
from environments.models import Environment
from environments.services import REQUEST, is_platform_admin
from portal import numbers
from regions import selectors as region_selectors
from regions.models import LIVE_REQUEST_STATUSES, RegionRequest

SHOWN = 6  # rows per section
EXPIRES_SOON = timedelta(hours=24)
RECENT = timedelta(days=7)
RECENT_ANOMALIES = timedelta(days=14)


@dataclass(frozen=True)
class MyEnvironment:
    environment: Environment
    cost_to_date: list[tuple[str, Decimal]]  # (currency, amount), usually one

    @property
    def expires_soon(self) -> bool:
        expires = self.environment.expires_at
        return expires is not None and expires <= timezone.now() + EXPIRES_SOON


@dataclass
class HomePage:
    """What the home page shows ``user``; empty lists are sections that do not apply."""

    user: User
    teams: list[Team]
    environments: list[MyEnvironment] = field(default_factory=list)
    environments_total: int = 0
    may_request_environment: bool = False
    expiring: list[Environment] = field(default_factory=list)
    waiting_for_me: list[ApprovalRequest] = field(default_factory=list)
    waiting_total: int = 0
    my_pending: list[ApprovalRequest] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)
    failed_deployments: int = 0
    budgets: list[BudgetStatus] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    reviews_to_decide: int = 0
    region_requests: list[RegionRequest] = field(default_factory=list)
    audit_events: list[AuditEvent] = field(default_factory=list)
    inventory: dict[str, Any] | None = None

    @property
    def attention(self) -> list[tuple[str, str, str]]:
        """(what, how many, where): the things waiting on this person, first on the page."""
        items: list[tuple[str, str, str]] = []
        if self.waiting_total:
            items.append(("approvals", _count(self.waiting_total, "approval waits", "approvals wait"), "approvals"))
        if self.expiring:
            items.append(
                ("expiring", _count(len(self.expiring), "environment expires", "environments expire"), "expiring")
            )
        if self.failed_deployments:
            items.append(
                ("failed", _count(self.failed_deployments, "deployment failed", "deployments failed"), "deployments")
            )
        over = sum(1 for status in self.budgets if status.over or status.forecast_over)
        if over:
            items.append(
                (
                    "budgets",
                    _count(over, "budget is over or heading over", "budgets are over or heading over"),
                    "budgets",
                )
            )
        if self.reviews_to_decide:
            items.append(
                ("reviews", _count(self.reviews_to_decide, "access review item", "access review items"), "reviews")
            )
        return items


def _count(count: int, one: str, many: str) -> str:
    return f"{numbers.number(count)} {one if count == 1 else many}"


def home_page(user: User) -> HomePage:
    teams = list(Team.objects.filter(memberships__user=user).order_by("name"))
    page = HomePage(user=user, teams=teams)
    _environments(page)
    _approvals(page)
    _deployments(page)
    _budgets(page)
    page.reviews_to_decide = access_selectors.review_items_to_decide(user=user).count()
    if is_platform_admin(user):
        page.inventory = region_selectors.inventory_summary(user=user)
        page.region_requests = list(
            policy.restrict(RegionRequest.objects.all(), user, policy.VIEW)
            .filter(status__in=LIVE_REQUEST_STATUSES)
            .select_related("requested_by")
            .order_by("-created_at", "-pk")[:SHOWN]
        )
    if policy.can(user, policy.VIEW, AuditEvent) and not teams:
        # Someone who answers for the log (an auditor) and works on no team: the newest privileged actions.
        page.audit_events = list(audit_event_list(user=user)[:SHOWN])
    return page


def _environments(page: HomePage) -> None:
    """The person's own live environments (those they asked for), newest first, with their cost to date."""
    visible = environment_selectors.environment_list(user=page.user)
    mine = visible.filter(requested_by=page.user, status__in=LIVE)
    rows = list(mine[:SHOWN])
    page.environments_total = mine.count()
    costs: dict[int, list[tuple[str, Decimal]]] = defaultdict(list)
    if rows:
        found = (
            visible_rollups(page.user)
            .filter(environment_id__in=[row.pk for row in rows], day__lt=timezone.localdate())
            .values_list("environment_id", "currency")
            .annotate(total=Sum("effective_cost"))
            .order_by("environment_id", "currency")
        )
        for environment_id, currency, total in found:
            costs[environment_id].append((currency, total))
    page.environments = [MyEnvironment(row, costs.get(row.pk, [])) for row in rows]
    team_ids = [team.pk for team in page.teams]
    page.expiring = list(
        environment_selectors.expiring_soon(
            visible.filter(Q(requested_by=page.user) | Q(team_id__in=team_ids)), within=EXPIRES_SOON
        ).order_by("expires_at")[:SHOWN]
    )
    page.may_request_environment = bool(team_ids) and any(
        policy.can(page.user, REQUEST, Environment(team=team)) for team in page.teams
    )


def _approvals(page: HomePage) -> None:
    waiting = approval_selectors.waiting_for(page.user)
    page.waiting_total = len(waiting)
    page.waiting_for_me = waiting[:SHOWN]
    page.my_pending = approval_selectors.requested_by(page.user, limit=SHOWN, pending=True)


def _deployments(page: HomePage) -> None:
    """The latest deployments of the person's teams' services (or to their teams' environments)."""
    if not page.teams:
        return
    ours = deployment_selectors.deployment_list(user=page.user).filter(
        Q(service__team__in=page.teams) | Q(team__in=page.teams)
    )
    page.deployments = list(ours[:SHOWN])
    page.failed_deployments = ours.filter(
        status=DeploymentStatus.FAILED, started_at__gte=timezone.now() - RECENT
    ).count()


def _budgets(page: HomePage) -> None:
    """Team budgets: the person's teams' ones; for someone on no team who sees budgets (a manager), every
    team's, the ones over or heading over first."""
    budgets = budget_selectors.budget_list(user=page.user).filter(
        active=True, team__isnull=False, environment__isnull=True, service__isnull=True
    )
    if page.teams:
        budgets = budgets.filter(team__in=page.teams)
    statuses = budget_selectors.budget_statuses(list(budgets[:50]), today=timezone.localdate())
    statuses.sort(key=lambda status: (not status.over, not status.forecast_over, -status.percent_forecast))
    page.budgets = statuses[:SHOWN]
    anomalies = anomaly_selectors.anomaly_list(user=page.user).filter(day__gte=timezone.localdate() - RECENT_ANOMALIES)
    if page.teams:
        anomalies = anomalies.filter(team__in=page.teams)
    page.anomalies = list(anomalies[:SHOWN])
