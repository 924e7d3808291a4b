"""Writes around cost sources: add, change and disable a source, start an import, upload a FOCUS file,
and the attribution rules. Checked by the policy inside their transaction and audited.

Sources and rules belong to no team (like the price table), so only people
who hold ``costs.change`` without a team limit (managers, platform admins)
may change them; a grant limited to a team never covers them.
"""

from __future__ import annotations

import io
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from access import audit, policy
from access.models import User
from access.permissions import CHANGE
from costs.choices import ChargeClass, SourceKind
from costs.focus import FocusRow, RowError, decode, read_focus
from costs.models import AttributionRule, CostLineItem, CostLoad, CostSource
from costs.parquet import ParquetUnreadable, is_parquet, parquet_lines, row_errors
from costs.sources import IMPORTERS, periods_due
from costs.store import (
    Attributor,
    BillHeldElsewhere,
    HeldBill,
    apply_corrections,
    bills_held_elsewhere,
    load_period,
    month_start,
    rebuild_rollups,
)
from costs.workflows import IMPORT
from workflows import engine
from workflows.models import ACTIVE, Run
from workflows.selectors import runs_of

SOURCE_FIELDS = ["name", "kind", "account", "cluster", "bucket", "prefix", "enabled"]
RULE_FIELDS = ["kind", "key", "value", "priority", "team", "environment", "service"]


def _check(actor: User, action: str, obj: Any) -> None:
    policy.forget(actor)
    policy.require(actor, action, obj)


# ---------------------------------------------------------------- sources


@transaction.atomic
def source_create(*, actor: User, **fields: Any) -> CostSource:
    source = CostSource(**{name: value for name, value in fields.items() if name in SOURCE_FIELDS})
    _check(actor, CHANGE, source)
    source.full_clean()
    source.save()
    audit.record(audit.COST_SOURCE_CREATED, source, actor=actor, after=audit.snapshot(source, SOURCE_FIELDS))
    return source


@transaction.atomic
def source_update(*, actor: User, source_id: int, **fields: Any) -> CostSource:
    """Change a source (``enabled=False`` disables it: it keeps its figures and is no longer imported)."""
    source = policy.get_for_update(CostSource.objects.all(), actor, CHANGE, pk=source_id)
    before = audit.snapshot(source, SOURCE_FIELDS)
    for name, value in fields.items():
        if name not in SOURCE_FIELDS:
            raise TypeError(f"not a source field: {name}")
        setattr(source, name, value.strip() if isinstance(value, str) else value)
    if source.kind != before["kind"] and CostLoad.objects.filter(source=source).exists():
        raise ValidationError({"kind": "A source with loaded periods keeps its kind; add a new source instead."})
    source.full_clean()
    source.save()
    after = audit.snapshot(source, SOURCE_FIELDS)
    if after != before:
        audit.record(audit.COST_SOURCE_CHANGED, source, actor=actor, before=before, after=after)
    return source


def _slot(now: datetime) -> str:
    """The schedule's time slot ``now`` falls in: one scheduled run per source and slot, however often beat fires."""
    seconds = int(settings.COSTS_IMPORT_HOURS * 3600)
    return str(int(now.timestamp()) // seconds)


@transaction.atomic
def import_request(*, actor: User | None, source_id: int, today: date | None = None) -> Run | None:
    """Start a ``costs.import`` run of the source, or return the one under way; None when nothing is due.

    ``actor`` is the person asking ("Import now": they must hold
    ``costs.change``; the start is audited); ``None`` is the schedule, which
    skips disabled sources. The source's row is locked while looking, so two
    requests at once start one run. Periods loaded final are not read again.
    """
    if actor is None:
        source = CostSource.objects.select_for_update().get(pk=source_id)
    else:
        source = policy.get_for_update(CostSource.objects.all(), actor, CHANGE, pk=source_id)
    if source.kind not in IMPORTERS:
        raise ValidationError(f"{source.get_kind_display()} sources are not imported from a cloud.")
    if actor is None and not source.enabled:
        return None
    active = runs_of(source, IMPORT).filter(status__in=ACTIVE).first()
    if active is not None:
        return active
    periods = periods_due(source, today or timezone.localdate())
    if not periods:
        return None
    now = timezone.now()
    trigger = f"schedule:{_slot(now)}" if actor is None else f"manual:{now:%Y%m%dT%H%M%S.%fZ}"
    run = engine.start(
        IMPORT,
        key=f"cost-source:{source.pk}:import:{trigger}",
        subject=source,
        params={"source_id": source.pk, "periods": [period.isoformat() for period in periods]},
        user=actor,
    )
    if actor is not None:
        audit.record(
            audit.COST_IMPORT_REQUESTED,
            source,
            actor=actor,
            after={"run": run.key, "periods": [period.isoformat() for period in periods]},
        )
    return run


def import_scheduled(today: date | None = None) -> list[Run]:
    """Start an import of every enabled source a cloud is read for (beat)."""
    ids = CostSource.objects.filter(enabled=True, kind__in=list(IMPORTERS)).order_by("pk").values_list("pk", flat=True)
    runs = [import_request(actor=None, source_id=source_id, today=today) for source_id in ids]
    return [run for run in runs if run is not None]


# ---------------------------------------------------------------- uploads


@dataclass(frozen=True)
class PeriodOutcome:
    """What an upload did to one billing period: replaced it, applied corrections on top, or found them applied."""

    period: date
    action: str  # one of REPLACED, CORRECTED, ALREADY_CORRECTED
    rows: int

    @property
    def text(self) -> str:
        month = f"{self.period:%B %Y}"
        if self.action == CORRECTED:
            return f"Applied {self.rows} correction{'s' if self.rows != 1 else ''} on top of {month}"
        if self.action == ALREADY_CORRECTED:
            return f"These {self.rows} corrections were already applied to {month}; nothing changed"
        return f"Replaced {month}: {self.rows} rows"


REPLACED = "replaced"
CORRECTED = "corrections applied"
ALREADY_CORRECTED = "corrections already applied"


@dataclass
class UploadResult:
    """What an upload did: the periods it loaded, or the errors that kept it from loading anything."""

    source: CostSource | None = None
    loads: list[CostLoad] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    lines: int = 0
    outcomes: list[PeriodOutcome] = field(default_factory=list)
    replaced_bills: list[HeldBill] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def text(self) -> str:
        """What happened, in words: one sentence per period, and the bills taken over from another source."""
        said = [outcome.text for outcome in self.outcomes]
        said += [
            f"Took over the bill of account {bill.account} for {bill.period:%B %Y} from {bill.source}"
            for bill in self.replaced_bills
        ]
        return ". ".join(said) + "."


def read_upload(data: bytes) -> tuple[list[FocusRow], list[RowError], int]:
    """The rows of an uploaded FOCUS file (CSV, gzip or not, or Parquet) and its errors; nothing is loaded here."""
    if is_parquet(data):  # told by its content (the PAR1 magic), whatever the file's name
        try:
            focus = read_focus(parquet_lines(io.BytesIO(data)))
        except ParquetUnreadable as unreadable:
            return [], [RowError(1, "", f"the file {unreadable}")], 0
        focus.errors = row_errors(focus.errors)
    else:
        try:
            text = decode(data)
        except (UnicodeDecodeError, OSError, EOFError, zlib.error):
            return [], [RowError(1, "", "is not UTF-8 CSV text (or gzip-compressed CSV), nor Parquet")], 0
        focus = read_focus(text)
    if focus.ok and not focus.rows:
        return [], [RowError(2, "", "the file has a header but no rows")], focus.lines
    return focus.rows, focus.errors, focus.lines


def _bills_message(held: list[HeldBill], *, corrections: bool) -> str:
    listed = "; ".join(
        f"account {bill.account} for {bill.period:%B %Y} is loaded by the source {bill.source}" for bill in held
    )
    if corrections:
        return (
            f"Nothing was loaded: {listed}. Corrections apply where their bill is loaded: upload them into "
            f"{', '.join(sorted({bill.source for bill in held}))}."
        )
    return (
        f"Nothing was loaded: {listed}, and a bill is counted from one source only. Upload it into that source, "
        "or tick \u201creplace the bill loaded by the other source\u201d to take it over from there."
    )


@transaction.atomic
def upload_focus(
    *,
    actor: User,
    data: bytes,
    source_id: int | None = None,
    new_source: str = "",
    replace_bills: bool = False,
) -> UploadResult:
    """Load every billing period a FOCUS file holds into an upload source.

    A file with regular rows is the bill: each of its periods is replaced,
    corrections applied before included (sending it twice leaves the same
    figures). A file made only of corrections (ChargeClass "Correction") is
    applied on top of its periods, once: the same corrections sent again
    change nothing; a period the source holds no bill for is refused (a
    correction alone is no bill). A bill (billing account and period) another source
    holds is refused with a message naming it, unless ``replace_bills``
    takes it over (audited with the bills taken). Nothing is loaded (and no
    source is created) when any row is bad or any bill is refused: the errors
    come back, each with its line and column.
    """
    rows, errors, lines = read_upload(data)
    if errors:
        return UploadResult(errors=errors, lines=lines)
    if source_id is not None:
        source = policy.get_for_update(CostSource.objects.all(), actor, CHANGE, pk=source_id)
        if source.kind != SourceKind.UPLOAD:
            raise ValidationError({"source": f"{source} is not an upload source."})
    else:
        source = CostSource.objects.select_for_update().filter(name=new_source, kind=SourceKind.UPLOAD).first() or (
            source_create(actor=actor, name=new_source, kind=SourceKind.UPLOAD)
        )
        _check(actor, CHANGE, source)
    by_period: dict[date, list[FocusRow]] = defaultdict(list)
    for row in rows:
        by_period[month_start(row.billing_period_start)].append(row)
    corrections_only = all(row.charge_class == ChargeClass.CORRECTION for row in rows)
    result = UploadResult(source=source, lines=lines)
    for period in sorted(by_period):
        period_rows = by_period[period]
        held = bills_held_elsewhere(source, period, {row.billing_account_id for row in period_rows})
        if held and (corrections_only or not replace_bills):
            raise ValidationError(_bills_message(held, corrections=corrections_only))
        if corrections_only:
            if not CostLoad.objects.filter(source=source, billing_period_start=period, line_items__gt=0).exists():
                raise ValidationError(
                    f"Nothing was loaded: the file holds only corrections, and {source} has no bill for "
                    f"{period:%B %Y} to apply them to. Load the bill first, or upload the corrections into the "
                    "source that holds it."
                )
            corrected = apply_corrections(source, period, period_rows)
            result.loads.append(corrected.load)
            result.outcomes.append(
                PeriodOutcome(period, CORRECTED if corrected.applied else ALREADY_CORRECTED, corrected.rows)
            )
            continue
        try:
            load = load_period(source, period, period_rows, replace_bills=replace_bills)
        except BillHeldElsewhere as refused:  # taken meanwhile by another source's load
            raise ValidationError(_bills_message(refused.held, corrections=False)) from None
        result.loads.append(load)
        result.outcomes.append(PeriodOutcome(period, REPLACED, load.line_items))
        result.replaced_bills += held
    audit.record(
        audit.COST_UPLOADED,
        source,
        actor=actor,
        after={
            "periods": [load.billing_period_start.isoformat() for load in result.loads],
            "line_items": sum(load.line_items for load in result.loads),
            "lines": lines,
            "outcome": [
                {"period": outcome.period.isoformat(), "action": outcome.action, "rows": outcome.rows}
                for outcome in result.outcomes
            ],
            "bills_taken_over": [
                {"account": bill.account, "period": bill.period.isoformat(), "from_source": bill.source}
                for bill in result.replaced_bills
            ],
        },
    )
    return result


# ---------------------------------------------------------------- attribution rules


@transaction.atomic
def rule_create(*, actor: User, **fields: Any) -> AttributionRule:
    rule = AttributionRule(**{name: value for name, value in fields.items() if name in RULE_FIELDS})
    rule.key = rule.key.strip()
    rule.value = rule.value.strip()
    _check(actor, CHANGE, rule)
    rule.full_clean()
    rule.save()
    audit.record(audit.ATTRIBUTION_RULE_CREATED, rule, actor=actor, after=audit.snapshot(rule, RULE_FIELDS))
    return rule


@transaction.atomic
def rule_delete(*, actor: User, rule_id: int) -> None:
    rule = policy.get_for_update(AttributionRule.objects.all(), actor, CHANGE, pk=rule_id)
    audit.record(audit.ATTRIBUTION_RULE_DELETED, rule, actor=actor, before=audit.snapshot(rule, RULE_FIELDS))
    rule.delete()


def _same_owner(team: int | None, environment: int | None, service: int | None, cluster: int | None) -> Q:
    """Rows already owned so (a missing owner is NULL, which ``=`` never matches)."""
    match = Q()
    for name, value in (
        ("team_id", team),
        ("environment_id", environment),
        ("service_id", service),
        ("cluster_id", cluster),
    ):
        match &= Q(**{f"{name}__isnull": True}) if value is None else Q(**{name: value})
    return match


@transaction.atomic
def reattribute(*, actor: User, since: date) -> int:
    """Apply today's rules to the line items stored from ``since`` on and rebuild their rollups; rows changed.

    Each distinct (tags, account, sub-account) is resolved once and its rows
    updated together, as a load would have attributed them.
    """
    _check(actor, CHANGE, AttributionRule())
    start = month_start(since)
    items = CostLineItem.objects.filter(charge_date__gte=start)
    combinations = items.values_list("tags", "billing_account_id", "sub_account_id").distinct()
    attributor = Attributor()
    changed = 0
    for tags, account, sub_account in combinations:
        owner = attributor.owner(tags, account, sub_account)
        changed += (
            items.filter(tags=tags, billing_account_id=account, sub_account_id=sub_account)
            .exclude(_same_owner(owner.team, owner.environment, owner.service, owner.cluster))
            .update(
                team_id=owner.team, environment_id=owner.environment, service_id=owner.service, cluster_id=owner.cluster
            )
        )
    last = items.order_by("-charge_date").values_list("charge_date", flat=True).first()
    if last is not None:
        rebuild_rollups(start, date.fromordinal(last.toordinal() + 1))
    audit.record(
        audit.COSTS_REATTRIBUTED,
        None,
        actor=actor,
        object_type="costs.attributionrule",
        object_repr=f"line items from {start:%Y-%m}",
        after={"since": start.isoformat(), "line_items_changed": changed},
    )
    return changed
