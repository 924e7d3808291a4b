"""Building blocks of the savings tests: environments of the demo teams, and daily cost rollups."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from access.models import Team, User
from costs.choices import Allocation, ChargeCategory
from costs.models import CostRollup
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from portal.demo import Persona, username_of
from regions.choices import ClusterKind
from regions.models import Cluster

# A fixed moment, so the figures are the same whenever the tests run.
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.get_fixed_timezone(0))
TODAY = NOW.date()


def demo_cluster() -> Cluster:
    return Cluster.objects.select_related("region").get(
        region__provider="aws", region__code="eu-west-1", kind=ClusterKind.EKS
    )


def make_environment(
    name: str,
    *,
    template: str = "team-sandbox",
    team: str = "student-experience",
    status: str = EnvironmentStatus.READY,
    expires_at: datetime | None = None,
    created_at: datetime | None = None,
    monthly_estimate: str = "100.00",
    currency: str = "USD",
    cluster: Cluster | None = None,
) -> Environment:
    chosen = EnvironmentTemplate.objects.get(slug=template)
    environment = Environment.objects.create(
        name=name,
        team=Team.objects.get(slug=team),
        template=chosen,
        tier=chosen.tier,
        cluster=cluster or demo_cluster(),
        requested_by=User.objects.get(username=username_of(Persona.DEVELOPER)),
        status=status,
        monthly_estimate=Decimal(monthly_estimate),
        currency=currency,
        expires_at=expires_at,
    )
    Environment.objects.filter(pk=environment.pk).update(created_at=created_at or NOW - timedelta(days=60))
    environment.refresh_from_db()
    return environment


def add_cost(day: date, amount: str, *, currency: str = "USD", **fields: Any) -> CostRollup:
    """One day's rollup row (pages and savings read only rollups)."""
    cost = Decimal(amount)
    values: dict[str, Any] = {
        "provider": "aws",
        "region_code": "eu-west-1",
        "charge_category": ChargeCategory.USAGE,
        "allocation": Allocation.DIRECT,
        "billed_cost": cost,
        "effective_cost": cost,
        "list_cost": cost,
        "contracted_cost": cost,
        "line_items": 1,
        **fields,
    }
    return CostRollup.objects.create(day=day, billing_period_start=day.replace(day=1), currency=currency, **values)


def cost_every_day(days: int, amount: str, *, until: date = TODAY, **fields: Any) -> None:
    """``amount`` on each of the ``days`` days before ``until``."""
    for back in range(1, days + 1):
        add_cost(until - timedelta(days=back), amount, **fields)
