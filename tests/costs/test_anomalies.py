"""Anomalies: the last complete day against the 14 before, once per team or service and day, with the reason."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.test import Client, override_settings
from time_machine import TimeMachineFixture

from access.models import Team, User
from access.permissions import BuiltinRole
from costs.budgets import anomalies
from costs.budgets.anomalies import Baseline, baseline_of, is_anomalous
from costs.budgets.models import Anomaly, AnomalyScope
from notifications.models import Notification
from tests.costs.budget_helpers import Ledger, days, make_team, person
from tests.factories import make_service

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 20)  # the last complete day when "today" is the 21st
BEFORE = days(date(2026, 11, 6), date(2026, 11, 19))  # the 14 days before it


@pytest.fixture(autouse=True)
def today(time_machine: TimeMachineFixture) -> None:
    time_machine.move_to(datetime(2026, 11, 21, 6, tzinfo=UTC), tick=False)


@pytest.fixture
def team() -> Team:
    return make_team("checkout")


@pytest.fixture
def lead(team: Team) -> User:
    return person("lena", team=team, role=BuiltinRole.TEAM_LEAD, lead=True)


def usual_fortnight(team: Team) -> Ledger:
    """100 a day on EC2 in Ireland, alternating ±10 so the spread is not zero, and 20 a day on RDS."""
    ledger = Ledger()
    for number, day in enumerate(BEFORE):
        ledger.spend([day], "110" if number % 2 else "90", team=team, service="checkout-api")
        ledger.spend([day], "20", team=team, cloud_service="Amazon RDS")
    return ledger


def test_the_baseline_is_the_mean_and_spread_of_the_days_before() -> None:
    baseline = baseline_of([Decimal(90), Decimal(110)] * 7)

    assert baseline == Baseline(Decimal(100), Decimal(10), 14)
    assert is_anomalous(Decimal(131), baseline, sigmas=Decimal(3), min_increase=Decimal(20))
    assert not is_anomalous(Decimal(129), baseline, sigmas=Decimal(3), min_increase=Decimal(20))  # within 3 sd
    assert not is_anomalous(Decimal(131), baseline, sigmas=Decimal(3), min_increase=Decimal(50))  # too small a rise


def test_a_spike_is_recorded_once_with_the_services_and_regions_that_grew(team: Team, lead: User) -> None:
    make_service(slug="checkout-api", team=team)
    ledger = usual_fortnight(team)
    ledger.spend([DAY], "100", team=team, service="checkout-api")  # EC2 in Ireland as usual
    ledger.spend([DAY], "400", team=team, cloud_service="Amazon Elastic Compute Cloud", region="eu-central-1")
    ledger.spend([DAY], "80", team=team, cloud_service="Amazon RDS")

    found = anomalies.anomalies_detect()
    again = anomalies.anomalies_detect()

    assert [anomaly.scope for anomaly in found] == [AnomalyScope.TEAM]  # checkout-api's own day was as usual
    assert again == []
    anomaly = Anomaly.objects.get()
    assert (anomaly.team, anomaly.day, anomaly.currency, anomaly.spend) == (team, DAY, "USD", Decimal(580))
    assert anomaly.baseline_mean == Decimal(120)
    assert [(item["service_name"], item["region_code"], item["increase"]) for item in anomaly.contributors] == [
        ("Amazon Elastic Compute Cloud", "eu-central-1", "400.00"),
        ("Amazon RDS", "eu-west-1", "60.00"),
    ]
    assert "4.8\N{MULTIPLICATION SIGN} a usual day" in anomaly.reason
    assert "46.0\N{GREEK SMALL LETTER SIGMA} above the mean" in anomaly.reason
    assert "Amazon Elastic Compute Cloud in eu-central-1 (+400.00)" in anomaly.reason
    assert Notification.objects.filter(recipient=lead, kind="costs.anomaly").count() == 1


def test_a_service_anomaly_names_the_service(team: Team) -> None:
    checkout = make_service(slug="checkout-api", team=team)
    ledger = usual_fortnight(team)
    ledger.spend([DAY], "900", team=team, service="checkout-api")
    ledger.spend([DAY], "20", team=team, cloud_service="Amazon RDS")

    anomalies.anomalies_detect()

    assert set(Anomaly.objects.values_list("scope", "service")) == {
        (AnomalyScope.TEAM, None),
        (AnomalyScope.SERVICE, checkout.pk),
    }


def test_usual_days_and_small_rises_are_not_anomalies(team: Team) -> None:
    ledger = usual_fortnight(team)
    ledger.spend([DAY], "125", team=team, service="checkout-api")  # +25 over the mean of 120: 2.5 standard deviations
    ledger.spend([DAY], "20", team=team, cloud_service="Amazon RDS")

    assert anomalies.anomalies_detect() == []


@override_settings(COSTS_ANOMALY_MIN_INCREASE=Decimal(1000))
def test_a_rise_below_the_minimum_is_not_news(team: Team) -> None:
    usual_fortnight(team).spend([DAY], "900", team=team)

    assert anomalies.anomalies_detect() == []


def test_currencies_are_judged_apart(team: Team) -> None:
    ledger = usual_fortnight(team)
    ledger.spend([DAY], "120", team=team)  # dollars as usual
    ledger.spend(BEFORE, "1", team=team, currency="EUR")
    ledger.spend([DAY], "500", team=team, currency="EUR")

    anomalies.anomalies_detect()

    assert list(Anomaly.objects.values_list("currency", "spend")) == [("EUR", Decimal(500))]


def test_the_next_day_is_judged_afresh(team: Team, time_machine: TimeMachineFixture) -> None:
    ledger = usual_fortnight(team)
    ledger.spend([DAY], "900", team=team)
    anomalies.anomalies_detect()

    ledger.spend([date(2026, 11, 21)], "2000", team=team)
    time_machine.move_to(datetime(2026, 11, 22, 6, tzinfo=UTC), tick=False)
    anomalies.anomalies_detect()
    anomalies.anomalies_detect()

    assert list(Anomaly.objects.order_by("day").values_list("day", flat=True)) == [DAY, date(2026, 11, 21)]


def test_the_anomaly_list_shows_a_teams_anomalies_to_its_developers_only(team: Team) -> None:
    ledger = usual_fortnight(team)
    ledger.spend([DAY], "900", team=team)
    anomalies.anomalies_detect()
    own, other = Client(), Client()
    own.force_login(person("dev", team=team))
    other.force_login(person("otto", team=make_team("search")))

    mine = own.get("/costs/anomalies/")
    theirs = other.get("/costs/anomalies/")

    assert mine.status_code == theirs.status_code == 200
    assert "Amazon Elastic Compute Cloud in eu-west-1" in mine.content.decode()
    assert "data-anomaly=" not in theirs.content.decode()
