"""The read side of the cost store: totals, trends, breakdowns, top movers and the unallocated share.

Every answer is read from the daily rollups the policy lets the user see
(``policy.restrict`` on :class:`~costs.models.CostRollup`), summed in
PostgreSQL, and kept per currency: amounts in different currencies are never
added together. Each report is a fixed, small number of queries whatever the
date range or the number of rows (the tests guard the counts).

A :class:`CostQuery` says what to read: the dimension to break down by, a
date range (both ends included), the grouping of the time series, the cost
basis, drill-down filters (``{"team": ["student-experience"]}``; the value
``-`` stands for "none": no team, no region…) and the period the range is
read by: the charge period (when the cost was incurred, the default) or the
billing period (the invoices whose billing month falls in the range, each
with every row it charged, corrections to earlier months included).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth, TruncWeek

from access import policy
from access.models import User
from costs import report_cache
from costs.choices import (
    Allocation,
    ChargeCategory,
    ChargeClass,
    CommitmentStatus,
    CostBasis,
    CostPeriod,
    PricingCategory,
)
from costs.forecast import Forecast, cost_column, forecast_period, month_bounds
from costs.models import CostRollup

ZERO = Decimal(0)
NONE = "-"  # a filter value (and row key) meaning "none": no team, no region, an empty service name…
# Rollup allocations whose cost no team owns: nothing matched it, or it is a cluster's idle capacity.
UNOWNED = (Allocation.UNALLOCATED, Allocation.IDLE)
# A report reads at most this many days: enough for three years of monthly figures, small enough to stay fast.
MAX_DAYS = 3 * 366
# The stacked chart shows the largest values of the dimension; the rest are one "Other" series.
CHART_SERIES = 8


class Grouping:
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    CHOICES = [(DAY, "Daily"), (WEEK, "Weekly"), (MONTH, "Monthly")]


@dataclass(frozen=True)
class Dimension:
    """Something cost is broken down by: the rollup column rows group and filter on, and how to name a value."""

    name: str
    label: str
    key: str  # the column (or related column) that identifies a value, and that filters match
    display: str | None = None  # a related column naming the value, e.g. the team's name
    choices: dict[str, str] = field(default_factory=dict)  # names of coded values (charge category…)
    none_label: str = "(none)"
    integer: bool = False  # values are ids

    @property
    def nullable(self) -> bool:
        """Whether "none" is a missing related object (NULL) rather than an empty string."""
        return "__" in self.key or self.key.endswith("_id")

    def value_condition(self, value: str) -> Q:
        if value == NONE:
            return Q(**{f"{self.key}__isnull": True}) if self.nullable else Q(**{self.key: ""})
        return Q(**{self.key: int(value) if self.integer else value})

    def columns(self) -> list[str]:
        return [self.key, self.display] if self.display else [self.key]

    def key_of(self, row: dict[str, Any]) -> str:
        value = row[self.key]
        return NONE if value is None or value == "" else str(value)

    def label_of(self, row: dict[str, Any]) -> str:
        value = row[self.key]
        if value is None or value == "":
            return self.none_label
        if self.display:
            return str(row[self.display] or value)
        return self.choices.get(str(value), str(value))

    def names_of(self, values: list[str], user: User) -> list[str]:
        """How a filter's values read on the page: a team's or service's name rather than its slug, an
        environment's name rather than its id (of the objects ``user`` may see; others keep their key)."""
        names = {NONE: self.none_label, **self.choices}
        if self.display:
            field_name, _, key = self.key.partition("__")
            if not key:
                field_name, key = self.key.removesuffix("_id"), "pk"
            model = CostRollup._meta.get_field(field_name).related_model
            wanted = [value for value in values if value != NONE and (not self.integer or value.isdigit())]
            if wanted and model is not None and not isinstance(model, str):
                shown = policy.restrict(model._default_manager.filter(**{f"{key}__in": wanted}), user, policy.VIEW)
                display = self.display.partition("__")[2]
                names.update((str(found), str(name)) for found, name in shown.values_list(key, display))
        return [names.get(value, value) for value in values]


def _labels(choices: Any) -> dict[str, str]:
    return {str(value): str(label) for value, label in choices.choices if value}


DIMENSIONS: dict[str, Dimension] = {
    dimension.name: dimension
    for dimension in [
        Dimension("team", "Team", "team__slug", "team__name", none_label="(no team)"),
        Dimension("environment", "Environment", "environment_id", "environment__name", integer=True),
        Dimension("service", "Service", "service__slug", "service__name", none_label="(no service)"),
        Dimension("region", "Region", "region_code", none_label="(no region)"),
        Dimension("provider", "Provider", "provider"),
        Dimension("account", "Account", "sub_account_id", none_label="(no sub-account)"),
        Dimension("billing_account", "Billing account", "billing_account_id"),
        Dimension("pricing_category", "Pricing category", "pricing_category", choices=_labels(PricingCategory)),
        Dimension("service_name", "Cloud service", "service_name"),
        Dimension("charge_category", "Charge category", "charge_category", choices=_labels(ChargeCategory)),
        Dimension("charge_class", "Charge class", "charge_class", choices=_labels(ChargeClass), none_label="Regular"),
        Dimension(
            "commitment_discount_status",
            "Commitment discount status",
            "commitment_discount_status",
            choices=_labels(CommitmentStatus),
            none_label="(no commitment discount)",
        ),
        Dimension("allocation", "Allocation", "allocation", choices=_labels(Allocation)),
        Dimension("namespace", "Namespace", "namespace", none_label="(no namespace)"),
    ]
}

# Where a drill-down goes next: clicking a team's row breaks that team's cost down by service, and so on.
NEXT_DIMENSION = {
    "team": "service",
    "service": "environment",
    "environment": "service_name",
    "region": "service_name",
    "provider": "region",
    "account": "team",
    "billing_account": "account",
    "pricing_category": "service_name",
    "service_name": "region",
    "charge_category": "service_name",
    "charge_class": "billing_account",
    "commitment_discount_status": "service_name",
    "allocation": "service_name",
    "namespace": "service_name",
}


@dataclass(frozen=True)
class CostQuery:
    """What a report reads: the days ``start`` to ``end`` (both included), broken down ``by`` a dimension."""

    start: date
    end: date
    by: str = "team"
    grouping: str = Grouping.DAY
    basis: str = CostBasis.EFFECTIVE
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    period: str = CostPeriod.CHARGE

    @property
    def by_billing_period(self) -> bool:
        return self.period == CostPeriod.BILLING

    @property
    def date_field(self) -> str:
        """The rollup column the range applies to: the day incurred, or the invoice's billing month."""
        return "billing_period_start" if self.by_billing_period else "day"

    @property
    def range_start(self) -> date:
        """The first day read: read by billing period, the first day of the billing month holding ``start``."""
        return self.start.replace(day=1) if self.by_billing_period else self.start

    @property
    def basis_label(self) -> str:
        return str(CostBasis(self.basis).label) if self.basis in CostBasis.values else self.basis

    @property
    def series_grouping(self) -> str:
        """Invoices are monthly: read by billing period, the series is one point per billing month."""
        return Grouping.MONTH if self.by_billing_period else self.grouping

    @property
    def dimension(self) -> Dimension:
        return DIMENSIONS[self.by]

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def column(self) -> str:
        return cost_column(self.basis)

    def filter_values(self, name: str) -> tuple[str, ...]:
        return dict(self.filters).get(name, ())

    def drilled(self, name: str, value: str) -> CostQuery:
        """This query narrowed to one value of a dimension, broken down by the next one not yet filtered."""
        filters = {**dict(self.filters), name: (value,)}
        by = NEXT_DIMENSION.get(name, "service_name")
        for _ in DIMENSIONS:
            if by not in filters:
                break
            by = NEXT_DIMENSION.get(by, "service_name")
        else:  # pragma: no cover (there are more dimensions than a query can filter at once in practice)
            by = name
        return replace(self, by=by, filters=tuple(sorted(filters.items())))

    def without_filter(self, name: str) -> CostQuery:
        return replace(self, filters=tuple(item for item in self.filters if item[0] != name))

    def params(self, **overrides: str) -> dict[str, Any]:
        """The query as URL parameters (repeated parameters for several values of a filter)."""
        params: dict[str, Any] = {
            "by": self.by,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "grouping": self.grouping,
            "basis": self.basis,
            "period": self.period,
        }
        for name, values in self.filters:
            params[name] = list(values)
        params.update(overrides)
        return params

    def querystring(self, **overrides: str) -> str:
        return urlencode(self.params(**overrides), doseq=True)


def visible_rollups(user: User, action: str = policy.VIEW) -> QuerySet[CostRollup]:
    """The rollups ``user`` may ``action`` (view, export): all for a manager, a team's for its developers."""
    return policy.restrict(CostRollup.objects.all(), user, action)


def _filtered(rollups: QuerySet[CostRollup], query: CostQuery) -> QuerySet[CostRollup]:
    for name, values in query.filters:
        dimension = DIMENSIONS[name]
        condition = Q()
        for value in values:
            condition |= dimension.value_condition(value)
        rollups = rollups.filter(condition)
    return rollups


def _in_range(rollups: QuerySet[CostRollup], query: CostQuery) -> QuerySet[CostRollup]:
    field = query.date_field
    return _filtered(rollups, query).filter(**{f"{field}__gte": query.range_start, f"{field}__lte": query.end})


# --- answers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrencyTotal:
    """A currency's total over the range, and how much of it no team owns (unallocated or cluster idle)."""

    currency: str
    amount: Decimal
    unallocated: Decimal
    line_items: int

    @property
    def unallocated_share(self) -> Decimal | None:
        """The unowned part as a percentage of the total (None when the total is zero)."""
        if not self.amount:
            return None
        return (self.unallocated / self.amount * 100).quantize(Decimal("0.1"))


@dataclass
class Row:
    """One value of the dimension: its amount per currency (never added across currencies)."""

    key: str
    label: str
    amounts: dict[str, Decimal] = field(default_factory=dict)
    line_items: int = 0


@dataclass(frozen=True)
class SeriesPoint:
    period: date
    key: str
    label: str
    currency: str
    amount: Decimal


@dataclass(frozen=True)
class Mover:
    """A value whose spend changed most between the previous period and this one (same length)."""

    key: str
    label: str
    currency: str
    current: Decimal
    previous: Decimal

    @property
    def change(self) -> Decimal:
        return self.current - self.previous

    @property
    def change_percent(self) -> Decimal | None:
        if not self.previous:
            return None
        return (self.change / abs(self.previous) * 100).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class Breakdown:
    query: CostQuery
    totals: list[CurrencyTotal]
    rows: list[Row]
    series: list[SeriesPoint]
    periods: list[date]

    @property
    def currencies(self) -> list[str]:
        return [total.currency for total in self.totals]

    def chart(self, currency: str) -> Chart:
        """One currency's series: a stacked series per largest value, the rest as "Other", with its table."""
        ranked = sorted(
            (row for row in self.rows if currency in row.amounts), key=lambda row: -abs(row.amounts[currency])
        )
        shown = {row.key: index for index, row in enumerate(ranked[:CHART_SERIES])}
        names = [row.label for row in ranked[:CHART_SERIES]]
        index = {period: position for position, period in enumerate(self.periods)}
        cells = [[ZERO] * (len(names) + 1) for _ in self.periods]  # the last column: "Other"
        totals = [ZERO] * len(self.periods)
        for point in self.series:
            if point.currency != currency:
                continue
            position = index[point.period]
            cells[position][shown.get(point.key, len(names))] += point.amount
            totals[position] += point.amount
        if any(row[-1] for row in cells):
            names.append("Other")
        else:
            cells = [row[:-1] for row in cells]
        return Chart(currency, names, list(zip(self.periods, cells, totals, strict=True)))


@dataclass(frozen=True)
class Chart:
    """A time series of one currency as a chart draws it and as its table shows it (same numbers)."""

    currency: str
    series: list[str]
    rows: list[tuple[date, list[Decimal], Decimal]]  # period, amount per series, period total

    def data(self) -> dict[str, Any]:
        """Chart.js data (floats are for drawing only; the table shows the decimals)."""
        return {
            "labels": [period.isoformat() for period, _, _ in self.rows],
            "datasets": [
                {"label": name, "data": [float(cells[position]) for _, cells, _ in self.rows]}
                for position, name in enumerate(self.series)
            ],
        }


def periods_of(start: date, end: date, grouping: str) -> list[date]:
    """The first day of each period from ``start`` to ``end`` (included), as PostgreSQL truncates them."""
    if grouping == Grouping.MONTH:
        first = start.replace(day=1)
        result = []
        while first <= end:
            result.append(first)
            first = month_bounds(first)[1]
        return result
    if grouping == Grouping.WEEK:
        first = start - timedelta(days=start.weekday())
        return [first + timedelta(weeks=n) for n in range((end - first).days // 7 + 1)]
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _period_expression(grouping: str) -> Any:
    if grouping == Grouping.MONTH:
        return TruncMonth("day")
    if grouping == Grouping.WEEK:
        return TruncWeek("day")
    return None


def query_periods(query: CostQuery) -> list[date]:
    """The periods of ``query``'s series: its days, weeks or months, or its billing months."""
    return periods_of(query.range_start, query.end, query.series_grouping)


def totals(rollups: QuerySet[CostRollup], query: CostQuery) -> list[CurrencyTotal]:
    """Per currency: the total over the range and its unowned part (one query)."""
    column = query.column
    rows = (
        _in_range(rollups, query)
        .values("currency")
        .annotate(
            amount=Sum(column),
            unallocated=Sum(column, filter=Q(allocation__in=UNOWNED), default=ZERO),
            items=Sum("line_items"),
        )
        .order_by("currency")
    )
    return [CurrencyTotal(row["currency"], row["amount"], row["unallocated"], row["items"] or 0) for row in rows]


def breakdown_rows(rollups: QuerySet[CostRollup], query: CostQuery) -> list[Row]:
    """The range's cost per value of the dimension and currency, largest first (one query)."""
    dimension = query.dimension
    result: dict[str, Row] = {}
    found = (
        _in_range(rollups, query)
        .values(*dimension.columns(), "currency")
        .annotate(amount=Sum(query.column), items=Sum("line_items"))
        .order_by()
    )
    for entry in found:
        key = dimension.key_of(entry)
        row = result.setdefault(key, Row(key, dimension.label_of(entry)))
        row.amounts[entry["currency"]] = row.amounts.get(entry["currency"], ZERO) + entry["amount"]
        row.line_items += entry["items"] or 0
    currencies = sorted({currency for row in result.values() for currency in row.amounts})
    return sorted(
        result.values(), key=lambda row: ([-row.amounts.get(currency, ZERO) for currency in currencies], row.label)
    )


def series(rollups: QuerySet[CostRollup], query: CostQuery) -> list[SeriesPoint]:
    """The cost per period (day, week or month), value of the dimension and currency (one query)."""
    dimension = query.dimension
    scoped = _in_range(rollups, query)
    if query.by_billing_period:
        period = None
        period_column = "billing_period_start"  # already the first day of its month
    else:
        period = _period_expression(query.grouping)
        if period is not None:
            scoped = scoped.annotate(period=period)
        period_column = "period" if period is not None else "day"
    found = (
        scoped.values(period_column, *dimension.columns(), "currency")
        .annotate(amount=Sum(query.column))
        .order_by(period_column, "currency", dimension.key)
    )
    return [
        SeriesPoint(
            entry[period_column], dimension.key_of(entry), dimension.label_of(entry), entry["currency"], entry["amount"]
        )
        for entry in found
    ]


def movers(rollups: QuerySet[CostRollup], query: CostQuery, limit: int = 10) -> list[Mover]:
    """The values whose spend changed most against the previous period of the same length (one query).

    Read by billing period, the previous period is the same number of billing months before.
    """
    dimension = query.dimension
    field = query.date_field
    start = query.range_start
    if query.by_billing_period:
        months = len(periods_of(start, query.end, Grouping.MONTH))
        previous_start = _months_before(start, months)
    else:
        previous_start = start - timedelta(days=query.days)
    column = query.column
    found = (
        _filtered(rollups, query)
        .filter(**{f"{field}__gte": previous_start, f"{field}__lte": query.end})
        .values(*dimension.columns(), "currency")
        .annotate(
            current=Sum(column, filter=Q(**{f"{field}__gte": start}), default=ZERO),
            previous=Sum(column, filter=Q(**{f"{field}__lt": start}), default=ZERO),
        )
        .order_by()
    )
    changes = [
        Mover(
            dimension.key_of(entry), dimension.label_of(entry), entry["currency"], entry["current"], entry["previous"]
        )
        for entry in found
    ]
    changes = [mover for mover in changes if mover.change]
    return sorted(changes, key=lambda mover: (-abs(mover.change), mover.label))[:limit]


def _months_before(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def breakdown(user: User, query: CostQuery, *, action: str = policy.VIEW) -> Breakdown:
    """Everything the breakdown page shows (three queries, plus the one that reads the user's grants)."""
    return _breakdown(visible_rollups(user, action), query)


def _breakdown(rollups: QuerySet[CostRollup], query: CostQuery) -> Breakdown:
    return Breakdown(
        query=query,
        totals=totals(rollups, query),
        rows=breakdown_rows(rollups, query),
        series=series(rollups, query),
        periods=query_periods(query),
    )


def breakdown_page(user: User, query: CostQuery) -> tuple[Breakdown, list[Mover]]:
    """The breakdown and its movers as the page and the API show them, kept in the cache per scope until the
    rollups change (:mod:`costs.report_cache`): on a miss the grants, the generation and four queries; then
    the grants and the generation."""
    rollups = visible_rollups(user)
    return report_cache.cached(
        "breakdown", rollups, (PAGE_SHAPE, query), lambda: (_breakdown(rollups, query), movers(rollups, query))
    )


# --- the overview --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthSpend:
    """A currency's spend this month so far, last month to the same day and in full, and this month's forecast."""

    currency: str
    this_month: Decimal
    last_month_to_date: Decimal
    last_month: Decimal
    forecast: Forecast

    @property
    def change_percent(self) -> Decimal | None:
        if not self.last_month_to_date:
            return None
        return ((self.this_month - self.last_month_to_date) / abs(self.last_month_to_date) * 100).quantize(
            Decimal("0.1")
        )


@dataclass(frozen=True)
class Overview:
    today: date
    months: list[MonthSpend]
    trend: Breakdown
    movers: list[Mover]
    movers_query: CostQuery
    unallocated: list[CurrencyTotal]
    unallocated_query: CostQuery


TREND_DAYS = 90
MOVER_DAYS = 30


def daily_by_currency(
    rollups: QuerySet[CostRollup], start: date, end: date, basis: str
) -> dict[str, dict[date, Decimal]]:
    """Spend per currency and day from ``start`` to ``end`` (exclusive), in one query."""
    result: dict[str, dict[date, Decimal]] = defaultdict(dict)
    found = (
        rollups.filter(day__gte=start, day__lt=end)
        .values("currency", "day")
        .annotate(amount=Sum(cost_column(basis)))
        .order_by()
    )
    for entry in found:
        result[entry["currency"]][entry["day"]] = entry["amount"]
    return dict(result)


def month_spend(rollups: QuerySet[CostRollup], today: date, basis: str) -> list[MonthSpend]:
    """This month against last month, per currency, and the forecast to month end (one query)."""
    this_start, this_end = month_bounds(today)
    last_start, _ = month_bounds(this_start - timedelta(days=1))
    # The same days of last month, so far: to the same day of the month (or the end of a shorter month).
    same_day_last_month = min(today.day, (this_start - last_start).days)
    last_to_date_end = last_start + timedelta(days=same_day_last_month)
    column = cost_column(basis)
    found = (
        rollups.filter(day__gte=last_start, day__lte=today)  # so far: nothing dated after today
        .values("currency", "day")
        .annotate(amount=Sum(column))
        .order_by()
    )
    daily: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for entry in found:
        daily[entry["currency"]][entry["day"]] = entry["amount"]
    months = []
    for currency, days in sorted(daily.items()):
        months.append(
            MonthSpend(
                currency=currency,
                this_month=sum((amount for day, amount in days.items() if day >= this_start), ZERO),
                last_month_to_date=sum(
                    (amount for day, amount in days.items() if last_start <= day < last_to_date_end), ZERO
                ),
                last_month=sum((amount for day, amount in days.items() if day < this_start), ZERO),
                forecast=forecast_period(days, this_start, this_end, today),
            )
        )
    return months


# What the cached pages keep is made of these: a change to any of them starts new cache entries.
PAGE_SHAPE = report_cache.shape_of(
    Breakdown, CostQuery, CurrencyTotal, Row, SeriesPoint, Mover, MonthSpend, Overview, Forecast
)


def overview(user: User, today: date, basis: str = CostBasis.EFFECTIVE) -> Overview:
    """The overview page: month against month, forecast, a 90-day trend by provider, movers, unallocated."""
    return _overview(visible_rollups(user), today, basis)


def overview_page(user: User, today: date, basis: str = CostBasis.EFFECTIVE) -> Overview:
    """The overview as the page shows it, kept in the cache per scope until the rollups change."""
    rollups = visible_rollups(user)
    return report_cache.cached(
        "overview", rollups, (PAGE_SHAPE, today, basis), lambda: _overview(rollups, today, basis)
    )


def _overview(rollups: QuerySet[CostRollup], today: date, basis: str) -> Overview:
    trend_query = CostQuery(start=today - timedelta(days=TREND_DAYS - 1), end=today, by="provider", basis=basis)
    movers_query = CostQuery(start=today - timedelta(days=MOVER_DAYS - 1), end=today, by="team", basis=basis)
    month_start, _ = month_bounds(today)
    unallocated_query = CostQuery(
        start=month_start,
        end=today,
        by="service_name",
        basis=basis,
        filters=(("allocation", tuple(UNOWNED)),),
    )
    return Overview(
        today=today,
        months=month_spend(rollups, today, basis),
        trend=Breakdown(
            query=trend_query,
            totals=[],
            rows=breakdown_rows(rollups, trend_query),
            series=series(rollups, trend_query),
            periods=periods_of(trend_query.start, trend_query.end, Grouping.DAY),
        ),
        movers=movers(rollups, movers_query),
        movers_query=movers_query,
        unallocated=totals(rollups, replace(unallocated_query, filters=())),
        unallocated_query=unallocated_query,
    )


# --- an environment's cost ------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvironmentCost:
    """An environment's cost to date and its forecast to its expiry (or the month's end), per currency."""

    currency: str
    to_date: Decimal
    forecast: Forecast | None


def environment_cost(
    user: User, *, environment_id: int, created: date, horizon: date | None, today: date, basis: str
) -> list[EnvironmentCost]:
    """Cost of one environment the user may see (one query). ``horizon`` is the exclusive end of the forecast,
    None for an environment that is gone (nothing more will be spent)."""
    rollups = visible_rollups(user).filter(environment_id=environment_id)
    found = (
        rollups.values("currency", "day")
        .annotate(amount=Sum(cost_column(basis)), items=Count("id"))
        .order_by("currency", "day")
    )
    daily: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for entry in found:
        daily[entry["currency"]][entry["day"]] = entry["amount"]
    result = []
    for currency, days in sorted(daily.items()):
        start = min(created, min(days))
        forecast = forecast_period(days, start, horizon, today) if horizon is not None and horizon > today else None
        to_date = sum((amount for day, amount in days.items() if day <= today), ZERO)  # nothing after today
        result.append(EnvironmentCost(currency, to_date, forecast))
    return result
