"""The demo spend `make run` opens on: every cent attributed or shown as unallocated, clusters split, re-loadable."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from costs.budgets.models import Anomaly, Budget, BudgetAlert
from costs.demo import ANOMALY_DAYS_AGO, load_demo_costs
from costs.models import CostLineItem, CostLoad, CostRollup, Recommendation
from deployments.demo import load_demo_deployments

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 27)


def total(model: type[CostRollup] | type[CostLineItem], **filters: object) -> Decimal:
    return model.objects.filter(**filters).aggregate(total=Sum("billed_cost"))["total"] or Decimal(0)


def test_the_demo_spend_adds_up_and_reloads_without_duplicates(demo: None) -> None:
    load_demo_deployments()
    rows = load_demo_costs(TODAY)

    assert rows == CostLineItem.objects.count() > 0
    assert total(CostRollup) == total(CostLineItem)
    assert CostRollup.objects.filter(allocation="namespace").exists()
    assert CostRollup.objects.filter(allocation="idle").exists()
    assert CostRollup.objects.filter(allocation="unallocated").exists()
    assert CostRollup.objects.filter(team__slug="data-analytics", allocation="direct").exists()
    assert not CostRollup.objects.filter(day__gte=TODAY).exists()
    # Past months are final; the current one is still open.
    assert set(CostLoad.objects.values_list("billing_period_start", "final")) >= {
        (date(2026, 11, 1), False),
        (date(2026, 10, 1), True),
    }
    spike = TODAY - timedelta(days=ANOMALY_DAYS_AGO)
    reporting = CostRollup.objects.filter(service__slug="reporting")
    assert total(CostRollup, service__slug="reporting", day=spike) > 4 * total(
        CostRollup, service__slug="reporting", day=spike - timedelta(days=7)
    )
    assert reporting.exists()

    # What the scheduled tasks would have found: the over-spent budget alerted, the anomaly, savings.
    budget = Budget.objects.get(team__slug="student-experience")
    assert BudgetAlert.objects.filter(budget=budget).exists()
    assert not BudgetAlert.objects.filter(budget__team__slug="core-platform", kind="actual", threshold=100).exists()
    assert Anomaly.objects.filter(service__slug="reporting", day=spike).exists()
    assert Recommendation.objects.filter(current=True).exists()

    before = total(CostLineItem)
    assert load_demo_costs(TODAY) == rows
    assert total(CostLineItem) == before
    assert Budget.objects.filter(team__slug="student-experience").count() == 1


def test_the_demo_shows_a_correction_unused_commitment_and_contracted_cost(demo: None) -> None:
    load_demo_deployments()
    load_demo_costs(TODAY)

    correction = CostLineItem.objects.get(charge_class="correction", billing_period_start=date(2026, 11, 1))
    assert correction.charge_date == date(2026, 10, 14)
    assert CostRollup.objects.filter(charge_class="correction", billing_period_start=date(2026, 11, 1)).exists()
    unused = CostRollup.objects.filter(commitment_discount_status="unused", day__gte=date(2026, 11, 1))
    assert unused.aggregate(total=Sum("effective_cost"))["total"] == Decimal("10.00") * 26
    november = CostLineItem.objects.filter(charge_date__gte=date(2026, 11, 1))
    sums = november.aggregate(contracted=Sum("contracted_cost"), listed=Sum("list_cost"))
    assert sums["contracted"] == sums["listed"] > 0  # the demo has no negotiated prices
