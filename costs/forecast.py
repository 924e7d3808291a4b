"""Spend to date and forecasts, read from the daily rollups.

The forecast is deliberately simple and explainable: what was spent on the
complete days so far, plus the mean of the last seven complete days for each
day left (today included, since today's figures are partial). A period with
no complete day yet has no forecast beyond what is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import QuerySet, Sum

from costs.choices import CostBasis
from costs.models import CostRollup

TRAILING_DAYS = 7


def cost_column(basis: str) -> str:
    """The rollup column a basis sums (effective, the default, counts commitments amortised, never twice)."""
    columns: dict[str, str] = {
        CostBasis.BILLED: "billed_cost",
        CostBasis.LIST: "list_cost",
        CostBasis.CONTRACTED: "contracted_cost",
    }
    return columns.get(basis, "effective_cost")


def daily_totals(
    rollups: QuerySet[CostRollup], start: date, end: date, basis: str = CostBasis.EFFECTIVE
) -> dict[date, Decimal]:
    """Spend per day from ``start`` to ``end`` (exclusive); days without cost are absent."""
    rows = (
        rollups.filter(day__gte=start, day__lt=end)
        .values("day")
        .annotate(total=Sum(cost_column(basis)))
        .values_list("day", "total")
    )
    return dict(rows)


@dataclass(frozen=True)
class Forecast:
    """A period's spend so far (complete days) and what it will likely be at its end."""

    start: date
    end: date  # exclusive
    actual: Decimal
    forecast: Decimal
    daily_rate: Decimal
    days_left: int


def forecast_period(daily: dict[date, Decimal], start: date, end: date, today: date) -> Forecast:
    """The forecast of the period from ``start`` to ``end`` (exclusive) as seen on ``today``."""
    known_until = min(max(today, start), end)
    actual = sum((amount for day, amount in daily.items() if start <= day < known_until), Decimal(0))
    trailing = [daily.get(known_until - timedelta(days=n), Decimal(0)) for n in range(1, TRAILING_DAYS + 1)]
    complete = max(0, min(TRAILING_DAYS, (known_until - start).days))
    rate = (sum(trailing[:complete], Decimal(0)) / complete) if complete else Decimal(0)
    days_left = (end - known_until).days
    return Forecast(start, end, actual, actual + rate * days_left, rate, days_left)


def month_bounds(day: date) -> tuple[date, date]:
    """The first day of ``day``'s month and the first day of the next."""
    start = day.replace(day=1)
    return start, (start + timedelta(days=32)).replace(day=1)


def quarter_bounds(day: date) -> tuple[date, date]:
    """The first day of ``day``'s quarter and the first day of the next."""
    start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    end_month = start.month + 3
    return start, date(start.year + (end_month > 12), (end_month - 1) % 12 + 1, 1)
