"""Evaluating every service against every scorecard: levels build on each other, results and the day's history
are stored (once per day), and the number of queries does not grow with the number of services."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from access.models import Membership
from costs.models import Budget
from deployments.models import Service
from scorecards import services
from scorecards.choices import CheckKind, Level, ResultStatus
from scorecards.models import RuleResult, Scorecard, ScorecardRule, ScoreHistory, ServiceScore
from tests.costs.budget_helpers import Ledger, days
from tests.factories import ClusterFactory, RegionFactory, make_user
from tests.scorecards.helpers import NOW, deploy, pipeline_run, rule, runs_on, scorecard, service, team

pytestmark = pytest.mark.django_db


def statuses(*pairs: tuple[ScorecardRule, str]) -> dict[int, str]:
    return {made.pk: status for made, status in pairs}


@pytest.fixture
def ladder() -> dict[str, ScorecardRule]:
    """A rule at each level of one scorecard."""
    return {
        Level.BRONZE: rule(CheckKind.OWNER, level=Level.BRONZE),
        Level.SILVER: rule(CheckKind.RUNBOOK, level=Level.SILVER),
        Level.GOLD: rule(CheckKind.ONCALL, level=Level.GOLD),
    }


def test_gold_needs_silver_and_bronze_too(ladder: dict[str, ScorecardRule]) -> None:
    rules = list(ladder.values())
    bronze, silver, gold = ladder[Level.BRONZE], ladder[Level.SILVER], ladder[Level.GOLD]
    passed, failed = ResultStatus.PASSED, ResultStatus.FAILED

    assert services.level_reached(rules, statuses((bronze, passed), (silver, passed), (gold, passed))) == Level.GOLD
    assert services.level_reached(rules, statuses((bronze, passed), (silver, failed), (gold, passed))) == Level.BRONZE
    assert services.level_reached(rules, statuses((bronze, failed), (silver, passed), (gold, passed))) == ""
    # A rule that could not be checked is not passed.
    assert services.level_reached(rules, statuses((bronze, passed), (silver, ResultStatus.UNKNOWN))) == Level.BRONZE


def test_a_level_without_rules_neither_gives_nor_blocks(ladder: dict[str, ScorecardRule]) -> None:
    silver, gold = ladder[Level.SILVER], ladder[Level.GOLD]
    passed, failed = ResultStatus.PASSED, ResultStatus.FAILED

    assert services.level_reached([silver, gold], statuses((silver, passed), (gold, passed))) == Level.GOLD
    assert services.level_reached([silver, gold], statuses((silver, passed), (gold, failed))) == Level.SILVER
    assert services.level_reached([gold], statuses((gold, failed))) == ""
    assert services.level_reached([], {}) == ""


def test_an_evaluation_stores_each_result_the_level_and_the_days_history(ladder: dict[str, ScorecardRule]) -> None:
    owner = team("payments")
    Membership.objects.create(team=owner, user=make_user(username="pat"))
    checkout = service("checkout", owner=owner, runbook_url="https://wiki.example.com/checkout")
    billing = service("billing", owner=team("billing"))

    evaluation = services.scorecards_evaluate(now=NOW)

    assert (evaluation.services, evaluation.scorecards, evaluation.results) == (2, 1, 6)
    results = {
        (result.service.slug, result.rule.kind): (result.status, result.reason)
        for result in RuleResult.objects.select_related("service", "rule")
    }
    assert results[("checkout", CheckKind.OWNER)] == (ResultStatus.PASSED, "Owned by Payments (1 member).")
    assert results[("checkout", CheckKind.RUNBOOK)] == (
        ResultStatus.PASSED,
        "Runbook: https://wiki.example.com/checkout",
    )
    assert results[("checkout", CheckKind.ONCALL)][0] == ResultStatus.FAILED
    assert results[("billing", CheckKind.OWNER)][0] == ResultStatus.FAILED
    scores = {score.service_id: score for score in ServiceScore.objects.all()}
    assert (scores[checkout.pk].level, scores[checkout.pk].passed, scores[checkout.pk].total) == (Level.SILVER, 2, 3)
    assert (scores[billing.pk].level, scores[billing.pk].passed) == ("", 0)
    history = ScoreHistory.objects.get(service=checkout)
    assert (history.day, history.level, history.passed, history.total) == (date(2026, 11, 20), Level.SILVER, 2, 3)


def test_the_history_keeps_one_row_a_day_the_days_last_evaluation(ladder: dict[str, ScorecardRule]) -> None:
    checkout = service("checkout", owner=team("payments"))
    services.scorecards_evaluate(now=NOW)
    Service.objects.filter(pk=checkout.pk).update(runbook_url="https://wiki.example.com/checkout")
    services.scorecards_evaluate(now=NOW + timedelta(hours=3))  # the same day: replaces its row
    Service.objects.filter(pk=checkout.pk).update(oncall_url="https://example.pagerduty.com/checkout")
    services.scorecards_evaluate(now=NOW + timedelta(days=1))

    history = list(ScoreHistory.objects.filter(service=checkout).order_by("day").values_list("day", "passed"))

    assert history == [(date(2026, 11, 20), 1), (date(2026, 11, 21), 2)]
    assert RuleResult.objects.filter(service=checkout).count() == 3  # one per rule, updated in place
    services.scorecards_evaluate(now=NOW + timedelta(days=services.HISTORY_KEEP_DAYS + 1))
    kept = ScoreHistory.objects.filter(service=checkout).order_by("day").values_list("day", flat=True)
    assert list(kept) == [date(2026, 11, 21), NOW.date() + timedelta(days=services.HISTORY_KEEP_DAYS + 1)]


def test_only_the_scorecard_asked_for_is_evaluated(ladder: dict[str, ScorecardRule]) -> None:
    service("checkout")
    other = Scorecard.objects.create(name="Security")
    rule(CheckKind.NO_CRITICAL_FINDINGS, card=other)

    services.scorecards_evaluate(scorecard_ids=[other.pk], now=NOW)

    assert list(ServiceScore.objects.values_list("scorecard__name", flat=True)) == ["Security"]


def test_changing_a_rule_drops_its_results_until_they_are_judged_again(ladder: dict[str, ScorecardRule]) -> None:
    from access.models import User

    admin = User.objects.create_superuser(username="root", password="x", email="root@example.com")
    service("checkout")
    services.scorecards_evaluate(now=NOW)
    silver = ladder[Level.SILVER]

    services.rule_update(actor=admin, rule_id=silver.pk, kind=CheckKind.DEPLOYED_WITHIN, days=30)

    assert not RuleResult.objects.filter(rule=silver).exists()
    assert RuleResult.objects.filter(rule=ladder[Level.BRONZE]).exists()
    services.scorecards_evaluate(now=NOW)
    result = RuleResult.objects.get(rule=silver)
    assert result.reason == "Never deployed to production (rule: within 30 days)."


# --- a bounded number of queries ---------------------------------------------------------------------------


def every_kind_of_rule(card: Scorecard) -> None:
    for kind, level, fields in (
        (CheckKind.OWNER, Level.BRONZE, {}),
        (CheckKind.RUNBOOK, Level.BRONZE, {}),
        (CheckKind.ONCALL, Level.SILVER, {}),
        (CheckKind.NO_CRITICAL_FINDINGS, Level.BRONZE, {}),
        (CheckKind.DEPLOYED_WITHIN, Level.SILVER, {"days": 14}),
        (CheckKind.CHANGE_FAILURE_RATE, Level.SILVER, {"percent": Decimal(20)}),
        (CheckKind.SUPPORTED_KUBERNETES, Level.GOLD, {}),
        (CheckKind.WITHIN_BUDGET, Level.GOLD, {}),
    ):
        rule(kind, level=level, card=card, **fields)


def add_services(count: int, cluster: Any, ledger: Ledger, start: int) -> None:
    """Services of their own teams, each with members, a run, deployments, a workload, a budget and spend."""
    for number in range(start, start + count):
        owner = team(f"team-{number}")
        Membership.objects.create(team=owner, user=make_user(username=f"person-{number}"))
        made = service(f"service-{number}", owner=owner, runbook_url="https://wiki.example.com/x")
        pipeline_run(made, number, days_ago=1)
        deploy(made, days_ago=2)
        deploy(made, days_ago=5, status="failed")
        runs_on(made, cluster)
        Budget.objects.create(name=f"{owner} monthly", team=owner, amount=Decimal(1000), currency="USD")
        ledger.spend(days(date(2026, 11, 1), date(2026, 11, 3)), "10", team=owner)


def queries_to_evaluate() -> int:
    with CaptureQueriesContext(connection) as captured:
        services.scorecards_evaluate(now=NOW)
    return len(captured.captured_queries)


def test_the_number_of_queries_does_not_grow_with_the_number_of_services(settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path
    every_kind_of_rule(scorecard("Production readiness"))
    every_kind_of_rule(scorecard("Second opinion"))
    cluster = ClusterFactory(region=RegionFactory(), kubernetes_version="1.34")
    ledger = Ledger()
    add_services(2, cluster, ledger, start=0)
    queries_to_evaluate()  # the cloud's answer about versions is cached from here on, as in any hour after the first

    few = queries_to_evaluate()
    add_services(10, cluster, ledger, start=100)
    many = queries_to_evaluate()

    assert ServiceScore.objects.count() == 24
    assert RuleResult.objects.count() == 12 * 16
    assert many == few, f"{few} queries for 2 services, {many} for 12"
    assert few <= 20
