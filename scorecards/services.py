"""Writes of scorecards: scorecards and their rules (platform admins only, each change audited), and evaluating
every service against them.

Changing a rule drops that rule's stored results (they were judged against the old threshold) and asks a
worker, once the change is committed, to evaluate the scorecard again; so does a platform admin's
"Re-evaluate now". The schedule (``scorecards.evaluate``, beat) evaluates every scorecard.

:func:`scorecards_evaluate` reads everything the checks need in a fixed number of queries
(:func:`scorecards.checks.gather`), judges every service on every rule in memory, and writes the results, the
levels and the day's history row with one upsert each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from access import policy
from access.audit import services as audit
from access.models import User
from access.permissions import ADD, CHANGE, DELETE
from deployments.models import Service
from scorecards import checks
from scorecards.choices import LEVEL_ORDER, CheckKind, Level, ResultStatus
from scorecards.models import (
    MAX_DAYS,
    MAX_PERCENT,
    MIN_DAYS,
    MIN_PERCENT,
    RuleResult,
    Scorecard,
    ScorecardRule,
    ScoreHistory,
    ServiceScore,
)

SCORECARD_FIELDS = ["name", "description"]
# How long the daily history is kept (the cards show the last 90 days; a year and a bit allows comparisons).
HISTORY_KEEP_DAYS = 400
RULE_FIELDS = ["scorecard", "kind", "level", "days", "percent", "extended_support", "description", "title"]
DAYS_MESSAGE = f"Give a whole number of days from {MIN_DAYS} to {MAX_DAYS}, e.g. 14."
PERCENT_MESSAGE = "Give a percentage above 0 and at most 100, e.g. 15 or 12.5."


def _check(actor: User, action: str, obj: Any, refusal: str) -> None:
    """Refuse, saying why, unless ``actor`` may ``action`` on ``obj`` (fresh grants, inside the transaction)."""
    policy.forget(actor)
    if not policy.can(actor, action, obj):
        raise PermissionDenied(refusal)


def _evaluate_after_commit(scorecard_id: int) -> None:
    from scorecards.tasks import evaluate_scorecards

    transaction.on_commit(lambda: evaluate_scorecards.delay(scorecard_id))


# --- scorecards ---------------------------------------------------------------------------------------


def _validate_scorecard(scorecard: Scorecard) -> None:
    scorecard.name = scorecard.name.strip()
    scorecard.description = scorecard.description.strip()
    if not scorecard.name:
        raise ValidationError({"name": "Give the scorecard a name, e.g. Production readiness."})
    clash = Scorecard.objects.filter(name__iexact=scorecard.name).exclude(pk=scorecard.pk).exists()
    if clash:
        raise ValidationError({"name": f"There is already a scorecard named {scorecard.name}; pick another name."})
    scorecard.full_clean(validate_unique=False)


@transaction.atomic
def scorecard_create(*, actor: User, name: str, description: str = "") -> Scorecard:
    """A new scorecard, with no rule yet (every service is evaluated against it once it has some)."""
    scorecard = Scorecard(name=name, description=description)
    _check(actor, ADD, scorecard, "Only platform admins may create scorecards.")
    _validate_scorecard(scorecard)
    scorecard.save()
    audit.record(audit.SCORECARD_CREATED, scorecard, actor=actor, after=audit.snapshot(scorecard, SCORECARD_FIELDS))
    return scorecard


@transaction.atomic
def scorecard_update(*, actor: User, scorecard_id: int, **fields: Any) -> Scorecard:
    """Rename a scorecard or change its description."""
    scorecard = policy.get_for_update(Scorecard.objects.all(), actor, CHANGE, pk=scorecard_id)
    before = audit.snapshot(scorecard, SCORECARD_FIELDS)
    for name, value in fields.items():
        if name not in SCORECARD_FIELDS:
            raise TypeError(f"not a scorecard field: {name}")
        setattr(scorecard, name, value)
    _validate_scorecard(scorecard)
    scorecard.save()
    after = audit.snapshot(scorecard, SCORECARD_FIELDS)
    if after != before:
        audit.record(audit.SCORECARD_CHANGED, scorecard, actor=actor, before=before, after=after)
    return scorecard


@transaction.atomic
def scorecard_delete(*, actor: User, scorecard_id: int) -> None:
    """Delete a scorecard with its rules, results and history."""
    scorecard = policy.get_for_update(Scorecard.objects.all(), actor, DELETE, pk=scorecard_id)
    before = audit.snapshot(scorecard, SCORECARD_FIELDS)
    before["rules"] = [rule.title for rule in scorecard.rules.all()]
    audit.record(
        audit.SCORECARD_DELETED,
        object_type=scorecard._meta.label_lower,
        object_id=str(scorecard.pk),
        object_repr=str(scorecard),
        actor=actor,
        before=before,
    )
    scorecard.delete()


# --- rules --------------------------------------------------------------------------------------------


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal("NaN")


def validate_rule(rule: ScorecardRule) -> None:
    """Check a rule's kind, level and threshold, with messages in words; clear thresholds its kind does not take."""
    errors: dict[str, str] = {}
    if rule.kind not in CheckKind.values:
        errors["kind"] = "Choose what the rule checks."
    if rule.level not in Level.values:
        errors["level"] = "Choose the level the rule belongs to: bronze, silver or gold."
    if rule.kind == CheckKind.DEPLOYED_WITHIN:
        if rule.days is None or isinstance(rule.days, bool) or not MIN_DAYS <= int(rule.days) <= MAX_DAYS:
            errors["days"] = DAYS_MESSAGE
    else:
        rule.days = None
    if rule.kind == CheckKind.CHANGE_FAILURE_RATE:
        percent = _decimal(rule.percent)
        if percent is None or not percent.is_finite() or not MIN_PERCENT <= percent <= MAX_PERCENT:
            errors["percent"] = PERCENT_MESSAGE
        elif percent != percent.quantize(Decimal("0.1")):
            errors["percent"] = "Give the percentage with at most one decimal place, e.g. 12.5."
        else:
            rule.percent = percent
    else:
        rule.percent = None
    if rule.kind != CheckKind.SUPPORTED_KUBERNETES:
        rule.extended_support = True
    rule.description = (rule.description or "").strip()
    if len(rule.description) > 500:
        errors["description"] = "Keep the explanation to 500 characters."
    if errors:
        raise ValidationError(errors)
    same = ScorecardRule.objects.filter(
        scorecard_id=rule.scorecard_id,
        kind=rule.kind,
        level=rule.level,
        days=rule.days,
        percent=rule.percent,
        extended_support=rule.extended_support,
    ).exclude(pk=rule.pk)
    if same.exists():
        raise ValidationError(f"{rule.scorecard} already has the rule “{rule.title}” at {rule.level_label.lower()}.")
    rule.full_clean()


def _rule_snapshot(rule: ScorecardRule) -> dict[str, Any]:
    return audit.snapshot(rule, RULE_FIELDS)


@transaction.atomic
def rule_create(
    *,
    actor: User,
    scorecard: Scorecard,
    kind: str,
    level: str,
    days: int | None = None,
    percent: Decimal | None = None,
    extended_support: bool = True,
    description: str = "",
) -> ScorecardRule:
    """Add a rule to a scorecard; the scorecard is evaluated again once the rule is saved."""
    locked = policy.get_for_update(Scorecard.objects.all(), actor, CHANGE, pk=scorecard.pk)
    rule = ScorecardRule(
        scorecard=locked,
        kind=kind,
        level=level,
        days=days,
        percent=percent,
        extended_support=extended_support,
        description=description,
    )
    _check(actor, ADD, rule, "Only platform admins may add rules to scorecards.")
    validate_rule(rule)
    rule.save()
    audit.record(audit.SCORECARD_RULE_CREATED, rule, actor=actor, after=_rule_snapshot(rule))
    _evaluate_after_commit(locked.pk)
    return rule


@transaction.atomic
def rule_update(*, actor: User, rule_id: int, **fields: Any) -> ScorecardRule:
    """Change a rule's kind, level, threshold or explanation; its results are judged again."""
    rule = policy.get_for_update(ScorecardRule.objects.select_related("scorecard"), actor, CHANGE, pk=rule_id)
    before = _rule_snapshot(rule)
    for name, value in fields.items():
        if name not in RULE_FIELDS or name in ("scorecard", "title"):
            raise TypeError(f"not a field of a rule one may change: {name}")
        setattr(rule, name, value)
    validate_rule(rule)
    rule.save()
    after = _rule_snapshot(rule)
    if after != before:
        audit.record(audit.SCORECARD_RULE_CHANGED, rule, actor=actor, before=before, after=after)
        # Judged against the old threshold: gone until the evaluation below writes them again.
        RuleResult.objects.filter(rule=rule).delete()
        _evaluate_after_commit(rule.scorecard_id)
    return rule


@transaction.atomic
def rule_delete(*, actor: User, rule_id: int) -> None:
    """Remove a rule (its results go with it); the scorecard's levels are evaluated again."""
    rule = policy.get_for_update(ScorecardRule.objects.select_related("scorecard"), actor, DELETE, pk=rule_id)
    # An evaluation writing now would store results of the rule being deleted: it waits for this lock.
    list(Scorecard.objects.select_for_update().filter(pk=rule.scorecard_id).values_list("pk", flat=True))
    audit.record(
        audit.SCORECARD_RULE_DELETED,
        object_type=rule._meta.label_lower,
        object_id=str(rule.pk),
        object_repr=str(rule),
        actor=actor,
        before=_rule_snapshot(rule),
    )
    scorecard_id = rule.scorecard_id
    rule.delete()
    _evaluate_after_commit(scorecard_id)


@transaction.atomic
def evaluation_request(*, actor: User, scorecard_id: int) -> Scorecard:
    """A platform admin's "Re-evaluate now": a worker evaluates every service against the scorecard."""
    scorecard = policy.get_for_update(Scorecard.objects.all(), actor, CHANGE, pk=scorecard_id)
    audit.record(audit.SCORECARD_EVALUATION_REQUESTED, scorecard, actor=actor)
    _evaluate_after_commit(scorecard.pk)
    return scorecard


# --- evaluating ---------------------------------------------------------------------------------------


def level_reached(rules: Sequence[ScorecardRule], statuses: dict[int, str]) -> str:
    """The highest level whose rules, and every lower level's, all passed ("" for none).

    A level with no rule neither gives nor blocks anything: a scorecard of only gold rules gives gold or nothing.
    A rule not checked (a cloud that could not be asked) is not passed.
    """
    reached = ""
    for level in LEVEL_ORDER:
        of_level = [rule for rule in rules if rule.level == level]
        if any(statuses.get(rule.pk) != ResultStatus.PASSED for rule in of_level):
            break
        if of_level:
            reached = level
    return reached


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation did: how many services it judged on how many scorecards, and when."""

    services: int
    scorecards: int
    results: int
    at: datetime


def scorecards_evaluate(*, scorecard_ids: Sequence[int] | None = None, now: datetime | None = None) -> Evaluation:
    """Evaluate every service against every scorecard (or those of ``scorecard_ids``) and store what was found.

    Stores each rule's result (pass, fail or not checked, and why), each service's level on each scorecard, and
    the day's history row (the day's last evaluation wins). The number of queries does not grow with the
    number of services. Safe to run twice at once: the writes are upserts, made while the scorecards' rows are
    locked, and a rule deleted meanwhile is left out.
    """
    now = now or timezone.now()
    scorecards = Scorecard.objects.prefetch_related("rules").order_by("pk")
    if scorecard_ids is not None:
        scorecards = scorecards.filter(pk__in=list(scorecard_ids))
    scorecard_list = list(scorecards)
    rules = [rule for scorecard in scorecard_list for rule in scorecard.rules.all()]
    services = list(Service.objects.select_related("team").order_by("pk"))
    facts = checks.gather(services, {rule.kind for rule in rules}, now=now)
    results: list[RuleResult] = []
    scores: list[ServiceScore] = []
    history: list[ScoreHistory] = []
    today = timezone.localdate(now)
    for service in services:
        for scorecard in scorecard_list:
            card_rules = list(scorecard.rules.all())
            statuses: dict[int, str] = {}
            for rule in card_rules:
                outcome = checks.check(rule, service, facts)
                statuses[rule.pk] = outcome.status
                results.append(
                    RuleResult(
                        service=service, rule=rule, status=outcome.status, reason=outcome.reason, evaluated_at=now
                    )
                )
            level = level_reached(card_rules, statuses)
            passed = sum(status == ResultStatus.PASSED for status in statuses.values())
            total = len(card_rules)
            scores.append(
                ServiceScore(
                    service=service, scorecard=scorecard, level=level, passed=passed, total=total, evaluated_at=now
                )
            )
            history.append(
                ScoreHistory(service=service, scorecard=scorecard, day=today, level=level, passed=passed, total=total)
            )
    _store(scorecard_list, services, results, scores, history, keep_since=today - timedelta(days=HISTORY_KEEP_DAYS))
    return Evaluation(services=len(services), scorecards=len(scorecard_list), results=len(results), at=now)


@transaction.atomic
def _store(
    scorecards: list[Scorecard],
    services: list[Service],
    results: list[RuleResult],
    scores: list[ServiceScore],
    history: list[ScoreHistory],
    *,
    keep_since: date,
) -> None:
    """Write an evaluation's rows in one upsert per table, leaving out rules and services deleted meanwhile, and
    forget history older than ``keep_since``."""
    if not scorecards:
        return
    ids = [scorecard.pk for scorecard in scorecards]
    # Rule changes lock their scorecard too, so none is deleted or changed between this read and the writes.
    live_scorecards = set(Scorecard.objects.select_for_update().filter(pk__in=ids).values_list("pk", flat=True))
    live_rules = set(ScorecardRule.objects.filter(scorecard_id__in=ids).values_list("pk", flat=True))
    # FOR NO KEY UPDATE keeps the services from being deleted until these rows are in (their edits wait too).
    live_services = set(
        Service.objects.filter(pk__in=[service.pk for service in services])
        .select_for_update(no_key=True)
        .values_list("pk", flat=True)
    )
    results = [row for row in results if row.rule_id in live_rules and row.service_id in live_services]
    scores = [row for row in scores if row.scorecard_id in live_scorecards and row.service_id in live_services]
    history = [row for row in history if row.scorecard_id in live_scorecards and row.service_id in live_services]
    if results:
        RuleResult.objects.bulk_create(
            results,
            update_conflicts=True,
            unique_fields=["service", "rule"],
            update_fields=["status", "reason", "evaluated_at"],
        )
    if scores:
        ServiceScore.objects.bulk_create(
            scores,
            update_conflicts=True,
            unique_fields=["service", "scorecard"],
            update_fields=["level", "passed", "total", "evaluated_at"],
        )
    ScoreHistory.objects.filter(scorecard_id__in=ids, day__lt=keep_since).delete()
    if history:
        ScoreHistory.objects.bulk_create(
            history,
            update_conflicts=True,
            unique_fields=["service", "scorecard", "day"],
            update_fields=["level", "passed", "total"],
        )
