"""Cost reports: breakdowns add up to the line items to the cent, per currency, in a fixed number of queries,
scoped by the policy (a developer sees only their team's figures)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from pytest_django import DjangoAssertNumQueries

from access.models import Team, User
from costs import reports
from costs.choices import CostBasis
from costs.models import CostLineItem
from portal.demo import Persona
from tests.costs.cost_world import PLATFORM, STUDENTS, load_rows, november_bill, recent_bill, row

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

NOVEMBER = reports.CostQuery(start=date(2026, 11, 1), end=date(2026, 11, 30))

# Each dimension and the line-item column it must add up to.
LINE_ITEM_COLUMN = {
    "team": "team__slug",
    "environment": "environment_id",
    "service": "service__slug",
    "region": "region_code",
    "provider": "provider",
    "account": "sub_account_id",
    "billing_account": "billing_account_id",
    "pricing_category": "pricing_category",
    "service_name": "service_name",
    "charge_category": "charge_category",
}


def fresh(user: User) -> User:
    """The same person without the grants cached on the object, as a new request sees them."""
    return User.objects.get(pk=user.pk)


def line_item_sums(column: str, basis_column: str = "effective_cost") -> dict[tuple[str, str], Decimal]:
    found = CostLineItem.objects.values(column, "currency").annotate(total=Sum(basis_column)).order_by()
    return {
        (reports.NONE if entry[column] in (None, "") else str(entry[column]), entry["currency"]): entry["total"]
        for entry in found
    }


def as_sums(rows: list[reports.Row]) -> dict[tuple[str, str], Decimal]:
    return {(row.key, currency): amount for row in rows for currency, amount in row.amounts.items()}


@pytest.mark.parametrize("dimension", sorted(LINE_ITEM_COLUMN))
@pytest.mark.parametrize("basis", [CostBasis.EFFECTIVE, CostBasis.BILLED])
def test_a_breakdown_equals_the_sum_of_line_items_per_value_and_currency_to_the_cent(
    dimension: str, basis: str, persona: Callable[[Persona], User]
) -> None:
    load_rows(november_bill())
    query = reports.CostQuery(start=NOVEMBER.start, end=NOVEMBER.end, by=dimension, basis=basis)

    result = reports.breakdown(persona(Persona.MANAGER), query)

    expected = line_item_sums(LINE_ITEM_COLUMN[dimension], "billed_cost" if basis == "billed" else "effective_cost")
    assert as_sums(result.rows) == expected
    assert {total.currency: total.amount for total in result.totals} == {
        "USD": Decimal("206.353"),
        "EUR": Decimal("19.75"),
    }


def test_currencies_are_never_added_together(persona: Callable[[Persona], User]) -> None:
    load_rows(november_bill())

    result = reports.breakdown(persona(Persona.MANAGER), reports.CostQuery(NOVEMBER.start, NOVEMBER.end))

    platform = next(row for row in result.rows if row.key == PLATFORM)
    assert platform.amounts == {"USD": Decimal("50.333"), "EUR": Decimal("17.25")}
    assert result.currencies == ["EUR", "USD"]


def test_a_drill_down_filters_by_the_row_and_breaks_down_by_the_next_dimension(
    persona: Callable[[Persona], User],
) -> None:
    load_rows(november_bill())
    manager = persona(Persona.MANAGER)

    drilled = NOVEMBER.drilled("team", STUDENTS)
    result = reports.breakdown(manager, drilled)

    assert drilled.by == "service"
    assert drilled.filters == (("team", (STUDENTS,)),)
    assert sum((total.amount for total in result.totals), Decimal(0)) == Decimal("148.25")
    by_cloud_service = reports.breakdown(manager, drilled.drilled("service", reports.NONE))
    assert by_cloud_service.query.by == "environment"


def test_the_none_filter_finds_what_no_team_owns(persona: Callable[[Persona], User]) -> None:
    load_rows(november_bill())
    query = reports.CostQuery(NOVEMBER.start, NOVEMBER.end, by="service_name", filters=(("team", (reports.NONE,)),))

    result = reports.breakdown(persona(Persona.MANAGER), query)

    assert as_sums(result.rows) == {
        ("Amazon Elastic Compute Cloud", "USD"): Decimal("7.77"),
        ("Storage", "EUR"): Decimal("2.5"),
    }
    assert [(total.currency, total.unallocated) for total in result.totals] == [
        ("EUR", Decimal("2.5")),
        ("USD", Decimal("7.77")),
    ]


def test_a_series_groups_by_week_and_month_and_still_adds_up(persona: Callable[[Persona], User]) -> None:
    load_rows(november_bill())
    manager = persona(Persona.MANAGER)

    for grouping in (reports.Grouping.DAY, reports.Grouping.WEEK, reports.Grouping.MONTH):
        query = reports.CostQuery(NOVEMBER.start, NOVEMBER.end, grouping=grouping)
        result = reports.breakdown(manager, query)
        periods = {point.period for point in result.series}
        assert periods <= set(result.periods), grouping
        usd = sum((point.amount for point in result.series if point.currency == "USD"), Decimal(0))
        assert usd == Decimal("206.353"), grouping

    monthly = reports.breakdown(manager, reports.CostQuery(NOVEMBER.start, NOVEMBER.end, grouping="month"))
    assert monthly.periods == [date(2026, 11, 1)]
    weekly = reports.periods_of(date(2026, 11, 1), date(2026, 11, 30), "week")
    assert weekly[0] == date(2026, 10, 26)  # the Monday of the week 1 November falls in
    assert weekly[-1] == date(2026, 11, 30)


def test_the_chart_and_its_table_show_the_same_figures(persona: Callable[[Persona], User]) -> None:
    load_rows(november_bill())
    result = reports.breakdown(persona(Persona.MANAGER), reports.CostQuery(NOVEMBER.start, NOVEMBER.end))

    chart = result.chart("USD")

    assert sum((total for _, _, total in chart.rows), Decimal(0)) == Decimal("206.353")
    assert chart.series[0] == "Student Experience"
    data = chart.data()
    assert len(data["labels"]) == 30
    assert [dataset["label"] for dataset in data["datasets"]] == chart.series


def test_top_movers_compare_with_the_previous_period_of_the_same_length(persona: Callable[[Persona], User]) -> None:
    load_rows(
        [
            row(date(2026, 11, 1), "10.00", team=STUDENTS),
            row(date(2026, 11, 2), "30.00", team=STUDENTS),
            row(date(2026, 11, 1), "8.00", team=PLATFORM),
            row(date(2026, 11, 2), "8.00", team=PLATFORM),
            row(date(2026, 11, 2), "4.00"),
        ]
    )
    query = reports.CostQuery(date(2026, 11, 2), date(2026, 11, 2))

    movers = reports.movers(reports.visible_rollups(persona(Persona.MANAGER)), query)

    assert [(mover.key, mover.previous, mover.current, mover.change) for mover in movers] == [
        (STUDENTS, Decimal(10), Decimal(30), Decimal(20)),
        (reports.NONE, Decimal(0), Decimal(4), Decimal(4)),
    ]
    assert movers[0].change_percent == Decimal("200.0")


def test_a_developer_sees_only_their_teams_figures_and_the_manager_sees_all(
    persona: Callable[[Persona], User],
) -> None:
    load_rows(november_bill())
    by_team = reports.CostQuery(NOVEMBER.start, NOVEMBER.end)

    developer = reports.breakdown(persona(Persona.DEVELOPER), by_team)
    manager = reports.breakdown(persona(Persona.MANAGER), by_team)

    assert [row.key for row in developer.rows] == [STUDENTS]
    assert [(total.currency, total.amount, total.unallocated) for total in developer.totals] == [
        ("USD", Decimal("148.25"), Decimal(0))
    ]
    assert {row.key for row in manager.rows} == {STUDENTS, PLATFORM, reports.NONE}
    # Filtering cannot reach around the scope: another team's figures stay hidden.
    other = reports.breakdown(persona(Persona.DEVELOPER), NOVEMBER.drilled("team", PLATFORM))
    assert other.rows == []
    assert other.totals == []


def test_someone_without_costs_view_sees_nothing(persona: Callable[[Persona], User]) -> None:
    load_rows(november_bill())

    result = reports.breakdown(persona(Persona.AUDITOR), NOVEMBER)

    assert result.rows == []
    assert result.totals == []
    assert result.series == []


def test_a_breakdown_takes_the_same_few_queries_however_many_teams_and_days(
    persona: Callable[[Persona], User], django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    manager = persona(Persona.MANAGER)
    load_rows(november_bill())
    asking = fresh(manager)
    with django_assert_num_queries(4):  # the grants, totals, rows, series
        reports.breakdown(asking, NOVEMBER)

    for number in range(12):
        Team.objects.create(slug=f"team-{number}", name=f"Team {number}")
    more = [
        row(date(2026, 11, day), "1.00", team=f"team-{day % 12}", BillingAccountId="another-bill")
        for day in range(1, 31)
    ]
    load_rows(more, source_name="more")  # another bill: a bill is loaded by one source only
    asking = fresh(manager)
    with django_assert_num_queries(4):
        result = reports.breakdown(asking, NOVEMBER)
    assert len(result.rows) == 15


def test_the_overview_compares_this_month_with_the_same_days_of_last_month_and_forecasts(
    persona: Callable[[Persona], User], django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    today = date(2026, 11, 27)
    load_rows(recent_bill(today))

    manager = fresh(persona(Persona.MANAGER))
    with django_assert_num_queries(6):  # grants, month spend, trend rows, trend series, movers, unallocated
        overview = reports.overview(manager, today)

    (usd,) = overview.months
    assert usd.this_month == Decimal(18 * 27)  # 12 + 5 + 1 a day, 1-27 November
    assert usd.last_month_to_date == Decimal(16 * 27)
    assert usd.last_month == Decimal(16 * 31)
    # 26 complete days, then 4 days (27-30 November) at the last week's mean of 18 a day.
    assert usd.forecast.actual == Decimal(18 * 26)
    assert usd.forecast.forecast == Decimal(18 * 30)
    (unallocated,) = overview.unallocated
    assert unallocated.unallocated == Decimal(27)
    assert unallocated.unallocated_share == Decimal("5.6")
    assert overview.unallocated_query.filters == (("allocation", ("unallocated", "idle")),)
    assert overview.trend.periods[0] == today - timedelta(days=89)


def test_a_month_longer_than_the_last_compares_with_all_of_the_last(persona: Callable[[Persona], User]) -> None:
    today = date(2026, 3, 31)  # February has 28 days
    load_rows(recent_bill(today))

    (usd,) = reports.overview(persona(Persona.MANAGER), today).months

    assert usd.last_month_to_date == usd.last_month == Decimal(16 * 28)
