"""Anomalies in daily spend: the last complete day of each team and service against the days before it.

For every team and every service with cost (per currency: currencies are
never mixed), the last complete day's effective cost is compared with the
``COSTS_ANOMALY_BASELINE_DAYS`` days before it (default 14; days without
cost count as zero). The day is anomalous when it is above the mean plus
``COSTS_ANOMALY_SIGMAS`` standard deviations *and* at least
``COSTS_ANOMALY_MIN_INCREASE`` above the mean, so a small team's noise is no
news. Each anomaly is stored once per scope, day and currency, with the
reason: which cloud services and regions grew most against their own usual
day, and how far from normal the day was (times a usual day, standard deviations). Whoever cares
about the team's spend is told once, like budget alerts: the team's leads and
the creators and named people of its budgets, if they may see the anomaly,
and the portal-wide chat webhook.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet, Sum
from django.urls import reverse
from django.utils import timezone

from access import policy
from access.models import Membership, User
from costs.budgets.models import Anomaly, AnomalyScope, Budget, ChatStatus
from costs.models import CostRollup
from deployments.models import Service
from notifications.services import Message, notify
from portal import numbers

ALERT_KIND = "costs.anomaly"
CONTRIBUTORS = 3
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Baseline:
    """The usual day: the mean and (population) standard deviation of the days before."""

    mean: Decimal
    stddev: Decimal
    days: int


def baseline_of(amounts: list[Decimal]) -> Baseline:
    count = len(amounts)
    mean = sum(amounts, Decimal(0)) / count
    variance = sum(((amount - mean) ** 2 for amount in amounts), Decimal(0)) / count
    return Baseline(mean, variance.sqrt(), count)


def is_anomalous(spend: Decimal, baseline: Baseline, *, sigmas: Decimal, min_increase: Decimal) -> bool:
    increase = spend - baseline.mean
    return increase > 0 and increase >= min_increase and spend > baseline.mean + sigmas * baseline.stddev


def _money(value: Decimal) -> str:
    return f"{value.quantize(_CENT)}"


def contributors(column: str, owner: int, currency: str, day: date, first: date) -> list[dict[str, str]]:
    """The cloud services and regions whose spend grew most on ``day`` against their own usual day."""
    days = (day - first).days
    rows = (
        CostRollup.objects.filter(**{column: owner}, currency=currency, day__gte=first, day__lte=day)
        .values_list("service_name", "region_code", "day")
        .annotate(total=Sum("effective_cost"))
        .order_by()
    )
    spend: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    before: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for service_name, region_code, when, total in rows:
        (spend if when == day else before)[(service_name, region_code)] += total
    grown = []
    for key in set(spend) | set(before):
        usual = before[key] / days
        increase = spend[key] - usual
        if increase > 0:
            grown.append((increase, key, usual))
    grown.sort(key=lambda item: (-item[0], item[1]))
    return [
        {
            "service_name": service_name or "(no service name)",
            "region_code": region_code or "(no region)",
            "spend": _money(spend[(service_name, region_code)]),
            "usual": _money(usual),
            "increase": _money(increase),
        }
        for increase, (service_name, region_code), usual in grown[:CONTRIBUTORS]
    ]


def reason_text(*, spend: Decimal, currency: str, day: date, baseline: Baseline, grown: list[dict[str, str]]) -> str:
    parts = [f"{numbers.money(spend)} {currency} on {day:%a %d %b %Y}"]
    how_far = []
    if baseline.mean > 0:
        times = (spend / baseline.mean).quantize(Decimal("0.1"))
        how_far.append(f"{numbers.number(times)}\N{MULTIPLICATION SIGN} a usual day")
    if baseline.stddev > 0:
        sigmas = ((spend - baseline.mean) / baseline.stddev).quantize(Decimal("0.1"))
        how_far.append(f"{numbers.number(sigmas)}\N{GREEK SMALL LETTER SIGMA} above the mean")
    usual = f"usual: {numbers.money(baseline.mean)} {currency}, the mean of the {baseline.days} days before"
    parts.append(f" ({', '.join([*how_far, usual])}).")
    if grown:
        items = [
            f"{item['service_name']} in {item['region_code']} (+{numbers.money(item['increase'])})" for item in grown
        ]
        parts.append(" Most of the increase: " + ", ".join(items) + ".")
    return "".join(parts)


def anomaly_text(anomaly: Anomaly) -> tuple[str, str]:
    """The anomaly's title and body, for the notification, the e-mail and the chat message."""
    subject = f"service {anomaly.service}" if anomaly.service is not None else f"team {anomaly.team}"
    return f"Unusual spend: {subject} on {anomaly.day:%d %b}", anomaly.reason


def anomaly_recipients(anomaly: Anomaly) -> list[User]:
    """The team's leads and the creators and named people of its active budgets, if they may see the anomaly."""
    budgets = Budget.objects.filter(team_id=anomaly.team_id, active=True)
    people = {
        *Membership.objects.filter(team_id=anomaly.team_id, role=Membership.Role.LEAD).values_list(
            "user_id", flat=True
        ),
        *budgets.exclude(created_by=None).values_list("created_by_id", flat=True),
        *Budget.notify.through.objects.filter(budget__in=budgets).values_list("user_id", flat=True),
    }
    candidates = User.objects.filter(is_active=True, pk__in=people).order_by("pk")
    return [user for user in candidates if policy.can(user, policy.VIEW, anomaly)]


def _tell(anomaly: Anomaly) -> None:
    from costs.budgets.tasks import post_to_chat

    title, body = anomaly_text(anomaly)
    notify(
        anomaly_recipients(anomaly),
        Message(ALERT_KIND, title, body, url=reverse("costs:anomalies"), key=f"{ALERT_KIND}:{anomaly.pk}"),
    )
    if anomaly.chat_status == ChatStatus.PENDING:
        transaction.on_commit(lambda: post_to_chat.delay("anomaly", anomaly.pk))


def anomalies_detect(*, today: date | None = None) -> list[Anomaly]:
    """Record and tell the anomalies of the last complete day (yesterday); the ones new now.

    Running it again the same day finds the same anomalies already stored and tells nobody.
    """
    today = today or timezone.localdate()
    day = today - timedelta(days=1)
    days: int = settings.COSTS_ANOMALY_BASELINE_DAYS
    first = day - timedelta(days=days)
    sigmas: Decimal = settings.COSTS_ANOMALY_SIGMAS
    min_increase: Decimal = settings.COSTS_ANOMALY_MIN_INCREASE
    service_team = dict(Service.objects.values_list("pk", "team_id"))
    created: list[Anomaly] = []
    for scope, column in ((AnomalyScope.TEAM, "team_id"), (AnomalyScope.SERVICE, "service_id")):
        series: dict[tuple[int, str], dict[date, Decimal]] = defaultdict(dict)
        rows = (
            CostRollup.objects.filter(**{f"{column}__isnull": False}, day__gte=first, day__lte=day)
            .values_list(column, "currency", "day")
            .annotate(total=Sum("effective_cost"))
            .order_by()
        )
        for owner, currency, when, total in rows:
            series[(owner, currency)][when] = total
        for (owner, currency), by_day in sorted(series.items()):
            if not any(when < day for when in by_day):
                continue  # no history to compare with
            spend = by_day.get(day, Decimal(0))
            baseline = baseline_of([by_day.get(first + timedelta(days=n), Decimal(0)) for n in range(days)])
            if not is_anomalous(spend, baseline, sigmas=sigmas, min_increase=min_increase):
                continue
            team_id = owner if scope == AnomalyScope.TEAM else service_team.get(owner)
            if team_id is None:
                continue
            anomaly = _record(scope, column, owner, team_id, currency, day, first, spend, baseline)
            if anomaly is not None:
                created.append(anomaly)
    return created


def _record(
    scope: str,
    column: str,
    owner: int,
    team_id: int,
    currency: str,
    day: date,
    first: date,
    spend: Decimal,
    baseline: Baseline,
) -> Anomaly | None:
    service_id = owner if scope == AnomalyScope.SERVICE else None
    key: dict[str, Any] = {"scope": scope, "team_id": team_id, "service_id": service_id, "day": day}
    if Anomaly.objects.filter(**key, currency=currency).exists():
        return None
    grown = contributors(column, owner, currency, day, first)
    with transaction.atomic():
        anomaly, made = Anomaly.objects.get_or_create(
            **key,
            currency=currency,
            defaults={
                "spend": spend,
                "baseline_mean": baseline.mean.quantize(Decimal("1e-10")),
                "baseline_stddev": baseline.stddev.quantize(Decimal("1e-10")),
                "baseline_days": baseline.days,
                "contributors": grown,
                "reason": reason_text(spend=spend, currency=currency, day=day, baseline=baseline, grown=grown),
                "chat_status": ChatStatus.PENDING if settings.COSTS_CHAT_WEBHOOK_URL else ChatStatus.NONE,
            },
        )
        if not made:
            return None
        _tell(anomaly)
    return anomaly


def anomaly_list(*, user: Any) -> QuerySet[Anomaly]:
    """The anomalies ``user`` may see, newest day first."""
    return policy.restrict(Anomaly.objects.select_related("team", "service"), user, policy.VIEW).order_by("-day", "-pk")
