"""The budget API: scoped reads, writes with costs.change through the audited service, structured refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from time_machine import TimeMachineFixture

from access.models import AuditEvent, Team, User
from access.permissions import BuiltinRole
from costs.budgets import services as budgets
from costs.models import Budget
from providers import outbound
from tests.costs.budget_helpers import Ledger, api, days, make_team, person
from tests.helpers import queries_for
from tests.outbound_servers import StubResolver

pytestmark = pytest.mark.django_db


@pytest.fixture
def team() -> Team:
    return make_team("checkout")


@pytest.fixture
def manager() -> User:
    return person("marco", role=BuiltinRole.MANAGER)


def test_a_manager_sets_a_budget_and_it_is_audited(team: Team, manager: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbound, "system_resolver", StubResolver({"chat.example": [["93.184.215.14"]]}))
    response = api(manager).post(
        "/api/budgets/",
        {
            "name": "Checkout",
            "team": "checkout",
            "amount": "1200.00",
            "currency": "eur",
            "period": "quarterly",
            "actual_thresholds": [80, 50],
            "chat_webhook_url": "https://chat.example/hooks/secret",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["currency"], body["actual_thresholds"], body["forecast_thresholds"]) == ("EUR", [50, 80], [100])
    assert body["has_chat_webhook"] is True
    assert "chat_webhook_url" not in body
    assert AuditEvent.objects.filter(verb="costs.budget_created", object_id=str(body["id"])).count() == 1


def test_developers_read_their_teams_budgets_and_may_not_write(team: Team, manager: User) -> None:
    mine = budgets.budget_create(actor=manager, name="Checkout", team=team, amount=Decimal(100))
    budgets.budget_create(actor=manager, name="Search", team=make_team("search"), amount=Decimal(100))
    developer = person("dev", team=team)

    listed = api(developer).get("/api/budgets/").json()
    refused = api(developer).post("/api/budgets/", {"name": "x", "team": "checkout", "amount": "5"}, format="json")
    patched = api(developer).patch(f"/api/budgets/{mine.pk}/", {"amount": "1"}, format="json")

    assert [budget["name"] for budget in listed["results"]] == ["Checkout"]
    assert refused.status_code == 403
    assert patched.status_code == 403
    assert patched.json()["error"]["code"] == "permission_denied"
    assert Budget.objects.get(pk=mine.pk).amount == Decimal(100)


def test_a_refusal_names_the_field(team: Team, manager: User) -> None:
    response = api(manager).post(
        "/api/budgets/",
        {"name": "Bad", "team": "checkout", "amount": "5", "forecast_thresholds": [5000]},
        format="json",
    )

    assert response.status_code == 400
    assert "forecast_thresholds" in response.json()["error"]["fields"]


def test_the_status_says_what_is_spent_forecast_and_not_counted(
    team: Team, manager: User, time_machine: TimeMachineFixture
) -> None:
    time_machine.move_to(datetime(2026, 11, 11, 9, tzinfo=UTC), tick=False)
    budget = budgets.budget_create(actor=manager, name="Checkout", team=team, amount=Decimal(1000), currency="EUR")
    ledger = Ledger().spend(days(date(2026, 11, 1), date(2026, 11, 10)), "20", team=team, currency="EUR")
    ledger.spend([date(2026, 11, 2)], "7", team=team)
    budgets.budgets_evaluate()

    status = api(manager).get(f"/api/budgets/{budget.pk}/status/").json()

    assert (status["actual"], status["percent_actual"], status["days_left"]) == ("200.0000000000", "20.0", 20)
    assert Decimal(status["forecast"]) == Decimal(600)
    assert status["not_counted"] == {"USD": "7.0000000000"}
    assert status["alerts"] == []


def test_the_list_carries_each_budgets_current_period_in_the_same_queries_however_many(
    team: Team, manager: User, time_machine: TimeMachineFixture
) -> None:
    time_machine.move_to(datetime(2026, 11, 11, 9, tzinfo=UTC), tick=False)
    budget = budgets.budget_create(
        actor=manager, name="Checkout", team=team, amount=Decimal(100), currency="EUR", actual_thresholds=[50]
    )
    Ledger().spend(days(date(2026, 11, 1), date(2026, 11, 10)), "20", team=team, currency="EUR")
    budgets.budgets_evaluate()
    client = api(manager)
    one = queries_for(client, "/api/budgets/")

    current = next(item for item in client.get("/api/budgets/").json()["results"] if item["id"] == budget.pk)["current"]

    assert (current["period_start"], current["period_end"]) == ("2026-11-01", "2026-12-01")
    assert (Decimal(current["actual"]), current["percent_actual"]) == (Decimal(200), "200.0")
    assert current["alerts"] == budget.alerts.count() >= 1
    assert client.get(f"/api/budgets/{budget.pk}/").json()["current"] == current
    for name in ("Checkout two", "Checkout three"):
        budgets.budget_create(actor=manager, name=name, team=team, amount=Decimal(500), currency="EUR")
    assert queries_for(client, "/api/budgets/") == one
