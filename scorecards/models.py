"""Scorecards: named sets of rules a service is held to, each rule at a level, and what the last evaluation found.

Rules are data: a platform admin picks a check kind (:class:`~scorecards.choices.CheckKind`, a fixed set, each
implemented in :mod:`scorecards.checks`), the level it belongs to and its threshold, on the scorecard pages.
The scheduled evaluation (:func:`scorecards.services.scorecards_evaluate`) writes one :class:`RuleResult` per
service and rule, one :class:`ServiceScore` per service and scorecard (the level reached, for the catalogue's
column) and one :class:`ScoreHistory` row per service, scorecard and day (the trend).

Scorecards and rules belong to the ``scorecards`` policy domain (everyone reads them, platform admins change
them); results belong to their service: whoever may see a service sees its results, through the service's team.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from access.scoping import scoped
from portal import numbers
from scorecards.choices import CheckKind, Level, ResultStatus, level_label

MIN_DAYS, MAX_DAYS = 1, 365
MIN_PERCENT, MAX_PERCENT = Decimal("0.1"), Decimal(100)


@scoped("scorecards")
class Scorecard(models.Model):
    """A named set of rules every service of the catalogue is evaluated against (e.g. "Production readiness")."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(max_length=1000, blank=True, help_text="What the scorecard is for, in a sentence.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


@scoped("scorecards")
class ScorecardRule(models.Model):
    """One check of a scorecard, at a level, with the threshold its kind takes.

    ``days`` is the threshold of "deployed to production within N days", ``percent`` that of "change failure
    rate under X %"; ``extended_support`` says whether a Kubernetes version the cloud offers only in (paid)
    extended support counts as supported. Other kinds take no threshold and leave them empty.
    """

    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="rules")
    kind = models.CharField(max_length=32, choices=CheckKind.choices)
    level = models.CharField(max_length=8, choices=Level.choices)
    days = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(MIN_DAYS), MaxValueValidator(MAX_DAYS)]
    )
    percent = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(MIN_PERCENT), MaxValueValidator(MAX_PERCENT)],
    )
    extended_support = models.BooleanField(default=True)
    description = models.CharField(
        max_length=500, blank=True, help_text="Why it matters, shown with the rule on every service's scorecard."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scorecard", "level", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(days__isnull=True) | Q(days__gte=MIN_DAYS, days__lte=MAX_DAYS),
                name="scorecard_rule_days_in_range",
                violation_error_message=f"Give a number of days from {MIN_DAYS} to {MAX_DAYS}.",
            ),
            models.CheckConstraint(
                condition=Q(percent__isnull=True) | Q(percent__gte=MIN_PERCENT, percent__lte=MAX_PERCENT),
                name="scorecard_rule_percent_in_range",
                violation_error_message="Give a percentage above 0 and at most 100.",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        """The rule in words, threshold included: "Deployed to production within 14 days"."""
        if self.kind == CheckKind.DEPLOYED_WITHIN:
            return f"Deployed to production within {self.days} day{'s' if self.days != 1 else ''}"
        if self.kind == CheckKind.CHANGE_FAILURE_RATE:
            return f"Change failure rate under {format_percent(self.percent)} (last 30 days)"
        if self.kind == CheckKind.SUPPORTED_KUBERNETES:
            if self.extended_support:
                return "Runs on supported Kubernetes versions only (extended support counts)"
            return "Runs on Kubernetes versions in standard support only"
        return str(CheckKind(self.kind).label) if self.kind in CheckKind.values else self.kind

    @property
    def level_label(self) -> str:
        return level_label(self.level)


def format_percent(value: Decimal | float | None) -> str:
    """A percentage as people write it, in the portal's locale: "20 %", "12.5 %"."""
    if value is None:
        return "none"
    number = Decimal(str(value)).quantize(Decimal("0.1"))
    return f"{numbers.number(number.to_integral() if number == number.to_integral() else number)} %"


@scoped("deployments", team="service__team")
class RuleResult(models.Model):
    """What the last evaluation found for one service and one rule: passed or not, and why in words."""

    service = models.ForeignKey("deployments.Service", on_delete=models.CASCADE, related_name="scorecard_results")
    rule = models.ForeignKey(ScorecardRule, on_delete=models.CASCADE, related_name="results")
    status = models.CharField(max_length=8, choices=ResultStatus.choices)
    reason = models.CharField(max_length=1000)
    evaluated_at = models.DateTimeField()

    class Meta:
        ordering = ["service", "rule"]
        constraints = [models.UniqueConstraint(fields=["service", "rule"], name="rule_result_once_per_service")]

    def __str__(self) -> str:
        return f"{self.rule} for {self.service}: {self.get_status_display()}"


@scoped("deployments", team="service__team")
class ServiceScore(models.Model):
    """A service's standing on a scorecard at the last evaluation: the level reached and the rules passed."""

    service = models.ForeignKey("deployments.Service", on_delete=models.CASCADE, related_name="scorecard_scores")
    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="scores")
    level = models.CharField(max_length=8, choices=Level.choices, blank=True)
    passed = models.PositiveSmallIntegerField()
    total = models.PositiveSmallIntegerField()
    evaluated_at = models.DateTimeField()

    class Meta:
        ordering = ["scorecard", "service"]
        constraints = [
            models.UniqueConstraint(fields=["service", "scorecard"], name="service_score_once_per_scorecard")
        ]
        indexes = [models.Index(fields=["scorecard", "level"], name="service_score_scorecard_level")]

    def __str__(self) -> str:
        return f"{self.service} on {self.scorecard}: {self.level_label}"

    @property
    def level_label(self) -> str:
        return level_label(self.level)


@scoped("deployments", team="service__team")
class ScoreHistory(models.Model):
    """A service's standing on a scorecard on one day (the day's last evaluation), for its trend."""

    service = models.ForeignKey("deployments.Service", on_delete=models.CASCADE, related_name="scorecard_history")
    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="history")
    day = models.DateField()
    level = models.CharField(max_length=8, choices=Level.choices, blank=True)
    passed = models.PositiveSmallIntegerField()
    total = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["service", "scorecard", "day"]
        constraints = [
            models.UniqueConstraint(fields=["service", "scorecard", "day"], name="score_history_once_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.service} on {self.scorecard}, {self.day}: {self.level_label}"

    @property
    def level_label(self) -> str:
        return level_label(self.level)
