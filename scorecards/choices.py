"""Enumerations of scorecards: the levels a service reaches, the kinds of check a rule makes, a check's outcome."""

from __future__ import annotations

from django.db import models


class Level(models.TextChoices):
    """The levels of a scorecard, lowest first. A service reaches one by passing every rule of it and below."""

    BRONZE = "bronze", "Bronze"
    SILVER = "silver", "Silver"
    GOLD = "gold", "Gold"


# Lowest first: a level is reached only when every level before it is.
LEVEL_ORDER: list[str] = [Level.BRONZE, Level.SILVER, Level.GOLD]


def level_label(level: str) -> str:
    """A level in words; "No level" for a service that reaches none."""
    return Level(level).label if level in Level.values else "No level"


class CheckKind(models.TextChoices):
    """What a rule checks. The set is fixed (each kind is code); which kinds a scorecard uses, at which level and
    with which thresholds, is data an admin edits."""

    OWNER = "owner", "Has an owning team with members"
    RUNBOOK = "runbook", "Has a runbook link"
    ONCALL = "oncall", "Has an on-call link"
    NO_CRITICAL_FINDINGS = "no_critical_findings", "No critical security findings in the last pipeline run"
    DEPLOYED_WITHIN = "deployed_within", "Deployed to production within a number of days"
    CHANGE_FAILURE_RATE = "change_failure_rate", "Change failure rate under a percentage (last 30 days)"
    SUPPORTED_KUBERNETES = "supported_kubernetes", "Runs on supported Kubernetes versions only"
    WITHIN_BUDGET = "within_budget", "Its team is within budget"


class ResultStatus(models.TextChoices):
    """How a rule went for a service. "Not checked" is an outage (a cloud that could not be asked), never a pass."""

    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Not checked"
