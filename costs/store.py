"""Writing the cost store: load a source's billing period, attribute its rows once, rebuild the daily rollups.

A load replaces the period's line items exactly, in one transaction: a
failed load leaves the previous figures as they were. A file made only of
corrections (FOCUS ChargeClass "Correction") is applied on top of the period
instead (:func:`apply_corrections`), once however often it is sent. A bill
(billing account and period) is counted from one authoritative source only:
a load that would add a bill another source holds is refused, unless told to
take the bill over. Rows are written with
PostgreSQL ``COPY`` (the store holds tens of millions of them). Figures from
the bill (FOCUS exports, uploads, on-prem allocation) win over the fresh
month-to-date APIs: the bill's rows for an account and day remove the fresh
ones, and fresh rows for a day the bill already covers are not stored, so
nothing is counted twice. After every load the rollups of the days it
touched are rebuilt from the line items, splitting each cluster's cost over
its namespaces by the day's allocation shares; pages read only rollups.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import astuple, dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone

from access.models import Team
from costs import report_cache
from costs.choices import AUTHORITATIVE_SOURCES, RuleKind
from costs.focus import FocusReader, FocusRow, InputLimits, RowError, open_focus
from costs.models import AttributionRule, CostLineItem, CostLoad, CostSource
from deployments.models import Service
from environments.models import Environment
from regions.models import Cluster

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger(__name__)

# Tags the portal puts on what it creates (environments/workflows.py), read before the rules.
ENVIRONMENT_TAG = "portal:environment-id"
TEAM_TAG = "portal:team"
SERVICE_TAG = "portal:service"
# Tags by which EKS, AKS and the portal mark a cluster's nodes: their cost is split over the namespaces.
CLUSTER_TAGS = ("portal:cluster", "eks:cluster-name", "aks-managed-cluster-name")

LINE_ITEM_COLUMNS = (
    "load_id",
    "charge_date",
    "billing_period_start",
    "charge_category",
    "charge_class",
    "provider",
    "service_name",
    "service_category",
    "region_code",
    "billing_account_id",
    "sub_account_id",
    "resource_id",
    "pricing_category",
    "commitment_discount_id",
    "commitment_discount_status",
    "tags",
    "billed_cost",
    "effective_cost",
    "list_cost",
    "contracted_cost",
    "currency",
    "team_id",
    "environment_id",
    "service_id",
    "cluster_id",
)


@dataclass(frozen=True)
class Owner:
    """Who a line item's cost belongs to, as resolved at load."""

    team: int | None = None
    environment: int | None = None
    service: int | None = None
    cluster: int | None = None


class Attributor:
    """Resolves tags and accounts to a team, environment and service: tag rules, the portal's own tags, accounts.

    Built once per load, it answers each distinct (tags, account) from memory.
    What matches nothing is left unowned, and shows as unallocated.
    """

    def __init__(self) -> None:
        rules = list(AttributionRule.objects.order_by("priority", "id"))
        self.tag_rules = [rule for rule in rules if rule.kind == RuleKind.TAG]
        self.account_rules = {rule.value: rule for rule in rules if rule.kind == RuleKind.ACCOUNT}
        self.environment_team = dict(Environment.objects.values_list("id", "team_id"))
        self.team_by_slug = dict(Team.objects.values_list("slug", "id"))
        self.service_by_slug = dict(Service.objects.values_list("slug", "id"))
        self.service_team = dict(Service.objects.values_list("id", "team_id"))
        self.cluster_by_name: dict[str, int] = {}
        for cluster_id, name in Cluster.objects.values_list("id", "name"):
            self.cluster_by_name.setdefault(name, cluster_id)
        self._cache: dict[tuple[tuple[tuple[str, str], ...], str, str], Owner] = {}

    def owner(self, tags: dict[str, str], billing_account_id: str, sub_account_id: str) -> Owner:
        key = (tuple(tags.items()), billing_account_id, sub_account_id)  # same tags, same order: one file's rows
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._resolve(tags, billing_account_id, sub_account_id)
        return found

    def _resolve(self, tags: dict[str, str], billing_account_id: str, sub_account_id: str) -> Owner:
        team = environment = service = None
        for rule in self.tag_rules:
            if tags.get(rule.key) == rule.value:
                team, environment, service = rule.team_id, rule.environment_id, rule.service_id
                break
        else:
            environment = _int(tags.get(ENVIRONMENT_TAG))
            if environment not in self.environment_team:
                environment = None
            team = self.team_by_slug.get(tags.get(TEAM_TAG, ""))
            service = self.service_by_slug.get(tags.get(SERVICE_TAG, ""))
            if not (team or environment or service):
                by_account = self.account_rules.get(sub_account_id) or self.account_rules.get(billing_account_id)
                if by_account is not None:
                    team, environment, service = by_account.team_id, by_account.environment_id, by_account.service_id
        if team is None and environment is not None:
            team = self.environment_team.get(environment)
        if team is None and service is not None:
            team = self.service_team.get(service)
        cluster = None
        if not (team or environment or service):
            cluster = next(
                (self.cluster_by_name[tags[tag]] for tag in CLUSTER_TAGS if tags.get(tag) in self.cluster_by_name), None
            )
        return Owner(team, environment, service, cluster)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def month_start(day: date) -> date:
    return day.replace(day=1)


@dataclass(frozen=True)
class HeldBill:
    """A bill (billing account x billing period) another authoritative source already holds."""

    load_id: int
    source: str
    account: str
    period: date

    def __str__(self) -> str:
        return (
            f"the bill of account {self.account} for {self.period:%B %Y} is already loaded by the source {self.source}"
        )


class BillHeldElsewhere(Exception):
    """A load would count a bill twice: another authoritative source holds it. Nothing was loaded."""

    def __init__(self, held: list[HeldBill]) -> None:
        self.held = held
        listed = "; ".join(str(bill) for bill in held)
        super().__init__(f"Not loaded: {listed}. A bill is counted from one source only.")


def bills_held_elsewhere(source: CostSource, period: date, accounts: Iterable[str]) -> list[HeldBill]:
    """The bills of ``accounts`` in ``period`` that another authoritative source holds (none for a fresh source:
    the month-to-date APIs give way to the bill day by day instead, see :func:`_covered_by_the_bill`)."""
    wanted = set(accounts)
    if not source.authoritative or not wanted:
        return []
    others = (
        CostLoad.objects.filter(
            source__kind__in=AUTHORITATIVE_SOURCES, billing_period_start=month_start(period), line_items__gt=0
        )
        .exclude(source=source)
        .select_related("source")
        .order_by("source__name")
    )
    return [
        HeldBill(load.pk, load.source.name, account, load.billing_period_start)
        for load in others
        for account in sorted(wanted & set(load.coverage))
    ]


def load_period(
    source: CostSource,
    billing_period_start: date,
    rows: Iterable[FocusRow] | BulkRows,
    *,
    final: bool = False,
    requests: int = 0,
    request_cost: Decimal = Decimal(0),
    replace_bills: bool = False,
) -> CostLoad:
    """Replace ``source``'s line items of one billing period with ``rows`` and rebuild the touched rollups.

    Every row must belong to the period. A period the provider marked final
    is not replaced again (the caller decides whether to fetch it at all).
    Corrections applied on top of the period before are replaced too: the
    full bill includes them. A bill (billing account and period) another
    authoritative source holds is never added: the load raises
    :class:`BillHeldElsewhere` and nothing is stored, unless ``replace_bills``
    says to take the bill over (the other source's rows of it are removed).
    """
    period = month_start(billing_period_start)
    with transaction.atomic():
        locked = CostSource.objects.select_for_update().get(pk=source.pk)
        load, created = CostLoad.objects.get_or_create(source=locked, billing_period_start=period)
        old_days = _days_of(load) if not created else None
        CostLineItem.objects.filter(load=load).delete()
        covered = _covered_by_the_bill(locked, period) if not locked.authoritative else {}
        if isinstance(rows, BulkRows):
            if covered:  # only the bill's own sources read files; the fresh ones give a few rows a day
                raise ValueError("a fresh source's rows are written row by row")
            written = _write_bulk(load, period, rows.tables)
        else:
            written = _write(load, period, rows, covered)
        spans = [span for span in (old_days, _days_of(load)) if span is not None]
        held = bills_held_elsewhere(locked, period, written.coverage)
        if held and not replace_bills:
            raise BillHeldElsewhere(held)
        spans += [span for bill in held if (span := _remove_bill(bill)) is not None]
        if locked.authoritative and written.coverage:
            _drop_fresh_rows_covered(written.coverage)
        load.final = final
        load.line_items = written.count
        load.superseded = written.superseded
        load.totals = _totals_json(written.totals)
        load.coverage = _coverage_json(written.coverage)
        load.corrections = []
        load.requests = requests
        load.request_cost = request_cost
        load.loaded_at = timezone.now()
        if not created:
            load.loads += 1
        load.save()
        locked.last_import_at = load.loaded_at
        locked.last_error = ""
        locked.save(update_fields=["last_import_at", "last_error"])
        if spans:
            rebuild_rollups(
                min(span[0] for span in spans), max(span[1] for span in spans), summed=(load.pk, written.sums)
            )
    return load


def corrections_digest(rows: Iterable[FocusRow]) -> str:
    """What identifies a set of correction rows: a SHA-256 over the rows' values in a fixed order.

    The order of the rows, the file's name, its compression and line endings
    do not change it, so the same corrections sent again are recognised.
    """
    lines = sorted(
        json.dumps([str(value) if not isinstance(value, dict) else sorted(value.items()) for value in astuple(row)])
        for row in rows
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@dataclass(frozen=True)
class Corrected:
    """What applying corrections did: the period's load, and whether they were new (else already applied)."""

    load: CostLoad
    applied: bool
    rows: int


def apply_corrections(source: CostSource, billing_period_start: date, rows: list[FocusRow]) -> Corrected:
    """Add correction rows (FOCUS ChargeClass "Correction") on top of ``source``'s billing period.

    Delta corrections carry the difference; ledger corrections a reversal of
    the original row and the corrected row: either way the period's figures
    become the sum. The same corrections applied again (same digest, see
    :func:`corrections_digest`) add nothing. Loading the period in full
    afterwards replaces them with the full bill. A bill another source holds
    is corrected there, not here (:class:`BillHeldElsewhere`).
    """
    period = month_start(billing_period_start)
    digest = corrections_digest(rows)
    with transaction.atomic():
        locked = CostSource.objects.select_for_update().get(pk=source.pk)
        held = bills_held_elsewhere(locked, period, {row.billing_account_id for row in rows})
        if held:
            raise BillHeldElsewhere(held)
        load, _ = CostLoad.objects.get_or_create(source=locked, billing_period_start=period)
        if any(entry.get("digest") == digest for entry in load.corrections):
            return Corrected(load, applied=False, rows=len(rows))
        written = _write(load, period, rows, {})
        totals = {
            currency: {basis: Decimal(amount) for basis, amount in sums.items()}
            for currency, sums in load.totals.items()
        }
        for currency, sums in written.totals.items():
            into = totals.setdefault(currency, {"billed": Decimal(0), "effective": Decimal(0), "list": Decimal(0)})
            for basis, amount in sums.items():
                into[basis] = into.get(basis, Decimal(0)) + amount
        coverage = {account: {date.fromisoformat(day) for day in days} for account, days in load.coverage.items()}
        for account, days in written.coverage.items():
            coverage.setdefault(account, set()).update(days)
        if locked.authoritative and written.coverage:
            _drop_fresh_rows_covered(written.coverage)
        load.line_items += written.count
        load.totals = _totals_json(totals)
        load.coverage = _coverage_json(coverage)
        load.loaded_at = timezone.now()
        load.corrections = [
            *load.corrections,
            {"digest": digest, "rows": written.count, "applied_at": load.loaded_at.isoformat()},
        ]
        load.save()
        locked.last_import_at = load.loaded_at
        locked.save(update_fields=["last_import_at"])
        touched = [day for found in written.coverage.values() for day in found]
        if touched:
            rebuild_rollups(min(touched), max(touched) + timedelta(days=1))
    return Corrected(load, applied=True, rows=written.count)


def _totals_json(totals: dict[str, dict[str, Decimal]]) -> dict[str, dict[str, str]]:
    """The totals as text at the store's ten places (one amount, one text: 0 is 0.0000000000, never 0E-10)."""
    return {
        currency: {basis: f"{amount:.10f}" for basis, amount in sums.items()}
        for currency, sums in sorted(totals.items())
    }


def _coverage_json(coverage: dict[str, set[date]]) -> dict[str, list[str]]:
    return {account: sorted(day.isoformat() for day in found) for account, found in coverage.items()}


def _remove_bill(bill: HeldBill) -> tuple[date, date] | None:
    """Remove another source's rows of a bill being taken over and re-sum its load; the days it held."""
    table = CostLineItem._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE load_id = %s AND billing_account_id = %s "  # noqa: S608  # nosec B608
            "RETURNING charge_date",
            [bill.load_id, bill.account],
        )
        removed = [day for (day,) in cursor.fetchall()]
        cursor.execute(
            f"SELECT currency, SUM(billed_cost), SUM(effective_cost), SUM(list_cost), COUNT(*) "  # noqa: S608  # nosec B608
            f"FROM {table} WHERE load_id = %s GROUP BY currency",
            [bill.load_id],
        )
        sums = cursor.fetchall()
    load = CostLoad.objects.select_for_update().get(pk=bill.load_id)
    load.totals = _totals_json(
        {
            currency: {"billed": billed, "effective": effective, "list": listed}
            for currency, billed, effective, listed, _ in sums
        }
    )
    load.line_items = sum(count for *_, count in sums)
    load.coverage = {account: days for account, days in load.coverage.items() if account != bill.account}
    load.save(update_fields=["totals", "line_items", "coverage"])
    return (min(removed), max(removed) + timedelta(days=1)) if removed else None


class InvalidFocusFile(Exception):
    """A FOCUS file had bad rows; nothing of it was loaded."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} bad row(s), first: {errors[0]}" if errors else "bad file")
        self.errors = errors


def load_focus(source: CostSource, billing_period_start: date, reader: FocusReader, **options: Any) -> CostLoad:
    """Load one billing period streamed from a FOCUS file; a single bad row rolls the whole load back."""
    with transaction.atomic():
        load = load_period(source, billing_period_start, reader, **options)
        if reader.errors:
            raise InvalidFocusFile(reader.errors)
    return load


def load_focus_file(
    source: CostSource,
    billing_period_start: date,
    open_file: Callable[[], IO[bytes]],
    *,
    limits: InputLimits | None = None,
    **options: Any,
) -> CostLoad:
    """Load one billing period from the rows of that period in a FOCUS file (CSV plain or gzip, or Parquet).

    The file is read in bulk (:class:`costs.bulk.BulkReader`); where it
    needs the row reader (it may have a bad row), the bulk load is rolled
    back and the file, opened again with ``open_file``, is read row by row,
    which names every error with its line (:class:`InvalidFocusFile`).
    ``open_file`` gives the file at its start; whoever opened it closes it
    (:func:`rewound` serves a seekable file opened once).
    """
    from costs.bulk import BulkReader

    period = month_start(billing_period_start)
    load = load_in_bulk(source, period, lambda: BulkReader(open_file(), limits=limits, period=period), **options)
    if load is not None:
        return load
    with transaction.atomic():
        reader = open_focus(open_file(), limits=limits)
        rows = (row for row in reader if month_start(row.billing_period_start) == period)
        load = load_period(source, period, rows, **options)
        if reader.errors:
            raise InvalidFocusFile(reader.errors)
    return load


def load_in_bulk(
    source: CostSource, period: date, tables: Callable[[], Iterable[pa.Table]], **options: Any
) -> CostLoad | None:
    """Load ``period`` from store-shaped tables (:mod:`costs.bulk`); None, with nothing loaded, where the file
    needs the row reader (the bulk reader raised ``NotBulk``: the caller reads it row by row)."""
    from costs.bulk import NotBulk

    try:
        with transaction.atomic():
            return load_period(source, period, BulkRows(tables()), **options)
    except NotBulk as reason:
        logger.info("The FOCUS files for %s of %s are read row by row: %s", f"{period:%Y-%m}", source, reason)
        return None


def rewound(stream: IO[bytes]) -> Callable[[], IO[bytes]]:
    """Gives the seekable ``stream`` at its start, each time it is asked for (see :func:`load_focus_file`)."""

    def start() -> IO[bytes]:
        stream.seek(0)
        return stream

    return start


@dataclass
class BulkRows:
    """Store-shaped tables of day rows (:mod:`costs.bulk`) of one billing period, written as they come."""

    tables: Iterable[pa.Table]


@dataclass
class _Written:
    count: int
    superseded: int
    totals: dict[str, dict[str, Decimal]]
    coverage: dict[str, set[date]]
    sums: pa.Table | None = None  # the rows summed by ROLLUP_KEYS (bulk loads), see rebuild_rollups


# COPY's text format: a backslash, tab, newline or carriage return in a value is written escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# Rows sent to COPY at a time (as one block of text), and tag sets remembered before starting over.
COPY_BATCH_ROWS = 5000
TAG_SETS_KEPT = 20_000


def _copy_text(value: str) -> str:
    return value.translate(_COPY_ESCAPES)


def _copy_id(value: int | None) -> str:
    return "\\N" if value is None else str(value)


def _write(load: CostLoad, period: date, rows: Iterable[FocusRow], covered: dict[str, set[date]]) -> _Written:
    """COPY ``rows`` in as ``load``'s line items, as text lines sent a batch at a time.

    What rows repeat is formatted once: a row's tags (its JSON and its owner per
    account, :class:`Attributor`) once per tag set the reader handed out.
    """
    attributor = Attributor()
    totals: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {"billed": Decimal(0), "effective": Decimal(0), "list": Decimal(0), "contracted": Decimal(0)}
    )
    coverage: dict[str, set[date]] = defaultdict(set)
    count = superseded = 0
    # id(tags) -> (the tags, kept so the id is not reused; their JSON as COPY text)
    tag_sets: dict[int, tuple[dict[str, str], str]] = {}
    owners: dict[tuple[str, str, str], str] = {}
    head = f"{load.pk}\t"
    month = f"\t{period.isoformat()}\t"
    batch: list[str] = []
    columns = ", ".join(LINE_ITEM_COLUMNS)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {CostLineItem._meta.db_table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            if row.billing_period_start.year != period.year or row.billing_period_start.month != period.month:
                raise ValueError(
                    f"a row of billing period {row.billing_period_start:%Y-%m} in the load of {period:%Y-%m}"
                )
            if covered and row.charge_date in covered.get(row.billing_account_id, ()):
                superseded += 1
                continue
            tags = row.tags
            known = tag_sets.get(id(tags))
            if known is None or known[0] is not tags:
                if len(tag_sets) >= TAG_SETS_KEPT:
                    tag_sets.clear()
                known = tag_sets[id(tags)] = (tags, _copy_text(json.dumps(tags)))
            owner_key = (known[1], row.billing_account_id, row.sub_account_id)
            owner_text = owners.get(owner_key)
            if owner_text is None:
                if len(owners) >= TAG_SETS_KEPT:
                    owners.clear()
                owner = attributor.owner(tags, row.billing_account_id, row.sub_account_id)
                owner_text = owners[owner_key] = "\t".join(
                    _copy_id(value) for value in (owner.team, owner.environment, owner.service, owner.cluster)
                )
            contracted = row.contracted
            texts = (
                row.charge_category,
                row.charge_class,
                row.provider,
                row.service_name,
                row.service_category,
                row.region_code,
                row.billing_account_id,
                row.sub_account_id,
                row.resource_id,
                row.pricing_category,
                row.commitment_discount_id,
                row.commitment_discount_status,
                row.currency,
            )
            text = "\t".join(texts)
            if text.count("\t") != len(texts) - 1 or "\\" in text or "\n" in text or "\r" in text:
                text = "\t".join(_copy_text(value) for value in texts)
            *described, currency = text.rsplit("\t", 1)
            batch.append(
                "\t".join(
                    (
                        head + row.charge_date.isoformat() + month + described[0],
                        known[1],
                        str(row.billed_cost),
                        str(row.effective_cost),
                        str(row.list_cost),
                        str(contracted),
                        currency,
                        owner_text,
                    )
                )
            )
            if len(batch) >= COPY_BATCH_ROWS:
                batch.append("")
                copy.write("\n".join(batch))
                batch.clear()
            sums = totals[row.currency]
            sums["billed"] += row.billed_cost
            sums["effective"] += row.effective_cost
            sums["list"] += row.list_cost
            sums["contracted"] += contracted
            coverage[row.billing_account_id].add(row.charge_date)
            count += 1
        if batch:
            batch.append("")
            copy.write("\n".join(batch))
    return _Written(count, superseded, dict(totals), dict(coverage))


def _write_bulk(load: CostLoad, period: date, tables: Iterable[pa.Table]) -> _Written:
    """COPY store-shaped tables of day rows (:mod:`costs.bulk`) in as ``load``'s line items, as CSV.

    Each table is attributed once per distinct tag set and account
    (:class:`Attributor`), made CSV and summed by the rollups' keys by pyarrow
    on a thread of its own while PostgreSQL reads the previous one
    (:func:`_pipelined`): the sums spare the rollups a pass over the rows.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    attributor = Attributor()
    owners: dict[str, tuple[int | None, ...]] = {}
    summed = _Sums()

    def blocks() -> Iterator[pa.Buffer]:
        for table in tables:
            if not table.num_rows:
                continue
            periods = pc.unique(table["billing_period_start"]).to_pylist()
            if periods != [period]:
                stray = next(found for found in periods if found != period)
                raise ValueError(f"a row of billing period {stray:%Y-%m} in the load of {period:%Y-%m}")
            who = pc.dictionary_encode(
                pc.binary_join_element_wise(
                    table["tags"], table["billing_account_id"], table["sub_account_id"], OWNER_KEY_SEPARATOR
                )
            ).combine_chunks()
            found = []
            for key in who.dictionary.to_pylist():
                owner = owners.get(key)
                if owner is None:
                    if len(owners) >= TAG_SETS_KEPT:
                        owners.clear()
                    tags, account, sub_account = key.split(OWNER_KEY_SEPARATOR)
                    owner = owners[key] = astuple(attributor.owner(json.loads(tags), account, sub_account))
                found.append(owner)
            ids = [pc.take(pa.array([owner[n] for owner in found], pa.int64()), who.indices) for n in range(4)]
            described = (table[name] for name in LINE_ITEM_COLUMNS[1:-4])
            out = pa.Table.from_arrays(
                [pa.repeat(pa.scalar(load.pk, pa.int64()), table.num_rows), *described, *ids],
                names=list(LINE_ITEM_COLUMNS),
            )
            sink = pa.BufferOutputStream()
            # One chunk per column: pyarrow's CSV writer misplaces the values of a column split into chunks unlike
            # the others' (an empty chunk first wrote 8 KiB of NUL bytes before the row).
            pa_csv.write_csv(out.combine_chunks(), sink, pa_csv.WriteOptions(include_header=False))
            yield sink.getvalue()
            summed.add(out)

    columns = ", ".join(LINE_ITEM_COLUMNS)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {CostLineItem._meta.db_table} ({columns}) FROM STDIN (FORMAT csv)") as copy,
    ):
        _pipelined(blocks(), copy.write)
    sums = summed.table()
    if sums is None:
        return _Written(0, 0, {}, {})
    totals: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {"billed": Decimal(0), "effective": Decimal(0), "list": Decimal(0), "contracted": Decimal(0)}
    )
    coverage: dict[str, set[date]] = defaultdict(set)
    count = 0
    for row in sums.select(
        ["currency", "billing_account_id", "charge_date", *AMOUNT_COLUMNS, "line_items"]
    ).to_pylist():
        into = totals[row["currency"]]
        for column in AMOUNT_COLUMNS:
            into[column.removesuffix("_cost")] += row[column]
        coverage[row["billing_account_id"]].add(row["charge_date"])
        count += row["line_items"]
    return _Written(count, 0, dict(totals), dict(coverage), sums)


# What the rollups group line items by (REBUILD_SQL's sums), and the amounts they add up.
ROLLUP_KEYS = (
    "charge_date",
    "billing_period_start",
    "currency",
    "provider",
    "region_code",
    "billing_account_id",
    "sub_account_id",
    "service_name",
    "service_category",
    "charge_category",
    "charge_class",
    "pricing_category",
    "commitment_discount_status",
    "team_id",
    "environment_id",
    "service_id",
    "cluster_id",
)
AMOUNT_COLUMNS = ("billed_cost", "effective_cost", "list_cost", "contracted_cost")
# Partial sums kept before they are added up again (memory stays bounded by the distinct keys, not the rows).
SUMS_KEPT = 500_000


class _Sums:
    """Line items summed by :data:`ROLLUP_KEYS` as they are written, a table at a time."""

    def __init__(self) -> None:
        self._parts: list[pa.Table] = []
        self._rows = 0

    def add(self, items: pa.Table) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        from costs.bulk import AMOUNT

        amounts = [pc.cast(items[column], AMOUNT) for column in AMOUNT_COLUMNS]
        keyed = items.select(list(ROLLUP_KEYS)).append_column(
            "line_items", pa.repeat(pa.scalar(1, pa.int64()), items.num_rows)
        )
        for column, values in zip(AMOUNT_COLUMNS, amounts, strict=True):
            keyed = keyed.append_column(column, values)
        self._keep(_sum_by_keys(keyed))

    def _keep(self, part: pa.Table) -> None:
        self._parts.append(part)
        self._rows += part.num_rows
        if self._rows > SUMS_KEPT and len(self._parts) > 1:
            merged = self.table()
            assert merged is not None  # noqa: S101 (there are parts)
            self._parts, self._rows = [merged], merged.num_rows

    def table(self) -> pa.Table | None:
        """The sums so far (None when nothing was added)."""
        import pyarrow as pa

        if not self._parts:
            return None
        return _sum_by_keys(pa.concat_tables(self._parts))


def _sum_by_keys(table: pa.Table) -> pa.Table:
    summed = table.group_by(list(ROLLUP_KEYS), use_threads=False).aggregate(
        [(column, "sum") for column in ("line_items", *AMOUNT_COLUMNS)]
    )
    return summed.rename_columns([name.removesuffix("_sum") for name in summed.column_names])


# Joins a row's tags, billing account and sub-account into one key (a character none of them holds).
OWNER_KEY_SEPARATOR = "\x1f"
_DONE = object()


def _pipelined(blocks: Iterator[Any], write: Callable[[Any], None]) -> None:
    """``write`` each of ``blocks``, made on a thread of its own while the one before is written.

    At most two blocks wait, so memory stays bounded; an error on either side
    stops both and is raised here.
    """
    waiting: queue.Queue[object] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def make() -> None:
        try:
            for block in blocks:
                while not stop.is_set():
                    try:
                        waiting.put(block, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            waiting.put(_DONE)
        except BaseException as error:  # noqa: BLE001 (handed to the writing thread, which raises it)
            waiting.put(error)

    maker = threading.Thread(target=make, name="costs-bulk-load", daemon=True)
    maker.start()
    try:
        while (item := waiting.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            write(item)
    finally:
        stop.set()
        maker.join()


def _days_of(load: CostLoad) -> tuple[date, date] | None:
    """The first day and the day after the last of the load's line items (None when it has none)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MIN(charge_date), MAX(charge_date) FROM {CostLineItem._meta.db_table} WHERE load_id = %s",  # noqa: S608  # nosec B608
            [load.pk],
        )
        first, last = cursor.fetchone()
    return None if first is None else (first, last + timedelta(days=1))


def _covered_by_the_bill(source: CostSource, period: date) -> dict[str, set[date]]:
    """The accounts and days the bill's sources already hold, around ``period``."""
    covered: dict[str, set[date]] = defaultdict(set)
    previous = month_start(period - timedelta(days=1))
    loads = CostLoad.objects.filter(
        source__kind__in=AUTHORITATIVE_SOURCES, billing_period_start__in=[previous, period]
    ).values_list("coverage", flat=True)
    for coverage in loads:
        for account, days in coverage.items():
            covered[account].update(date.fromisoformat(day) for day in days)
    return dict(covered)


def _drop_fresh_rows_covered(coverage: dict[str, set[date]]) -> None:
    """Delete the fresh sources' rows for the accounts and days the bill now covers (the caller rebuilds those days)."""
    fresh = CostLoad.objects.exclude(source__kind__in=AUTHORITATIVE_SOURCES)
    for load in fresh.filter(line_items__gt=0):
        removed = 0
        for account, days in coverage.items():
            removed += CostLineItem.objects.filter(
                load=load, billing_account_id=account, charge_date__in=days
            ).delete()[0]
        if removed:
            remaining = CostLineItem.objects.filter(load=load)
            load.line_items = remaining.count()
            load.superseded += removed
            load.save(update_fields=["line_items", "superseded"])


REBUILD_SQL = """
WITH sums AS (
    SELECT charge_date, billing_period_start, currency, provider, region_code, billing_account_id, sub_account_id,
           service_name, service_category, charge_category, charge_class, pricing_category,
           commitment_discount_status, team_id, environment_id, service_id, cluster_id,
           SUM(billed_cost) AS billed_cost, SUM(effective_cost) AS effective_cost, SUM(list_cost) AS list_cost,
           SUM(contracted_cost) AS contracted_cost, COUNT(*) AS line_items
    FROM costs_costlineitem
    WHERE %(others)s AND charge_date >= %(start)s AND charge_date < %(end)s
      AND load_id IS DISTINCT FROM %(summed_load)s
    GROUP BY charge_date, billing_period_start, currency, provider, region_code, billing_account_id,
             sub_account_id, service_name, service_category, charge_category, charge_class, pricing_category,
             commitment_discount_status, team_id, environment_id, service_id, cluster_id
    {summed}
),
items AS (
    SELECT sums.*, row_number() OVER () AS id, cluster_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM costs_allocationshare s WHERE s.cluster_id = sums.cluster_id AND s.day = sums.charge_date
    ) AS split
    FROM sums
),
parts AS (
    SELECT charge_date AS day, billing_period_start, currency, provider, region_code, billing_account_id,
           sub_account_id, service_name, service_category, charge_category, charge_class, pricing_category,
           commitment_discount_status, team_id, environment_id, service_id, cluster_id,
           '' AS namespace,
           CASE WHEN team_id IS NULL AND environment_id IS NULL AND service_id IS NULL
                THEN 'unallocated' ELSE 'direct' END AS allocation,
           billed_cost, effective_cost, list_cost, contracted_cost, line_items
    FROM items WHERE NOT split
    UNION ALL
    SELECT i.charge_date, i.billing_period_start, i.currency, i.provider, i.region_code, i.billing_account_id,
           i.sub_account_id, i.service_name, i.service_category, i.charge_category, i.charge_class,
           i.pricing_category, i.commitment_discount_status,
           s.team_id, s.environment_id, s.service_id, i.cluster_id, s.namespace,
           CASE WHEN s.namespace = '' THEN 'idle'
                WHEN s.team_id IS NULL AND s.environment_id IS NULL AND s.service_id IS NULL THEN 'unallocated'
                ELSE 'namespace' END,
{shares},
           CASE WHEN s.namespace = '' THEN i.line_items ELSE 0 END
    FROM items i JOIN costs_allocationshare s ON s.cluster_id = i.cluster_id AND s.day = i.charge_date
    WHERE i.split
    WINDOW line AS (PARTITION BY i.id)
)
INSERT INTO costs_costrollup (
    day, billing_period_start, currency, provider, region_code, region_id, billing_account_id, sub_account_id,
    service_name, service_category, charge_category, charge_class, pricing_category, commitment_discount_status,
    team_id, environment_id, service_id, cluster_id, namespace, tier, allocation,
    billed_cost, effective_cost, list_cost, contracted_cost, line_items
)
SELECT p.day, p.billing_period_start, p.currency, p.provider, p.region_code, r.id, p.billing_account_id,
       p.sub_account_id, p.service_name, p.service_category, p.charge_category, p.charge_class, p.pricing_category,
       p.commitment_discount_status, p.team_id, p.environment_id, p.service_id,
       p.cluster_id, p.namespace, COALESCE(e.tier, ''), p.allocation,
       SUM(p.billed_cost), SUM(p.effective_cost), SUM(p.list_cost), SUM(p.contracted_cost), SUM(p.line_items)
FROM parts p
LEFT JOIN regions_region r ON r.provider = p.provider AND r.code = p.region_code
LEFT JOIN environments_environment e ON e.id = p.environment_id
GROUP BY p.day, p.billing_period_start, p.currency, p.provider, p.region_code, r.id, p.billing_account_id,
         p.sub_account_id, p.service_name, p.service_category, p.charge_category, p.charge_class,
         p.pricing_category, p.commitment_discount_status, p.team_id, p.environment_id, p.service_id,
         p.cluster_id, p.namespace, e.tier, p.allocation
""".replace(  # nosec B608
    "{shares}",
    # Each namespace gets its weight of every cost column, rounded; the idle row the rest, so they add up exactly.
    ",\n".join(
        f"""           CASE WHEN s.namespace = ''
                THEN i.{column} - COALESCE(SUM(ROUND(i.{column} * s.weight, 10))
                                            FILTER (WHERE s.namespace <> '') OVER line, 0)
                ELSE ROUND(i.{column} * s.weight, 10) END"""
        for column in ("billed_cost", "effective_cost", "list_cost", "contracted_cost")
    ),
)


SUMMED_TABLE = "costs_summed_line_items"
_SUMMED_COLUMNS = ", ".join((*ROLLUP_KEYS, *AMOUNT_COLUMNS, "line_items"))
SUMMED_SQL = (
    f"UNION ALL SELECT {_SUMMED_COLUMNS} FROM {SUMMED_TABLE} WHERE charge_date >= %(start)s AND charge_date < %(end)s"  # noqa: S608  # nosec B608
)


def rebuild_rollups(start: date, end: date, *, summed: tuple[int, pa.Table | None] | None = None) -> None:
    """Recompute the rollups of the days ``start`` to ``end`` (exclusive) from the line items and shares.

    ``summed``: a load and its line items already summed by
    :data:`ROLLUP_KEYS` (a bulk load sums them while it writes them): the
    sums are read instead of the load's rows. Rebuilds take turns (a lock
    held to the end of the transaction): two loads rebuilding the same days at
    once would each keep the other's rows.
    """
    load_id, sums = summed if summed is not None and summed[1] is not None else (None, None)
    others = load_id is None or _other_loads_cover(load_id, start, end)
    with transaction.atomic(), connection.cursor() as cursor:
        transaction.on_commit(report_cache.moved)  # the cached reports are read afresh once this is visible
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('costs.rebuild_rollups'))")
        # The line items a load just copied in have no statistics yet: the planner, guessing a few hundred rows,
        # would sort millions of wide rows to group them. Grouping by hashing needs no order; at tens of thousands
        # of groups a day range holds, its table fits in memory.
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("DELETE FROM costs_costrollup WHERE day >= %s AND day < %s", [start, end])
        if sums is not None:
            _copy_sums(cursor, sums)
        cursor.execute(
            REBUILD_SQL.replace("{summed}", SUMMED_SQL if sums is not None else ""),
            {"start": start, "end": end, "summed_load": load_id, "others": others},
        )
        if sums is not None:
            cursor.execute(f"DROP TABLE {SUMMED_TABLE}")


def _other_loads_cover(load_id: int, start: date, end: date) -> bool:
    """Whether a load other than ``load_id`` holds line items of a day from ``start`` to ``end`` (exclusive), by
    the days each load records it covers: when none does, the rollups need not read the line items at all."""
    first, last = start.isoformat(), (end - timedelta(days=1)).isoformat()
    for coverage in CostLoad.objects.exclude(pk=load_id).filter(line_items__gt=0).values_list("coverage", flat=True):
        if any(first <= day <= last for days in coverage.values() for day in days):
            return True
    return False


def _copy_sums(cursor: Any, sums: pa.Table) -> None:
    """``sums`` into a temporary table of this transaction (:data:`SUMMED_TABLE`)."""
    import pyarrow.csv as pa_csv

    cursor.execute(
        f"CREATE TEMPORARY TABLE {SUMMED_TABLE} ON COMMIT DROP AS "  # noqa: S608 - our own names  # nosec B608
        f"SELECT {', '.join(ROLLUP_KEYS)}, billed_cost, effective_cost, list_cost, contracted_cost, "
        "0::bigint AS line_items FROM costs_costlineitem WITH NO DATA"
    )
    columns = [*ROLLUP_KEYS, *AMOUNT_COLUMNS, "line_items"]
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    pa_csv.write_csv(sums.select(columns).combine_chunks(), sink, pa_csv.WriteOptions(include_header=False))
    with cursor.cursor.copy(f"COPY {SUMMED_TABLE} ({', '.join(columns)}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(sink.getvalue())
