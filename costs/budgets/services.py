"""Budgets: writing them (checked by the policy, audited), reading their burn, and alerting on thresholds.

A budget counts the daily rollups of its team, environment or service in its
own currency only (currencies are never added together; spend in others is
reported beside it, not converted). "Actual" is the spend of the complete
days of the period, "forecast" what :func:`costs.forecast.forecast_period`
expects at its end. :func:`budgets_evaluate` (beat, hourly) records each
threshold crossed as one :class:`BudgetAlert` row, unique per budget, period,
kind and threshold, and tells people only when it creates that row: running
it again tells nobody twice, and a new period starts afresh.

Who is told: the leads of the budget's team, whoever created the budget and
the people the budget names, each only if they may see the budget; by
notification (in the portal and by e-mail) and on the chat webhook (the
budget's own, else ``PORTAL_COSTS_CHAT_WEBHOOK_URL``), posted by a worker
that retries without telling anyone in the portal again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Case, Count, QuerySet, Sum, When
from django.urls import reverse
from django.utils import timezone

from access import policy
from access.audit import services as audit
from access.models import Membership, Team, User
from access.permissions import CHANGE
from costs.budgets.chat import webhook_refusal
from costs.budgets.models import AlertKind, Budget, BudgetAlert, BudgetPeriod, ChatStatus
from costs.forecast import Forecast, forecast_period, month_bounds, quarter_bounds
from costs.models import CostRollup
from deployments.models import Service
from environments.models import Environment
from notifications.services import Message, notify
from portal import numbers

BUDGET_FIELDS = [
    "name",
    "team",
    "environment",
    "service",
    "period",
    "amount",
    "currency",
    "basis",
    "actual_thresholds",
    "forecast_thresholds",
    "active",
]
# A period's last days reach the store a day or two late: the previous period is still checked this many days in.
CLOSING_DAYS = 7
ALERT_KIND = "costs.budget_alert"


# --- reading: a budget's burn -------------------------------------------------------------


def period_bounds(period: str, day: date) -> tuple[date, date]:
    """The first day of the month or quarter holding ``day``, and the first day of the next."""
    return quarter_bounds(day) if period == BudgetPeriod.QUARTERLY else month_bounds(day)


def _owner_column(budget: Budget) -> str:
    if budget.environment_id is not None:
        return "environment_id"
    if budget.service_id is not None:
        return "service_id"
    return "team_id"


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


@dataclass(frozen=True)
class BudgetStatus:
    """A budget in one period: what was spent on the complete days, the forecast, and other currencies' spend."""

    budget: Budget
    start: date
    end: date  # exclusive
    today: date
    forecast: Forecast
    daily: dict[date, Decimal]
    other_currencies: dict[str, Decimal] = field(default_factory=dict)

    @property
    def actual(self) -> Decimal:
        return self.forecast.actual

    @property
    def expected(self) -> Decimal:
        return self.forecast.forecast

    @property
    def remaining(self) -> Decimal:
        return self.budget.amount - self.actual

    @property
    def overspend(self) -> Decimal:
        return self.actual - self.budget.amount

    @property
    def percent_actual(self) -> Decimal:
        return (self.actual * 100 / self.budget.amount).quantize(Decimal("0.1"))

    @property
    def percent_forecast(self) -> Decimal:
        return (self.expected * 100 / self.budget.amount).quantize(Decimal("0.1"))

    @property
    def over(self) -> bool:
        return self.actual > self.budget.amount

    @property
    def forecast_over(self) -> bool:
        return self.expected > self.budget.amount

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    def chart(self) -> dict[str, Any]:
        """The burn chart: cumulative actual on complete days, the forecast from there to the end, the budget."""
        known_until = min(max(self.today, self.start), self.end)
        labels: list[str] = []
        actual: list[str | None] = []
        forecast: list[str | None] = []
        running = Decimal(0)
        day = self.start
        while day < self.end:
            labels.append(f"{day:%d %b}")
            if day < known_until:
                running += self.daily.get(day, Decimal(0))
                actual.append(_money(running))
                forecast.append(_money(running) if day == known_until - timedelta(days=1) else None)
            else:
                actual.append(None)
                ahead = (day - known_until).days + 1
                forecast.append(_money(running + self.forecast.daily_rate * ahead))
            day += timedelta(days=1)
        if known_until == self.start and forecast:
            forecast[0] = forecast[0] or _money(Decimal(0))
        currency = self.budget.currency
        return {
            "labels": labels,
            "datasets": [
                {"label": f"Actual ({currency}, cumulative)", "data": actual},
                {"label": f"Forecast ({currency})", "data": forecast, "borderDash": [6, 4]},
                {"label": f"Budget ({currency})", "data": [_money(self.budget.amount)] * len(labels), "pointRadius": 0},
            ],
        }


def budget_statuses(budgets: Sequence[Budget], *, today: date, previous: bool = False) -> list[BudgetStatus]:
    """Each budget's status in the period holding ``today`` (``previous``: the period before), in ≤ 3 queries.

    One query per kind of owner (team, environment, service) sums the
    rollups by owner, day and currency over the span of all the periods.
    """
    if not budgets:
        return []
    bounds: dict[int, tuple[date, date]] = {}
    for budget in budgets:
        start, end = period_bounds(budget.period, today)
        bounds[budget.pk] = period_bounds(budget.period, start - timedelta(days=1)) if previous else (start, end)
    first = min(start for start, _ in bounds.values())
    last = max(end for _, end in bounds.values())
    owners: dict[str, set[int]] = defaultdict(set)
    for budget in budgets:
        column = _owner_column(budget)
        owners[column].add(getattr(budget, column))
    # (column, owner id) -> currency -> day -> {"effective": …, "billed": …}
    sums: dict[tuple[str, int], dict[str, dict[date, dict[str, Decimal]]]] = defaultdict(lambda: defaultdict(dict))
    for column, ids in owners.items():
        rows = (
            CostRollup.objects.filter(**{f"{column}__in": sorted(ids)}, day__gte=first, day__lt=last)
            .values_list(column, "day", "currency")
            .annotate(effective=Sum("effective_cost"), billed=Sum("billed_cost"))
            .order_by()
        )
        for owner, day, currency, effective, billed in rows:
            sums[(column, owner)][currency][day] = {"effective": effective, "billed": billed}
    statuses = []
    for budget in budgets:
        start, end = bounds[budget.pk]
        column = _owner_column(budget)
        by_currency = sums.get((column, getattr(budget, column)), {})
        daily = {
            day: amounts[budget.basis]
            for day, amounts in by_currency.get(budget.currency, {}).items()
            if start <= day < end
        }
        others = {
            currency: sum((amounts[budget.basis] for day, amounts in days.items() if start <= day < end), Decimal(0))
            for currency, days in sorted(by_currency.items())
            if currency != budget.currency and any(start <= day < end for day in days)
        }
        statuses.append(
            BudgetStatus(budget, start, end, today, forecast_period(daily, start, end, today), daily, others)
        )
    return statuses


def budget_status(budget: Budget, *, today: date | None = None) -> BudgetStatus:
    return budget_statuses([budget], today=today or timezone.localdate())[0]


def budget_current_periods(budgets: Sequence[Budget], *, today: date) -> dict[int, tuple[BudgetStatus, int]]:
    """Each budget's status in its current period and how many alerts that period has raised, by budget id,
    in ≤ 4 queries (:func:`budget_statuses` and one count of the alerts)."""
    statuses = budget_statuses(budgets, today=today)
    raised = {
        (row["budget"], row["period_start"]): row["count"]
        for row in BudgetAlert.objects.filter(budget__in=[budget.pk for budget in budgets])
        .values("budget", "period_start")
        .annotate(count=Count("pk"))
        .order_by()
    }
    return {status.budget.pk: (status, raised.get((status.budget.pk, status.start), 0)) for status in statuses}


def _team_budgets() -> QuerySet[Budget]:
    """Active team-wide budgets (not one of an environment or a service), monthly before quarterly, oldest first."""
    return (
        Budget.objects.filter(environment__isnull=True, service__isnull=True, active=True)
        .order_by(Case(When(period=BudgetPeriod.MONTHLY, then=0), default=1), "pk")
        .select_related("team")
    )


def team_budget(*, team_id: int) -> Budget | None:
    """The team's budget: its active team-wide budget (not one of an environment or a service), monthly before
    quarterly, the oldest first. The environment request form reads it, as Costs -> Budgets shows it."""
    return _team_budgets().filter(team_id=team_id).first()


def team_budgets(*, team_ids: Iterable[int]) -> dict[int, Budget]:
    """:func:`team_budget` of each of these teams, in one query; a team without one is absent."""
    found: dict[int, Budget] = {}
    for budget in _team_budgets().filter(team_id__in=sorted(set(team_ids))):
        found.setdefault(budget.team_id, budget)
    return found


def team_budget_status(*, team_id: int, today: date | None = None) -> BudgetStatus | None:
    """:func:`team_budget` in the period holding ``today``: the same figures as its row on Costs -> Budgets."""
    budget = team_budget(team_id=team_id)
    return None if budget is None else budget_status(budget, today=today)


def budget_list(*, user: Any) -> QuerySet[Budget]:
    """The budgets ``user`` may see (a team's members see their team's)."""
    return policy.restrict(
        Budget.objects.select_related("team", "environment", "service", "created_by"), user, policy.VIEW
    ).order_by("team__name", "name", "pk")


def budget_get(*, user: Any, pk: int) -> Budget:
    from django.shortcuts import get_object_or_404

    return get_object_or_404(budget_list(user=user), pk=pk)


# --- writing ------------------------------------------------------------------------------


def _snapshot(budget: Budget) -> dict[str, Any]:
    values = audit.snapshot(budget, BUDGET_FIELDS)
    values["notify"] = sorted(budget.notify.values_list("username", flat=True)) if budget.pk else []
    # The webhook URL's path is a secret: the audit log says only whether there is one.
    values["chat_webhook"] = bool(budget.chat_webhook_url)
    return values


def clean_thresholds(values: Iterable[int], *, field_name: str) -> list[int]:
    """Distinct percentages in ascending order, each between 1 and 1000."""
    cleaned = sorted({int(value) for value in values})
    if any(value < 1 or value > 1000 for value in cleaned):
        raise ValidationError({field_name: "Give percentages between 1 and 1000, e.g. 50, 80, 100."})
    return cleaned


def _owner(budget: Budget, team: Team | None) -> None:
    """Set the budget's team from its environment or service, refusing one of another team."""
    owned_by = budget.environment.team if budget.environment is not None else None
    if budget.service is not None:
        owned_by = budget.service.team
    if budget.environment is not None and budget.service is not None:
        raise ValidationError({"service": "A budget covers a team, one environment or one service: pick one."})
    if owned_by is not None:
        if team is not None and team.pk != owned_by.pk:
            what = "environment" if budget.environment is not None else "service"
            raise ValidationError({what: f"It belongs to {owned_by}, not {team}: choose {owned_by} as the team."})
        budget.team = owned_by
    elif team is not None:
        budget.team = team
    else:
        raise ValidationError({"team": "Choose the team the budget is for."})


def _check_change(actor: User, budget: Budget) -> None:
    policy.forget(actor)
    if not policy.can(actor, CHANGE, budget):
        raise PermissionDenied(f"You may not set budgets for {budget.team}.")


def _check_webhook(url: str) -> None:
    """Refuse, saying why, a chat webhook URL the portal would not post to (the worker checks again when posting)."""
    if url and (refusal := webhook_refusal(url)):
        raise ValidationError({"chat_webhook_url": refusal})


def _validate(budget: Budget) -> None:
    budget.currency = budget.currency.strip().upper()
    budget.name = budget.name.strip()
    budget.actual_thresholds = clean_thresholds(budget.actual_thresholds, field_name="actual_thresholds")
    budget.forecast_thresholds = clean_thresholds(budget.forecast_thresholds, field_name="forecast_thresholds")
    budget.full_clean()


@transaction.atomic
def budget_create(
    *,
    actor: User,
    name: str,
    amount: Decimal,
    team: Team | None = None,
    environment: Environment | None = None,
    service: Service | None = None,
    period: str = BudgetPeriod.MONTHLY,
    currency: str = "USD",
    basis: str = "effective",
    actual_thresholds: Iterable[int] = (50, 80, 100),
    forecast_thresholds: Iterable[int] = (100,),
    notify: Iterable[User] = (),
    chat_webhook_url: str = "",
    active: bool = True,
) -> Budget:
    """Set a budget for a team (or one environment or service of it); needs ``costs.change`` on the team."""
    budget = Budget(
        name=name,
        environment=environment,
        service=service,
        period=period,
        amount=amount,
        currency=currency,
        basis=basis,
        actual_thresholds=list(actual_thresholds),
        forecast_thresholds=list(forecast_thresholds),
        chat_webhook_url=(chat_webhook_url or "").strip(),
        active=active,
        created_by=actor,
    )
    _owner(budget, team)
    _check_change(actor, budget)
    _validate(budget)
    _check_webhook(budget.chat_webhook_url)
    budget.save()
    budget.notify.set(list(notify))
    audit.record(audit.BUDGET_CREATED, budget, actor=actor, after=_snapshot(budget), team=budget.team)
    return budget


@transaction.atomic
def budget_update(*, actor: User, budget_id: int, **fields: Any) -> Budget:
    """Change a budget. ``chat_webhook_url=None`` (or absent) keeps the stored URL; ``""`` removes it.

    Moving it to another team needs ``costs.change`` on both teams. Alerts
    already recorded stay; a threshold newly crossed alerts at the next run.
    """
    budget = policy.get_for_update(Budget.objects.all(), actor, CHANGE, pk=budget_id)
    before = _snapshot(budget)
    team = fields.pop("team", budget.team)
    notify_users = fields.pop("notify", None)
    webhook = fields.pop("chat_webhook_url", None)
    for name, value in fields.items():
        if name not in BUDGET_FIELDS:
            raise TypeError(f"not a budget field: {name}")
        setattr(budget, name, value)
    if webhook is not None:
        budget.chat_webhook_url = webhook.strip()
    _owner(budget, team)
    _check_change(actor, budget)
    _validate(budget)
    if webhook is not None:
        _check_webhook(budget.chat_webhook_url)
    budget.updated_at = timezone.now()
    budget.save()
    if notify_users is not None:
        budget.notify.set(list(notify_users))
    after = _snapshot(budget)
    if after != before:
        audit.record(audit.BUDGET_CHANGED, budget, actor=actor, before=before, after=after, team=budget.team)
    return budget


@transaction.atomic
def budget_delete(*, actor: User, budget_id: int) -> None:
    """Remove a budget and its alert history."""
    budget = policy.get_for_update(Budget.objects.all(), actor, CHANGE, pk=budget_id)
    audit.record(audit.BUDGET_DELETED, budget, actor=actor, before=_snapshot(budget), team=budget.team)
    budget.delete()


# --- alerting -----------------------------------------------------------------------------


def budget_recipients(budget: Budget) -> list[User]:
    """The team's leads, the budget's creator and the people it names: those who may see the budget."""
    candidates = User.objects.filter(is_active=True).filter(
        pk__in=[
            *Membership.objects.filter(team_id=budget.team_id, role=Membership.Role.LEAD).values_list(
                "user_id", flat=True
            ),
            *([budget.created_by_id] if budget.created_by_id else []),
            *budget.notify.values_list("pk", flat=True),
        ]
    )
    return [user for user in candidates.order_by("pk") if policy.can(user, policy.VIEW, budget)]


def chat_webhook_for(budget: Budget | None) -> str:
    """Where a budget's alerts are posted: its own webhook, else the portal's (empty: nowhere)."""
    own = budget.chat_webhook_url if budget is not None else ""
    return own or settings.COSTS_CHAT_WEBHOOK_URL


def _period_label(budget: Budget, start: date) -> str:
    if budget.period == BudgetPeriod.QUARTERLY:
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"
    return f"{start:%B %Y}"


def alert_text(alert: BudgetAlert) -> tuple[str, str]:
    """The alert's title and body, for the notification, the e-mail and the chat message."""
    budget = alert.budget
    period = _period_label(budget, alert.period_start)
    spend, amount, currency = numbers.money(alert.spend), numbers.money(alert.amount), alert.currency
    if alert.kind == AlertKind.ACTUAL:
        title = f"Budget {budget.name}: {alert.threshold}% spent ({period})"
        body = (
            f"Spend on {budget.scope_label} in {period} has passed {alert.threshold}% of its budget: "
            f"{spend} of {amount} {currency} ({budget.get_basis_display().lower()} cost, complete days)."
        )
    else:
        title = f"Budget {budget.name}: forecast passes {alert.threshold}% ({period})"
        body = (
            f"At the current rate, spend on {budget.scope_label} in {period} will reach {spend} {currency}, "
            f"{alert.threshold}% or more of its budget of {amount} {currency}."
        )
    return title, body


def _tell(alert: BudgetAlert) -> None:
    """Notify the budget's people and, after commit, post to the chat webhook (a worker, with retries)."""
    from costs.budgets.tasks import post_to_chat

    title, body = alert_text(alert)
    url = reverse("costs:budget", kwargs={"pk": alert.budget_id})
    notify(
        budget_recipients(alert.budget),
        Message(ALERT_KIND, title, body, url=url, key=f"{ALERT_KIND}:{alert.pk}"),
    )
    if alert.chat_status == ChatStatus.PENDING:
        transaction.on_commit(lambda: post_to_chat.delay("budget_alert", alert.pk))


def _crossings(status: BudgetStatus, *, kinds: Iterable[str]) -> Iterable[tuple[str, int, Decimal]]:
    budget = status.budget
    figures = {AlertKind.ACTUAL: (status.actual, budget.actual_thresholds)}
    figures[AlertKind.FORECAST] = (status.expected, budget.forecast_thresholds)
    for kind in kinds:
        spend, thresholds = figures[AlertKind(kind)]
        for threshold in sorted(set(thresholds)):
            if spend * 100 >= budget.amount * threshold:
                yield kind, threshold, spend


def _record(status: BudgetStatus, kinds: Iterable[str]) -> list[BudgetAlert]:
    budget = status.budget
    created = []
    for kind, threshold, spend in _crossings(status, kinds=kinds):
        with transaction.atomic():
            alert, made = BudgetAlert.objects.get_or_create(
                budget=budget,
                period_start=status.start,
                kind=kind,
                threshold=threshold,
                defaults={
                    "spend": spend,
                    "amount": budget.amount,
                    "currency": budget.currency,
                    "chat_status": ChatStatus.PENDING if chat_webhook_for(budget) else ChatStatus.NONE,
                },
            )
            if made:
                _tell(alert)
                created.append(alert)
    return created


def budgets_evaluate(*, today: date | None = None) -> list[BudgetAlert]:
    """Record and tell every threshold crossed and not yet alerted, in each active budget; the alerts made now.

    In a period's first days the previous period is checked again (its last
    days' cost arrives late), on actual spend only: it is over.
    """
    today = today or timezone.localdate()
    budgets = list(Budget.objects.filter(active=True).select_related("team", "environment", "service"))
    created: list[BudgetAlert] = []
    for status in budget_statuses(budgets, today=today):
        created += _record(status, kinds=[AlertKind.ACTUAL, AlertKind.FORECAST])
    closing = [budget for budget in budgets if (today - period_bounds(budget.period, today)[0]).days < CLOSING_DAYS]
    for status in budget_statuses(closing, today=today, previous=True):
        created += _record(status, kinds=[AlertKind.ACTUAL])
    return created
