"""Budgets: burn in their own currency, thresholds on actual and forecast spend, each crossing alerted once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import Client
from time_machine import TimeMachineFixture

from access.models import Team, User
from access.permissions import BuiltinRole
from costs.budgets import services as budgets
from costs.budgets.models import AlertKind, Budget, BudgetAlert, BudgetPeriod
from notifications.models import Notification
from tests.costs.budget_helpers import Ledger, days, make_team, person

pytestmark = pytest.mark.django_db

Clock = Callable[[date], None]


@pytest.fixture
def clock(time_machine: TimeMachineFixture) -> Clock:
    def move_to(day: date) -> None:
        time_machine.move_to(datetime(day.year, day.month, day.day, 9, tzinfo=UTC), tick=False)

    return move_to


@pytest.fixture
def client_for_user() -> Callable[[User], Client]:
    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def team() -> Team:
    return make_team("checkout")


@pytest.fixture
def manager() -> User:
    return person("marco", role=BuiltinRole.MANAGER)


@pytest.fixture
def lead(team: Team) -> User:
    return person("lena", team=team, role=BuiltinRole.TEAM_LEAD, lead=True)


def a_budget(manager: User, team: Team, **fields: object) -> Budget:
    values: dict[str, object] = {"name": "Checkout monthly", "team": team, "amount": Decimal(1000)}
    return budgets.budget_create(actor=manager, **{**values, **fields})  # type: ignore[arg-type]


def crossings(budget: Budget) -> list[tuple[date, str, int]]:
    return list(
        BudgetAlert.objects.filter(budget=budget)
        .order_by("period_start", "kind", "threshold")
        .values_list("period_start", "kind", "threshold")
    )


def told(user: User) -> list[str]:
    return list(Notification.objects.filter(recipient=user).order_by("pk").values_list("title", flat=True))


def test_each_threshold_crossing_is_alerted_once_and_the_next_when_it_is_crossed(
    clock: Clock, team: Team, manager: User, lead: User
) -> None:
    budget = a_budget(manager, team, forecast_thresholds=[])
    ledger = Ledger().spend(days(date(2026, 11, 1), date(2026, 11, 10)), "55", team=team)  # 550: 55 %

    clock(date(2026, 11, 11))
    first = budgets.budgets_evaluate()
    again = budgets.budgets_evaluate()

    assert [(alert.kind, alert.threshold) for alert in first] == [(AlertKind.ACTUAL, 50)]
    assert again == []
    assert crossings(budget) == [(date(2026, 11, 1), AlertKind.ACTUAL, 50)]
    assert told(lead) == ["Budget Checkout monthly: 50% spent (November 2026)"]
    assert told(manager) == told(lead)  # the creator

    ledger.spend(days(date(2026, 11, 11), date(2026, 11, 15)), "55", team=team)  # 825: 82.5 %
    clock(date(2026, 11, 16))
    budgets.budgets_evaluate()
    budgets.budgets_evaluate()

    assert crossings(budget) == [(date(2026, 11, 1), AlertKind.ACTUAL, 50), (date(2026, 11, 1), AlertKind.ACTUAL, 80)]
    assert len(told(lead)) == 2
    assert "825.00 of 1,000.00 USD" in Notification.objects.filter(recipient=lead).first().body  # type: ignore[union-attr]


def test_a_new_period_alerts_again(clock: Clock, team: Team, manager: User, lead: User) -> None:
    budget = a_budget(manager, team, forecast_thresholds=[], actual_thresholds=[50])
    ledger = Ledger().spend(days(date(2026, 11, 1), date(2026, 11, 20)), "30", team=team)  # 600
    clock(date(2026, 11, 21))
    budgets.budgets_evaluate()

    ledger.spend(days(date(2026, 12, 1), date(2026, 12, 20)), "30", team=team)
    clock(date(2026, 12, 21))
    budgets.budgets_evaluate()
    budgets.budgets_evaluate()

    assert crossings(budget) == [
        (date(2026, 11, 1), AlertKind.ACTUAL, 50),
        (date(2026, 12, 1), AlertKind.ACTUAL, 50),
    ]
    assert len(told(lead)) == 2


def test_a_crossing_on_the_periods_last_day_is_still_alerted_in_the_next_periods_first_days(
    clock: Clock, team: Team, manager: User
) -> None:
    budget = a_budget(manager, team, forecast_thresholds=[], actual_thresholds=[100])
    ledger = Ledger().spend(days(date(2026, 11, 1), date(2026, 11, 29)), "30", team=team)  # 870
    clock(date(2026, 11, 30))
    assert budgets.budgets_evaluate() == []

    ledger.spend([date(2026, 11, 30)], "200", team=team)  # 1070, arriving on 2 December
    clock(date(2026, 12, 2))
    budgets.budgets_evaluate()

    assert crossings(budget) == [(date(2026, 11, 1), AlertKind.ACTUAL, 100)]


def test_the_forecast_threshold_fires_before_actual_spend_gets_there(clock: Clock, team: Team, manager: User) -> None:
    budget = a_budget(manager, team, actual_thresholds=[100], forecast_thresholds=[100])
    Ledger().spend(days(date(2026, 11, 1), date(2026, 11, 7)), "40", team=team)  # 280, 40 a day

    clock(date(2026, 11, 8))
    status = budgets.budget_status(budget)
    budgets.budgets_evaluate()
    budgets.budgets_evaluate()

    assert status.actual == Decimal(280)
    assert status.expected == Decimal(280 + 23 * 40)  # 23 days left, today's included
    assert crossings(budget) == [(date(2026, 11, 1), AlertKind.FORECAST, 100)]
    assert "will reach 1,200.00 USD" in Notification.objects.get(recipient=manager).body


def test_a_quarterly_budget_counts_every_month_of_its_quarter(clock: Clock, team: Team, manager: User) -> None:
    quarterly = a_budget(
        manager, team, name="Checkout Q4", period=BudgetPeriod.QUARTERLY, amount=Decimal(3000), forecast_thresholds=[]
    )
    monthly = a_budget(manager, team, name="Checkout November", amount=Decimal(3000), forecast_thresholds=[])
    ledger = Ledger().spend(days(date(2026, 9, 25), date(2026, 9, 30)), "500", team=team)  # the quarter before
    ledger.spend(days(date(2026, 10, 1), date(2026, 10, 31)), "50", team=team)  # 1550
    ledger.spend(days(date(2026, 11, 1), date(2026, 11, 10)), "50", team=team)  # 500

    clock(date(2026, 11, 11))
    status = budgets.budget_status(quarterly)
    budgets.budgets_evaluate()

    assert (status.start, status.end) == (date(2026, 10, 1), date(2027, 1, 1))
    assert status.actual == Decimal(2050)
    assert crossings(quarterly) == [(date(2026, 10, 1), AlertKind.ACTUAL, 50)]
    assert crossings(monthly) == []
    assert "Q4 2026" in Notification.objects.get(recipient=manager).title


def test_a_budget_in_euros_ignores_spend_in_dollars_and_says_so(
    clock: Clock, team: Team, manager: User, client_for_user: Callable[[User], Client]
) -> None:
    budget = a_budget(manager, team, name="Checkout EUR", amount=Decimal(100), currency="EUR", forecast_thresholds=[])
    ledger = Ledger().spend(days(date(2026, 11, 1), date(2026, 11, 5)), "100", team=team)  # 500 USD
    ledger.spend(days(date(2026, 11, 1), date(2026, 11, 5)), "6", team=team, currency="EUR")  # 30 EUR

    clock(date(2026, 11, 6))
    status = budgets.budget_status(budget)
    budgets.budgets_evaluate()
    page = client_for_user(manager).get(f"/costs/budgets/{budget.pk}/")

    assert status.actual == Decimal(30)
    assert status.other_currencies == {"USD": Decimal(500)}
    assert crossings(budget) == []  # 30 of 100 EUR; the 500 USD would have been 500 %
    text = page.content.decode()
    assert "counts only cost billed in EUR" in text
    assert "500.00 USD" in text


def test_an_environment_or_service_budget_counts_only_its_own_cost(clock: Clock, team: Team, manager: User) -> None:
    from tests.factories import make_service

    checkout = make_service(slug="checkout-api", team=team)
    budget = a_budget(manager, None, name="Checkout API", service=checkout, amount=Decimal(100))  # type: ignore[arg-type]
    Ledger().spend([date(2026, 11, 2)], "70", team=team, service="checkout-api").spend(
        [date(2026, 11, 2)], "900", team=team
    )

    clock(date(2026, 11, 3))

    assert budget.team == team  # the service's owner
    assert budgets.budget_status(budget).actual == Decimal(70)


def test_only_people_who_may_see_the_budget_are_told(clock: Clock, team: Team, manager: User, lead: User) -> None:
    outsider = person("olga", team=make_team("search"))
    budget = a_budget(manager, team, notify=[outsider, lead], actual_thresholds=[10], forecast_thresholds=[])
    Ledger().spend([date(2026, 11, 1)], "500", team=team)

    clock(date(2026, 11, 2))
    budgets.budgets_evaluate()

    assert budgets.budget_recipients(budget) == [manager, lead]
    assert told(outsider) == []


def test_a_developer_of_another_team_can_neither_see_nor_change_a_budget(team: Team, manager: User) -> None:
    budget = a_budget(manager, team)
    own = person("dev", team=team)
    other = person("otto", team=make_team("search"))

    assert list(budgets.budget_list(user=own)) == [budget]
    assert list(budgets.budget_list(user=other)) == []
    with pytest.raises(Http404):
        budgets.budget_update(actor=other, budget_id=budget.pk, amount=Decimal(1))
    with pytest.raises(Http404):
        budgets.budget_update(actor=own, budget_id=budget.pk, amount=Decimal(1))  # sees it, may not change it
    with pytest.raises(PermissionDenied):
        budgets.budget_create(actor=own, name="Mine", team=team, amount=Decimal(5))
    assert Budget.objects.get().amount == Decimal(1000)


def test_thresholds_and_owner_are_checked(team: Team, manager: User) -> None:
    from tests.factories import make_service

    with pytest.raises(ValidationError) as refused:
        a_budget(manager, team, actual_thresholds=[0, 80])
    assert "actual_thresholds" in refused.value.message_dict
    elsewhere = make_service(slug="search-api", team=make_team("search"))
    with pytest.raises(ValidationError) as refused:
        a_budget(manager, team, service=elsewhere)
    assert "belongs to Search" in str(refused.value.message_dict["service"])
    assert a_budget(manager, team, actual_thresholds=[100, 50, 50]).actual_thresholds == [50, 100]
