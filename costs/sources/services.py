"""Writes around cost sources: add, change and disable a source, start an import, upload a FOCUS file,
and the attribution rules. Checked by the policy inside their transaction and audited.

Sources and rules belong to no team (like the price table), so only people
who hold ``costs.change`` without a team limit (managers, platform admins)
may change them; a grant limited to a team never covers them.
"""

from __future__ import annotations

import hashlib
import io
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from access import policy
from access.audit import services as audit
from access.models import User
from access.permissions import CHANGE
from costs.choices import ChargeClass, SourceKind
from costs.focus import CHUNK_BYTES, MAX_ERRORS, FocusRow, RowError, open_focus
from costs.models import AttributionRule, CostLineItem, CostLoad, CostSource, CostUpload
from costs.sources.load import IMPORTERS, periods_due
from costs.store import (
    Attributor,
    BillHeldElsewhere,
    HeldBill,
    apply_corrections,
    bills_held_elsewhere,
    load_focus_file,
    month_start,
    rebuild_rollups,
    rewound,
)
from costs.workflows import IMPORT
from portal import numbers
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
    """What an upload did: the periods it loaded, or the errors that kept it from loading anything.

    ``errors`` lists the first :data:`~costs.focus.MAX_ERRORS` problems, each
    with its line; ``bad_rows`` counts every bad row of the ``lines`` rows
    read, and ``fatal`` is the problem that stopped the reading, if one did.
    ``repeated`` is true when an ``Idempotency-Key`` seen before answered
    the first upload's ``record`` and nothing was loaded again.
    """

    source: CostSource | None = None
    loads: list[CostLoad] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    lines: int = 0
    outcomes: list[PeriodOutcome] = field(default_factory=list)
    replaced_bills: list[HeldBill] = field(default_factory=list)
    bad_rows: int = 0
    fatal: RowError | None = None
    record: CostUpload | None = None
    repeated: bool = False

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

    @property
    def summary(self) -> str:
        """One sentence for the page and the API: how many rows are bad, whether the reading stopped, why."""
        parts = []
        if self.bad_rows:
            rows = "row" if self.lines == 1 else "rows"
            verb = "is" if self.bad_rows == 1 else "are"
            parts.append(f"{numbers.number(self.bad_rows)} of {numbers.number(self.lines)} {rows} {verb} bad")
            if self.bad_rows > len(self.errors) - (1 if self.fatal else 0):
                parts.append(f"the first {MAX_ERRORS} are listed")
        if self.fatal is not None:
            parts.append(f"the file was not read past line {numbers.number(self.fatal.line)}")
        if not parts:
            parts = [str(error) for error in self.errors[:1]]
        if not parts:
            return ""
        text = "; ".join(parts)
        return f"{text[0].upper()}{text[1:]}. Nothing was loaded."


@dataclass
class _Scan:
    periods: set[date]
    accounts: dict[date, set[str]]
    corrections_only: bool
    lines: int
    errors: list[RowError] = field(default_factory=list)
    bad_rows: int = 0
    fatal: RowError | None = None


def _stream(data: IO[bytes] | bytes) -> IO[bytes]:
    return io.BytesIO(data) if isinstance(data, bytes) else data


def _sha256(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    stream.seek(0)
    for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def _scan(stream: IO[bytes]) -> _Scan:
    """Read the whole file once, holding no rows: its billing periods and their accounts, whether it is
    made only of corrections, and every error (in bulk, or row by row where the file needs it)."""
    from costs.bulk import BulkReader, NotBulk

    accounts: dict[date, set[str]] = defaultdict(set)
    corrections_only = True
    try:
        bulk = BulkReader(stream)
        for rows in bulk:
            found = rows.group_by(["billing_period_start", "billing_account_id", "charge_class"]).aggregate([])
            for period, account, charge_class in zip(*found.to_pydict().values(), strict=True):
                accounts[period].add(account)
                corrections_only = corrections_only and charge_class == ChargeClass.CORRECTION
        return _Scan(set(accounts), dict(accounts), corrections_only, bulk.lines)
    except NotBulk:
        accounts.clear()
        corrections_only = True
        stream.seek(0)
    reader = open_focus(stream)
    for row in reader:
        accounts[month_start(row.billing_period_start)].add(row.billing_account_id)
        corrections_only = corrections_only and row.charge_class == ChargeClass.CORRECTION
    return _Scan(
        set(accounts), dict(accounts), corrections_only, reader.lines, reader.errors, reader.bad_rows, reader.fatal
    )


def _rows_of(stream: IO[bytes], period: date) -> Iterator[FocusRow]:
    """The file's rows of one billing period, read again as a stream (the scan found no error)."""
    return (row for row in open_focus(stream) if month_start(row.billing_period_start) == period)


def upload_answer(record: CostUpload) -> dict[str, Any]:
    """What an upload answers (the API's body), the same for the first request and a repeated key."""
    return {
        "upload": record.pk,
        "source": record.source_id,
        "lines": record.lines,
        "line_items": sum(int(period["line_items"]) for period in record.periods),
        "periods": record.periods,
        "uploaded_at": record.uploaded_at,
    }


def _repeat(actor: User, key: str, sha256: str, source: CostSource | None) -> UploadResult | None:
    """The first upload sent with ``key`` by ``actor`` (None if there is none); refused if the file differs."""
    if not key:
        return None
    first = CostUpload.objects.select_related("source").filter(uploaded_by=actor, idempotency_key=key).first()
    if first is None:
        return None
    if first.sha256 != sha256 or (source is not None and first.source_id != source.pk):
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used for another upload (a different file or source); "
            "send a new key for a new upload."
        )
    return UploadResult(source=first.source, record=first, lines=first.lines, repeated=True)


class IdempotencyKeyReused(ValidationError):
    """The same Idempotency-Key came with a different file: refused, nothing loaded."""


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
    data: IO[bytes] | bytes,
    source_id: int | None = None,
    new_source: str = "",
    replace_bills: bool = False,
    idempotency_key: str = "",
    file_name: str = "",
) -> UploadResult:
    """Load every billing period a FOCUS file holds into an upload source.

    ``data`` is the file (plain or gzip) as a seekable binary stream; it is
    read in chunks, never whole: a first pass checks every row and finds the
    billing periods and their accounts, then each period is streamed into the
    store. A file with regular rows is the bill: each of its periods is
    replaced, corrections applied before included (sending it twice leaves
    the same figures). A file made only of corrections (ChargeClass
    "Correction") is applied on top of its periods, once: the same
    corrections sent again change nothing; a period the source holds no bill
    for is refused (a correction alone is no bill). A bill (billing account
    and period) another source holds is refused with a message naming it,
    unless ``replace_bills`` takes it over (audited with the bills taken).
    Nothing is loaded (and no source is created) when any row is bad or any
    bill is refused: the errors come back, each with its line and column.
    The same ``idempotency_key`` from the same person answers the first
    upload without loading again (:class:`IdempotencyKeyReused` for another
    file).
    """
    stream = _stream(data)
    key = idempotency_key.strip()[:200]
    sha256 = _sha256(stream)
    if source_id is not None:
        source = policy.get_for_update(CostSource.objects.all(), actor, CHANGE, pk=source_id)
        if source.kind != SourceKind.UPLOAD:
            raise ValidationError({"source": f"{source} is not an upload source."})
    else:
        source = None
    repeated = _repeat(actor, key, sha256, source)
    if repeated is not None:
        return repeated
    scan = _scan(stream)
    errors = list(scan.errors)
    if not errors and not scan.periods:
        errors = [RowError(2, "", "the file has a header but no rows")]
    if errors:
        return UploadResult(errors=errors, lines=scan.lines, bad_rows=scan.bad_rows, fatal=scan.fatal)
    if source is None:
        source = CostSource.objects.select_for_update().filter(name=new_source, kind=SourceKind.UPLOAD).first() or (
            source_create(actor=actor, name=new_source, kind=SourceKind.UPLOAD)
        )
        _check(actor, CHANGE, source)
    record = CostUpload(source=source, uploaded_by=actor, idempotency_key=key, sha256=sha256, file_name=file_name[:255])
    try:
        with transaction.atomic():  # two requests with one key at once: the second waits here, then answers the first
            record.save()
    except IntegrityError:
        repeated = _repeat(actor, key, sha256, source)
        if repeated is None:  # pragma: no cover (the constraint is on the key alone)
            raise
        return repeated
    result = UploadResult(source=source, lines=scan.lines, record=record)
    for period in sorted(scan.periods):
        held = bills_held_elsewhere(source, period, scan.accounts[period])
        if held and (scan.corrections_only or not replace_bills):
            raise ValidationError(_bills_message(held, corrections=scan.corrections_only))
        if scan.corrections_only:
            if not CostLoad.objects.filter(source=source, billing_period_start=period, line_items__gt=0).exists():
                raise ValidationError(
                    f"Nothing was loaded: the file holds only corrections, and {source} has no bill for "
                    f"{period:%B %Y} to apply them to. Load the bill first, or upload the corrections into the "
                    "source that holds it."
                )
            corrected = apply_corrections(source, period, list(_rows_of(stream, period)))
            result.loads.append(corrected.load)
            result.outcomes.append(
                PeriodOutcome(period, CORRECTED if corrected.applied else ALREADY_CORRECTED, corrected.rows)
            )
            continue
        try:
            load = load_focus_file(source, period, rewound(stream), replace_bills=replace_bills)
        except BillHeldElsewhere as refused:  # taken meanwhile by another source's load
            raise ValidationError(_bills_message(refused.held, corrections=False)) from None
        result.loads.append(load)
        result.outcomes.append(PeriodOutcome(period, REPLACED, load.line_items))
        result.replaced_bills += held
    loads = result.loads
    record.lines = scan.lines
    record.periods = [
        {
            "billing_period_start": load.billing_period_start.isoformat(),
            "line_items": load.line_items,
            "totals": load.totals,
        }
        for load in loads
    ]
    record.save(update_fields=["lines", "periods"])
    audit.record(
        audit.COST_UPLOADED,
        source,
        actor=actor,
        after={
            "periods": [load.billing_period_start.isoformat() for load in loads],
            "line_items": sum(load.line_items for load in loads),
            "lines": scan.lines,
            "sha256": sha256,
            **({"idempotency_key": key} if key else {}),
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
