"""Reads of scorecards, always scoped by the policy: the scorecards and their rules (everyone), and each service's
results, level and history (whoever may see the service).

Every read here runs a fixed number of queries: the catalogue column reads the levels of one page of services
in one query, a service's card its results, levels and history in one query each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db.models import Case, Count, IntegerField, QuerySet, Value, When
from django.shortcuts import get_object_or_404
from django.utils import timezone

from access import policy
from access.models import User
from deployments.models import Service
from scorecards.choices import LEVEL_ORDER, Level, ResultStatus, level_label
from scorecards.models import RuleResult, Scorecard, ScorecardRule, ScoreHistory, ServiceScore

AnyUser = User | AnonymousUser

HISTORY_DAYS = 90


def scorecard_list(*, user: AnyUser) -> QuerySet[Scorecard]:
    return policy.restrict(Scorecard.objects.all(), user, policy.VIEW).prefetch_related("rules").order_by("name")


def scorecard_get(*, user: AnyUser, pk: int) -> Scorecard:
    return get_object_or_404(scorecard_list(user=user), pk=pk)


def rule_list(*, user: AnyUser) -> QuerySet[ScorecardRule]:
    """Every scorecard's rules, by scorecard, then level, then age."""
    return (
        policy.restrict(ScorecardRule.objects.all(), user, policy.VIEW)
        .select_related("scorecard")
        .order_by("scorecard__name", "level", "pk")
    )


def rule_get(*, user: AnyUser, pk: int) -> ScorecardRule:
    return get_object_or_404(rule_list(user=user), pk=pk)


def rules_by_level(rules: Sequence[ScorecardRule]) -> list[tuple[str, str, list[ScorecardRule]]]:
    """(level, its label, its rules) for each level, lowest first (a level without rules too)."""
    return [(level, level_label(level), [rule for rule in rules if rule.level == level]) for level in LEVEL_ORDER]


def score_list(*, user: AnyUser) -> QuerySet[ServiceScore]:
    """Every service's level on every scorecard, of the services ``user`` may see."""
    return (
        policy.restrict(ServiceScore.objects.all(), user, policy.VIEW)
        .select_related("service__team", "scorecard")
        .order_by("scorecard__name", "service__name", "pk")
    )


# --- the catalogue's column ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """A service's level on one scorecard, or None when it was not evaluated yet."""

    scorecard: Scorecard
    score: ServiceScore | None


def catalogue_standings(
    *, user: AnyUser, services: Sequence[Service]
) -> tuple[list[Scorecard], dict[int, list[Standing]]]:
    """The scorecards (the column headers) and each listed service's standing on each, in two queries."""
    scorecards = list(policy.restrict(Scorecard.objects.all(), user, policy.VIEW).order_by("name"))
    scores = {
        (score.service_id, score.scorecard_id): score
        for score in policy.restrict(ServiceScore.objects.all(), user, policy.VIEW).filter(
            service_id__in=[service.pk for service in services]
        )
    }
    return scorecards, {
        service.pk: [Standing(scorecard, scores.get((service.pk, scorecard.pk))) for scorecard in scorecards]
        for service in services
    }


# --- a service's card ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleLine:
    rule: ScorecardRule
    result: RuleResult | None

    @property
    def status(self) -> str:
        return self.result.status if self.result is not None else ""

    @property
    def passed(self) -> bool:
        return self.status == ResultStatus.PASSED


@dataclass(frozen=True)
class LevelGroup:
    level: str
    label: str
    lines: list[RuleLine]
    reached: bool


@dataclass
class Card:
    """A service's standing on one scorecard: its level, each rule's result and why, and its trend."""

    scorecard: Scorecard
    score: ServiceScore | None
    groups: list[LevelGroup]
    history: list[ScoreHistory] = field(default_factory=list)

    @property
    def chart_id(self) -> str:
        return f"scorecard-history-{self.scorecard.pk}"

    @property
    def level(self) -> str:
        return self.score.level if self.score is not None else ""

    @property
    def next_level(self) -> tuple[str, list[RuleLine]] | None:
        """The next level with rules above the one reached, and the rules (of it and below) still not passed; None
        before the service's first evaluation (nothing is known to be missing yet)."""
        if self.score is None:
            return None
        reached = LEVEL_ORDER.index(self.level) if self.level else -1
        missing: list[RuleLine] = []
        for group in self.groups:
            index = LEVEL_ORDER.index(group.level)
            missing += [line for line in group.lines if not line.passed]
            if index > reached and group.lines:
                return (group.label, missing) if missing else None
        return None

    def chart(self) -> dict[str, Any]:
        return {
            "labels": [f"{point.day:%d %b}" for point in self.history],
            "datasets": [
                {"label": "Rules passed", "data": [point.passed for point in self.history]},
                {"label": "Rules in total", "data": [point.total for point in self.history], "borderDash": [6, 4]},
            ],
        }


def service_cards(*, user: AnyUser, service: Service, days: int = HISTORY_DAYS) -> list[Card]:
    """The service's card on each scorecard. ``service`` was read through the policy already; its results are
    read through it again (whoever may not see them gets none)."""
    scorecards = list(scorecard_list(user=user))
    results = {
        result.rule_id: result
        for result in policy.restrict(RuleResult.objects.all(), user, policy.VIEW).filter(service=service)
    }
    scores = {
        score.scorecard_id: score
        for score in policy.restrict(ServiceScore.objects.all(), user, policy.VIEW).filter(service=service)
    }
    since = timezone.localdate() - timedelta(days=days - 1)
    history: dict[int, list[ScoreHistory]] = {}
    for point in (
        policy.restrict(ScoreHistory.objects.all(), user, policy.VIEW)
        .filter(service=service, day__gte=since)
        .order_by("day")
    ):
        history.setdefault(point.scorecard_id, []).append(point)
    cards = []
    for scorecard in scorecards:
        score = scores.get(scorecard.pk)
        reached = LEVEL_ORDER.index(score.level) if score is not None and score.level else -1
        groups = [
            LevelGroup(
                level,
                label,
                [RuleLine(rule, results.get(rule.pk)) for rule in rules],
                reached >= LEVEL_ORDER.index(level) and bool(rules),
            )
            for level, label, rules in rules_by_level(list(scorecard.rules.all()))
        ]
        cards.append(Card(scorecard, score, groups, history.get(scorecard.pk, [])))
    return cards


# --- a scorecard's page ----------------------------------------------------------------------------------

NO_LEVEL = "none"
LEVEL_FILTERS = [(NO_LEVEL, "No level"), *Level.choices]


def level_counts(*, user: AnyUser, scorecard: Scorecard) -> list[tuple[str, str, int]]:
    """How many of the services ``user`` may see stand at each level (highest first), and at none."""
    counts = dict(
        score_list(user=user)
        .filter(scorecard=scorecard)
        .order_by()
        .values_list("level")
        .annotate(count=Count("pk"))
        .values_list("level", "count")
    )
    return [
        *((level, level_label(level), counts.get(level, 0)) for level in reversed(LEVEL_ORDER)),
        (NO_LEVEL, "No level", counts.get("", 0)),
    ]


def scorecard_standings(*, user: AnyUser, scorecard: Scorecard, level: str = "") -> QuerySet[ServiceScore]:
    """The services ``user`` may see, with their level on ``scorecard``, best first; ``level`` narrows them."""
    scores = score_list(user=user).filter(scorecard=scorecard)
    if level == NO_LEVEL:
        scores = scores.filter(level="")
    elif level in Level.values:
        scores = scores.filter(level=level)
    rank = Case(
        *(When(level=level, then=Value(index + 1)) for index, level in enumerate(LEVEL_ORDER)),
        default=Value(0),
        output_field=IntegerField(),
    )
    return scores.annotate(rank=rank).order_by("-rank", "-passed", "service__name", "pk")
