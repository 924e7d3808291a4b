"""Importing cost sources through the cloud drivers: FOCUS exports from S3 or Blob, and the month-to-date APIs.

One billing period of one source at a time (:func:`import_period`): the
importer of the source's kind reads the period, and :func:`costs.store.load_period`
replaces what the store held for it, all or nothing. A period whose load is
``final`` is never read again. A bill (billing account and period) another
authoritative source holds is not loaded: the import fails with a message
naming the source, which the source's last error keeps.

**FOCUS exports** are re-written whole by the provider, so only the latest
run of each period is read:

- AWS Data Exports write ``<prefix>/<export>/data/BILLING_PERIOD=YYYY-MM/…csv.gz`` (or ``…snappy.parquet``)
  (a sub-folder per run when the export keeps versions) and
  ``<prefix>/<export>/metadata/BILLING_PERIOD=YYYY-MM/…Manifest.json``
  listing the run's ``dataFiles``. The newest manifest names the files to
  read; without one, the newest run folder's files are read.
- Azure Cost Management FocusCost exports write
  ``<prefix>/<export>/<YYYYMMDD-YYYYMMDD>/<run-id>/part_*.csv(.gz)`` (or ``.parquet``) with a
  ``manifest.json`` in the run folder listing its ``blobs``. The newest run
  folder of the period is read (the manifest's blobs when it has one).

An export writes CSV or Parquet (:mod:`costs.parquet`, told by its content, not its name), never both in
one run: a run folder holding both (an export whose format was changed) is read in the format of its newest
file, unless its manifest names the files.

Both providers write the manifest last, so a run with a manifest is complete
and wins over runs without one; a manifest that names a file not (yet) in the
bucket means the run is still being written: the import waits and tries again
rather than loading part of it.

**When a period is final.** Providers restate a month for a few days after it
closes. A period is final once it ended ``PORTAL_COSTS_FINAL_AFTER_DAYS``
(default 5) days ago *and*, for exports, the run read was written after the
month ended (a run written mid-month is a snapshot, whatever its age).

**Month-to-date APIs** (Cost Explorer, Azure Cost Management query) are asked
once per period for daily cost grouped by service and region (two group-bys,
the most either allows, and never two overlapping answers added up), for the
complete days of the period so far. Cost Explorer gives the unblended
(billed) and amortised (effective) figures; Azure's ``ActualCost`` query one
figure for both. Each import records how many requests it took and what
they cost (``PORTAL_COSTS_COST_EXPLORER_REQUEST_USD``, USD 0.01 per request
by default). The store drops the days the bill already covers.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from costs.choices import ChargeCategory, SourceKind
from costs.focus import PLACES, FocusRow, InputLimits, RowError, decode, open_focus, provider_code
from costs.models import CostLoad, CostSource
from costs.store import BillHeldElsewhere, load_in_bulk, load_period, month_start
from providers.cloud import CloudDriver, CostLineItem, ObjectInfo
from providers.errors import ProviderError
from providers.factory import cloud_driver
from regions.drivers import sandbox_dir
from regions.models import CloudAccount
from regions.provider_config import account_config

if TYPE_CHECKING:
    import pyarrow as pa

# How many row errors an import failure lists (the upload page shows them all).
ERRORS_SHOWN = 20
# The region a driver works in for an account with no region in the inventory (Cost Explorer is global).
DEFAULT_REGION = {"aws": "us-east-1", "azure": "westeurope"}

_AWS_PERIOD = re.compile(r"(?:^|/)BILLING_PERIOD=(\d{4})-(\d{2})(?:/|$)")
_AZURE_RUN = re.compile(r"(?:^|/)(\d{8})-(\d{8})/[^/]+$")
_DATA_FILE = re.compile(r"\.(csv(\.gz)?|parquet)$", re.IGNORECASE)


class ImportFailed(Exception):
    """An import that must not load: the message says why, ``errors`` lists the rows at fault."""

    def __init__(self, message: str, errors: list[RowError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []

    def __str__(self) -> str:
        if not self.errors:
            return self.message
        listed = "; ".join(str(error) for error in self.errors[:ERRORS_SHOWN])
        more = len(self.errors) - ERRORS_SHOWN
        return f"{self.message}: {listed}" + (f" (and {more} more)" if more > 0 else "")


class ExportNotReady(Exception):
    """The newest export run is still being written; try again later."""


@dataclass(frozen=True)
class PeriodData:
    """What an importer read for one period: its rows, whether the provider is done with it, what it cost."""

    rows: Iterable[FocusRow]
    final: bool
    requests: int = 0
    request_cost: Decimal = Decimal(0)
    read_from: str = ""


# (source, period, today, driver or None) -> what was read. None: the source has nothing for the period yet
# (no export run): the stored figures, if any, stay. The driver is given by tests; importers build their own
# otherwise (a cluster allocation importer would ask for its cluster's driver, and ignore this one).
Importer = Callable[[CostSource, date, date, CloudDriver | None], PeriodData | None]


def next_month(period: date) -> date:
    return (period.replace(day=28) + timedelta(days=4)).replace(day=1)


def previous_month(period: date) -> date:
    return month_start(period.replace(day=1) - timedelta(days=1))


def settled(period: date, today: date) -> bool:
    """Whether the period ended long enough ago that the provider no longer restates it."""
    return today >= next_month(period) + timedelta(days=settings.COSTS_FINAL_AFTER_DAYS)


def periods_due(source: CostSource, today: date) -> list[date]:
    """The periods an import of ``source`` reads: this month and the previous one, unless loaded final."""
    current = month_start(today)
    candidates = [current, previous_month(current)]
    final = set(
        CostLoad.objects.filter(source=source, billing_period_start__in=candidates, final=True).values_list(
            "billing_period_start", flat=True
        )
    )
    return [period for period in candidates if period not in final]


def account_driver(account: CloudAccount) -> CloudDriver:
    """The cloud driver of ``account`` (in its first region of the inventory; exports and cost APIs are global)."""
    region = account.regions.order_by("pk").first()
    code = region.code if region is not None else DEFAULT_REGION.get(account.provider, "")
    return cloud_driver(account_config(account, code), sandbox_dir=sandbox_dir())


def source_driver(source: CostSource, driver: CloudDriver | None = None) -> CloudDriver:
    """``driver`` if given, else the driver of the source's cloud account."""
    if driver is not None:
        return driver
    if source.account is None:
        raise ImportFailed("The source has no cloud account to read through.")
    return account_driver(source.account)


def import_period(
    source: CostSource, period: date, *, today: date | None = None, driver: CloudDriver | None = None
) -> CostLoad | None:
    """Read one billing period of ``source`` and load it; None when its load is final already (never re-read)
    or the source has nothing for it yet (an export not written yet: what is stored stays).

    Raises :class:`ImportFailed` (nothing is loaded; the previous figures stay),
    :class:`ExportNotReady`, or the driver's :class:`~providers.errors.ProviderError`.
    """
    period = month_start(period)
    today = today or timezone.localdate()
    if CostLoad.objects.filter(source=source, billing_period_start=period, final=True).exists():
        return None
    importer = IMPORTERS.get(source.kind)
    if importer is None:
        raise ImportFailed(f"{source.get_kind_display()} sources are not imported from a cloud")
    data = importer(source, period, today, driver)
    if data is None:
        return None
    options: dict[str, Any] = {"final": data.final, "requests": data.requests, "request_cost": data.request_cost}
    with transaction.atomic():  # rows are streamed into the load: a bad one found late rolls it all back
        try:
            rows = data.rows
            load = load_in_bulk(source, period, rows.tables, **options) if isinstance(rows, ExportRows) else None
            if load is None:
                load = load_period(source, period, data.rows, **options)
        except StrayPeriod as stray:
            raise ImportFailed(str(stray)) from None
        except BillHeldElsewhere as refused:
            # Two authoritative sources never both count a bill; the source's last error says which holds it.
            raise ImportFailed(str(refused)) from None
        if isinstance(data.rows, ExportRows):
            data.rows.check()
    return load


# ---------------------------------------------------------------- FOCUS exports


@dataclass
class ExportRun:
    """One run of an export for one period: the folder it wrote, its data files and manifest."""

    period: date
    folder: str
    files: list[ObjectInfo] = field(default_factory=list)
    manifest: ObjectInfo | None = None

    @property
    def written_at(self) -> datetime:
        stamps = [item.last_modified for item in self.files]
        if self.manifest is not None:
            stamps.append(self.manifest.last_modified)
        return max(stamps)


def _period_of(key: str) -> date | None:
    """The billing period an export object belongs to, from the AWS or Azure folder layout."""
    aws = _AWS_PERIOD.search(key)
    if aws:
        return date(int(aws.group(1)), int(aws.group(2)), 1)
    folder = posixpath.dirname(key)
    azure = _AZURE_RUN.search(folder)
    if azure:
        start = azure.group(1)
        return date(int(start[:4]), int(start[4:6]), 1)
    return None


def export_runs(objects: list[ObjectInfo]) -> dict[date, list[ExportRun]]:
    """The runs found under an export prefix, by period (AWS manifests sit apart from the data: by period)."""
    runs: dict[tuple[date, str], ExportRun] = {}
    aws_manifests: dict[date, list[ObjectInfo]] = defaultdict(list)
    for item in objects:
        period = _period_of(item.key)
        if period is None:
            continue
        name = posixpath.basename(item.key)
        if "/metadata/" in f"/{item.key}" and name.lower().endswith("manifest.json"):
            aws_manifests[period].append(item)
            continue
        folder = posixpath.dirname(item.key)
        run = runs.setdefault((period, folder), ExportRun(period, folder))
        if name.lower() == "manifest.json":
            run.manifest = item
        elif _DATA_FILE.search(name):
            run.files.append(item)
    by_period: dict[date, list[ExportRun]] = defaultdict(list)
    for run in runs.values():
        if run.files or run.manifest is not None:
            by_period[run.period].append(run)
    for period, manifests in aws_manifests.items():
        # An AWS manifest lists the files of the latest run wherever they are: it stands for the run.
        newest = max(manifests, key=lambda item: item.last_modified)
        by_period[period].append(ExportRun(period, posixpath.dirname(newest.key), [], newest))
    return dict(by_period)


def _manifest_keys(manifest: dict[str, object], bucket: str) -> list[str] | None:
    """The data files a manifest lists (AWS ``dataFiles`` as ``s3://bucket/key``, Azure ``blobs[].blobName``)."""
    files = manifest.get("dataFiles")
    if isinstance(files, list):
        keys = []
        for uri in files:
            text = str(uri)
            if text.startswith("s3://"):
                text = text[len("s3://") :].partition("/")[2]
            keys.append(text)
        return keys
    blobs = manifest.get("blobs")
    if isinstance(blobs, list):
        return [str(blob["blobName"]) for blob in blobs if isinstance(blob, dict) and blob.get("blobName")]
    return None


def _present_key(name: str, present: dict[str, ObjectInfo]) -> str | None:
    """The object a manifest names: as written, or the one key ending in it (manifests may name a blob
    relative to the container, or with the container in front)."""
    if name in present:
        return name
    matches = [key for key in present if key.endswith(f"/{name}") or name.endswith(f"/{key}")]
    return matches[0] if len(matches) == 1 else None


def read_export_period(
    driver: CloudDriver, bucket: str, prefix: str, period: date
) -> tuple[Iterable[FocusRow], ExportRun | None]:
    """The rows of the newest export run of ``period`` (empty and None when the export has no run for it)."""
    objects = driver.list_objects(bucket, prefix)
    runs = export_runs(objects).get(period, [])
    if not runs:
        return [], None
    # A run with a manifest is complete (the manifest is written last); one without is read only when no run has one.
    complete = [run for run in runs if run.manifest is not None]
    run = max(complete or runs, key=lambda run: run.written_at)
    present = {item.key: item for item in objects}
    keys = [item.key for item in sorted(_one_format(run.files), key=lambda item: item.key)]
    if run.manifest is not None:
        try:
            manifest = json.loads(decode(driver.read_object(bucket, run.manifest.key)))
        except (ValueError, UnicodeDecodeError) as error:
            raise ImportFailed(f"the export manifest {run.manifest.key} is not JSON: {error}") from None
        listed = _manifest_keys(manifest, bucket) if isinstance(manifest, dict) else None
        if listed:
            found = [_present_key(key, present) for key in listed]
            missing = [key for key, key_found in zip(listed, found, strict=True) if key_found is None]
            if missing:
                raise ExportNotReady(f"the export run {run.folder} is still being written ({missing[0]} is missing)")
            keys = [key for key in found if key is not None]
    if not keys:
        # A manifest of a shape not understood, with no data beside it: read the newest run that has data files.
        with_files = [other for other in runs if other.files]
        if not with_files:
            raise ImportFailed(f"the export of {period:%Y-%m} has a manifest but no data file was found")
        newest = max(with_files, key=lambda other: other.written_at)
        keys = [item.key for item in sorted(_one_format(newest.files), key=lambda item: item.key)]
    return ExportRows(driver, bucket, keys, period), run


def _one_format(files: list[ObjectInfo]) -> list[ObjectInfo]:
    """The files of a run in the format of its newest file: a run is all CSV or all Parquet, and a folder
    holding both is one whose export changed format (the older files are left from before the change)."""
    if not files:
        return files
    parquet = max(files, key=lambda item: item.last_modified).key.lower().endswith(".parquet")
    return [item for item in files if item.key.lower().endswith(".parquet") == parquet]


class StrayPeriod(Exception):
    """A row of another billing period in the files of this one."""


class ExportRows:
    """The rows of an export run's files, streamed file by file; bad rows are collected, not loaded.

    Whoever loads them calls :meth:`check` at the end, inside the load's
    transaction, so one bad row anywhere rolls the whole period back.
    """

    def __init__(self, driver: CloudDriver, bucket: str, keys: list[str], period: date) -> None:
        self.driver, self.bucket, self.keys, self.period = driver, bucket, keys, period
        self.errors: list[RowError] = []

    def tables(self) -> Iterator[pa.Table]:
        """The files' day rows in bulk (:class:`costs.bulk.BulkReader`), which raises ``NotBulk`` where a file
        needs the row reader (iterate the rows instead, which names every error)."""
        import pyarrow.compute as pc

        from costs.bulk import BulkReader

        for key in self.keys:
            with closing(self.driver.open_object(self.bucket, key)) as stream:
                for table in BulkReader(stream, limits=InputLimits.for_exports()):
                    stray = [
                        found for found in pc.unique(table["billing_period_start"]).to_pylist() if found != self.period
                    ]
                    if stray:
                        raise StrayPeriod(
                            f"the export folder of {self.period:%Y-%m} holds rows of billing period {stray[0]:%Y-%m}"
                        )
                    yield table

    def __iter__(self) -> Iterator[FocusRow]:
        for key in self.keys:
            # Read off the bucket, decompressed and parsed a chunk at a time, never held whole, under the exports'
            # limits on decompressed bytes and rows.
            with closing(self.driver.open_object(self.bucket, key)) as stream:
                reader = open_focus(stream, limits=InputLimits.for_exports())
                for row in reader:
                    if month_start(row.billing_period_start) != self.period:
                        raise StrayPeriod(
                            f"the export folder of {self.period:%Y-%m} holds rows of billing period "
                            f"{row.billing_period_start:%Y-%m}"
                        )
                    yield row
            name = posixpath.basename(key)
            self.errors += [RowError(error.line, error.column, f"{name}: {error.message}") for error in reader.errors]

    def check(self) -> None:
        if self.errors:
            raise ImportFailed(
                f"the export of {self.period:%Y-%m} has {len(self.errors)} malformed row(s)", self.errors
            )


def import_focus_export(source: CostSource, period: date, today: date, driver: CloudDriver | None) -> PeriodData | None:
    rows, run = read_export_period(source_driver(source, driver), source.bucket, source.prefix, period)
    if run is None:
        # No run yet (a new month's export is written a day or so in), or none any more: keep what is stored.
        return None
    closed = next_month(period)
    written_after_close = timezone.localdate(run.written_at) >= closed
    return PeriodData(rows, final=settled(period, today) and written_after_close, read_from=run.folder)


# ---------------------------------------------------------------- month-to-date APIs


def _category(charge_type: str) -> str:
    value = charge_type.strip().lower()
    if value in ChargeCategory.values:
        return value
    if value in ("refund", "credit"):
        return ChargeCategory.CREDIT
    if value in ("recurringfee", "riupfrontfee", "savingsplanupfrontfee", "purchase"):
        return ChargeCategory.PURCHASE
    return ChargeCategory.USAGE


def api_row(item: CostLineItem, *, provider: str, period: date) -> FocusRow:
    """A month-to-date API's line item as a FOCUS row of the store (list cost is not given: the billed one)."""
    billed = item.amount.quantize(PLACES)
    effective = item.effective_amount.quantize(PLACES) if item.effective_amount is not None else billed
    return FocusRow(
        charge_date=item.usage_date,
        billing_period_start=period,
        charge_category=_category(item.charge_type),
        billed_cost=billed,
        effective_cost=effective,
        list_cost=billed,
        currency=item.currency.upper(),
        provider=provider_code(provider),
        service_name=item.service[:200],
        region_code=item.region.lower()[:64],
        billing_account_id=item.account[:100],
        tags=dict(item.tags),
    )


def request_price(kind: str) -> Decimal:
    """What the provider charges per cost query request (Azure's query API is free)."""
    if kind == SourceKind.COST_EXPLORER:
        return Decimal(settings.COSTS_COST_EXPLORER_REQUEST_USD)
    return Decimal(0)


def import_month_to_date(source: CostSource, period: date, today: date, driver: CloudDriver | None) -> PeriodData:
    """The complete days of ``period`` so far, from Cost Explorer or Cost Management's query API."""
    cloud = source_driver(source, driver)
    provider = source.account.provider if source.account is not None else ""
    start, end = period, min(next_month(period), today)
    if end <= start:
        return PeriodData([], final=False)
    report = cloud.cost_report(start, end)
    rows = [api_row(item, provider=provider, period=period) for item in report.items]
    stray = next((row for row in rows if not start <= row.charge_date < end), None)
    if stray is not None:
        raise ImportFailed(f"the cost API answered for {stray.charge_date}, outside {start} to {end}")
    return PeriodData(
        rows,
        final=settled(period, today),
        requests=report.requests,
        request_cost=(request_price(source.kind) * report.requests).quantize(Decimal("0.0001")),
    )


IMPORTERS: dict[str, Importer] = {
    SourceKind.FOCUS_EXPORT: import_focus_export,
    SourceKind.COST_EXPLORER: import_month_to_date,
    SourceKind.AZURE_QUERY: import_month_to_date,
}


def failure_message(error: Exception) -> str:
    """What a failed import tells people (on the sources page, in the API): never a credential."""
    if isinstance(error, ImportFailed):
        return str(error)
    if isinstance(error, ProviderError):
        return f"{type(error).__name__}: {error.message}"
    return "unexpected error; the worker log has the details"
