"""Budgets, the alerts their thresholds raised, and anomalies in daily spend.

Kept apart from :mod:`costs.models` (which imports this module at its end, so
Django registers these models with the costs app) because the cost store and
its loaders change for other reasons than budgets do.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from access.scoping import scoped
from regions.fields import EncryptedTextField

_currency = RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO 4217 currency code such as USD or EUR.")
_percent = [MinValueValidator(1), MaxValueValidator(1000)]


class BudgetPeriod(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"


class BudgetBasis(models.TextChoices):
    """The cost columns a budget may count (list cost is what nobody pays)."""

    EFFECTIVE = "effective", "Effective (amortised)"
    BILLED = "billed", "Billed (cash)"


class BudgetScope(models.TextChoices):
    TEAM = "team", "Team"
    ENVIRONMENT = "environment", "Environment"
    SERVICE = "service", "Service"


class AlertKind(models.TextChoices):
    """Which figure crossed the threshold: spend on the complete days so far, or the forecast to period end."""

    ACTUAL = "actual", "Actual spend"
    FORECAST = "forecast", "Forecast spend"


class AnomalyScope(models.TextChoices):
    TEAM = "team", "Team"
    SERVICE = "service", "Service"


class ChatStatus(models.TextChoices):
    """Whether the chat webhook was told: not configured, waiting (or retrying), sent, or given up."""

    NONE = "", "No webhook"
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


def default_actual_thresholds() -> list[int]:
    return [50, 80, 100]


def default_forecast_thresholds() -> list[int]:
    return [100]


@scoped("costs", team="team")
class Budget(models.Model):
    """A spending limit for a team, or one environment or service of it, per month or quarter, in one currency.

    Only cost in ``currency`` counts (currencies are never added together);
    the team is always set (for an environment or service budget it is the
    owner's), so grants limited to a team cover the team's budgets.
    """

    name = models.CharField(max_length=200)
    team = models.ForeignKey("access.Team", on_delete=models.CASCADE, related_name="budgets")
    environment = models.ForeignKey(
        "environments.Environment",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="budgets",
        help_text="Budget one environment of the team instead of the whole team.",
    )
    service = models.ForeignKey(
        "deployments.Service",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="budgets",
        help_text="Budget one service of the team instead of the whole team.",
    )
    period = models.CharField(max_length=16, choices=BudgetPeriod.choices, default=BudgetPeriod.MONTHLY)
    amount = models.DecimalField(max_digits=14, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))])
    currency = models.CharField(
        max_length=3, default="USD", validators=[_currency], help_text="Only cost billed in this currency counts."
    )
    basis = models.CharField(max_length=16, choices=BudgetBasis.choices, default=BudgetBasis.EFFECTIVE)
    actual_thresholds = ArrayField(
        models.PositiveIntegerField(validators=_percent),
        default=default_actual_thresholds,
        blank=True,
        help_text="Percent of the budget; alert when the spend so far passes each.",
    )
    forecast_thresholds = ArrayField(
        models.PositiveIntegerField(validators=_percent),
        default=default_forecast_thresholds,
        blank=True,
        help_text="Percent of the budget; alert when the forecast to period end passes each.",
    )
    notify = models.ManyToManyField(
        "access.User",
        blank=True,
        related_name="+",
        help_text="Told besides the team's leads and the budget's creator (if they may see the budget).",
    )
    chat_webhook_url = EncryptedTextField(
        blank=True,
        help_text="A Slack or Teams incoming-webhook URL; empty: the portal-wide one, if set. Kept encrypted.",
    )
    active = models.BooleanField(default=True, help_text="Inactive budgets are shown but raise no alerts.")
    created_by = models.ForeignKey(
        "access.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["team__name", "name", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="budget_amount_positive"),
            models.CheckConstraint(
                condition=Q(environment__isnull=True) | Q(service__isnull=True),
                name="budget_one_environment_or_service",
                violation_error_message="A budget covers a team, one environment or one service, not both.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def scope(self) -> str:
        if self.environment_id is not None:
            return BudgetScope.ENVIRONMENT
        if self.service_id is not None:
            return BudgetScope.SERVICE
        return BudgetScope.TEAM

    @property
    def scope_label(self) -> str:
        if self.environment is not None:
            return f"environment {self.environment}"
        if self.service is not None:
            return f"service {self.service}"
        return f"team {self.team}"


@scoped("costs", team="budget__team")
class BudgetAlert(models.Model):
    """One threshold of one budget crossed in one period: recorded once, so each crossing is told once."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    period_start = models.DateField()
    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    threshold = models.PositiveIntegerField(help_text="Percent of the budget.")
    spend = models.DecimalField(max_digits=24, decimal_places=10, help_text="The actual or forecast spend then.")
    amount = models.DecimalField(max_digits=14, decimal_places=2, help_text="The budget's amount then.")
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(default=timezone.now)
    chat_status = models.CharField(max_length=16, choices=ChatStatus.choices, blank=True)
    chat_attempts = models.PositiveIntegerField(default=0)
    chat_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "period_start", "kind", "threshold"], name="one_alert_per_budget_crossing"
            )
        ]

    def __str__(self) -> str:
        return f"{self.budget}: {self.get_kind_display().lower()} passed {self.threshold}% ({self.period_start})"


@scoped("costs", team="team")
class Anomaly(models.Model):
    """A day whose spend for a team or service was far above its previous days, with why (recorded once)."""

    scope = models.CharField(max_length=16, choices=AnomalyScope.choices)
    team = models.ForeignKey("access.Team", on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey(
        "deployments.Service", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    day = models.DateField()
    currency = models.CharField(max_length=3)
    spend = models.DecimalField(max_digits=24, decimal_places=10)
    baseline_mean = models.DecimalField(max_digits=24, decimal_places=10)
    baseline_stddev = models.DecimalField(max_digits=24, decimal_places=10)
    baseline_days = models.PositiveIntegerField()
    # [{"service_name", "region_code", "spend", "usual", "increase"}] as decimal strings, largest increase first.
    contributors = models.JSONField(default=list)
    reason = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    chat_status = models.CharField(max_length=16, choices=ChatStatus.choices, blank=True)
    chat_attempts = models.PositiveIntegerField(default=0)
    chat_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-day", "-pk"]
        verbose_name_plural = "anomalies"
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "team", "service", "day", "currency"],
                nulls_distinct=False,
                name="one_anomaly_per_scope_day_currency",
            )
        ]

    def __str__(self) -> str:
        subject = self.service if self.service_id is not None else self.team
        return f"{subject}: unusual spend on {self.day}"

    @property
    def increase(self) -> Decimal:
        return self.spend - self.baseline_mean

    @property
    def times_normal(self) -> Decimal | None:
        """Spend over the usual day's (None when the usual day cost nothing)."""
        return self.spend / self.baseline_mean if self.baseline_mean > 0 else None

    @property
    def sigmas(self) -> Decimal | None:
        """How many standard deviations above the usual day (None when every usual day cost the same)."""
        return self.increase / self.baseline_stddev if self.baseline_stddev > 0 else None
