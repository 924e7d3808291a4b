"""Reading FOCUS files in bulk: a block of rows at a time, column by column, with pyarrow.

:class:`costs.focus.FocusReader` defines what a FOCUS file means, row by
row. This module reads the same files tens of times faster and gives the same
day rows for every file it accepts, as store-shaped Arrow tables
(:data:`STORE_SCHEMA`) that :mod:`costs.store` copies into PostgreSQL:

* CSV is parsed by pyarrow's reader a block at a time, every column as text
  exactly as written; Parquet is read a record batch at a time and made text
  the way :mod:`costs.parquet` does for the row reader.
* Columns whose values repeat (dates, currencies, categories, services,
  accounts, regions, tags) are dictionary-encoded and each distinct value is
  checked once, by the row reader's own functions.
* Amounts must be plain decimals (``-12.5``, at most 12 digits before the
  point and 10 after, beyond which only zeros); identifiers must have no
  surrounding white space. The few rows that are otherwise (``1e3``, a padded
  value) and the rows whose charge period covers more than one day (spread
  over their days by :func:`costs.focus.place`) go through the row reader's
  rules one by one.
* Anything the row reader would call an error (a bad value, a row too long
  or too short, a NUL, damaged gzip, too many rows or bytes) makes this
  reader give up with :class:`NotBulk`. The caller then reads the file again
  with the row reader, which names every error with its line: a file with an
  error loads nothing either way, and its errors read the same.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
import zlib
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import IO, Any, TypeVar, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from django.utils import timezone

from costs import focus
from costs.dates import EARLIEST_DAY, latest_day
from costs.focus import (
    _CATEGORIES,
    _COMMITMENT,
    _FREQUENCIES,
    _PRICING,
    FIELD_LIMIT,
    MAX_CHARGE_PERIOD_DAYS,
    MAX_LINE_BYTES,
    PARQUET_MAGIC,
    REQUIRED,
    FocusRow,
    InputLimits,
    _BadValue,
    _Charges,
    _choice,
    _parse_tags,
    _text,
    provider_code,
)

# Bytes of CSV parsed at a time (a block of about 100,000 rows of a typical export); Parquet rows per batch.
BLOCK_BYTES = 8 * 1024 * 1024
PARQUET_BATCH_ROWS = 65_536
# A plain amount, as the store keeps it: digits only beyond the tenth decimal place are zeros.
_PLAIN_AMOUNT = r"^-?[0-9]{1,12}(\.[0-9]{1,10}0*)?$"
# A value starting or ending with a character Python's str.strip() removes: the row reader strips it.
_PADDED = r"^[\t-\r\x{1c}-\x{1f}\x{85}\p{Z}]|[\t-\r\x{1c}-\x{1f}\x{85}\p{Z}]$"
AMOUNT = pa.decimal128(24, 10)  # the store's amounts (numeric(24, 10))
_EPOCH = date(1970, 1, 1)

# The day rows, in the store's columns (costs.store.LINE_ITEM_COLUMNS without the load and the owners).
STORE_SCHEMA = pa.schema(
    [
        ("charge_date", pa.date32()),
        ("billing_period_start", pa.date32()),
        ("charge_category", pa.string()),
        ("charge_class", pa.string()),
        ("provider", pa.string()),
        ("service_name", pa.string()),
        ("service_category", pa.string()),
        ("region_code", pa.string()),
        ("billing_account_id", pa.string()),
        ("sub_account_id", pa.string()),
        ("resource_id", pa.string()),
        ("pricing_category", pa.string()),
        ("commitment_discount_id", pa.string()),
        ("commitment_discount_status", pa.string()),
        ("tags", pa.string()),
        # Amounts as plain decimal text (as written in the file, or as the row reader reads them): PostgreSQL reads
        # them into numeric(24, 10) exactly, and pyarrow into AMOUNT.
        ("billed_cost", pa.string()),
        ("effective_cost", pa.string()),
        ("list_cost", pa.string()),
        ("contracted_cost", pa.string()),
        ("currency", pa.string()),
    ]
)

T = TypeVar("T")


class NotBulk(Exception):
    """The file needs the row reader (it may have an error, which only the row reader names with its line)."""


def _days(day: date) -> int:
    return (day - _EPOCH).days


class BulkReader:
    """The day rows of one FOCUS file as store-shaped tables (:data:`STORE_SCHEMA`), one per block of rows.

    ``period``: only the day rows of that billing period (a month's first
    day) are given. Iterating raises :class:`NotBulk` where the row reader
    is needed. The tags column holds each tag set as the JSON text the store
    keeps. :attr:`lines` counts the data rows.
    """

    def __init__(
        self,
        stream: IO[bytes],
        *,
        limits: InputLimits | None = None,
        default_billing_period: date | None = None,
        period: date | None = None,
    ) -> None:
        self._stream = stream
        self._period = period
        self._limits = limits or InputLimits.from_settings()
        self._default_billing_period = default_billing_period
        self._latest = latest_day(timezone.now().date())
        self.lines = 0
        self._seen: dict[tuple[str, str], Any] = {}  # (column, raw value) -> what it means (kept per file)
        self._charges: _Charges | None = None
        self._header: list[str] = []

    # ------------------------------------------------------------ reading

    def __iter__(self) -> Iterator[pa.Table]:
        try:
            for batch in self._batches():
                self.lines += batch.num_rows
                if self.lines > self._limits.max_rows:
                    raise NotBulk("more rows than accepted")
                if batch.num_rows:
                    rows = self._day_rows(batch)
                    if self._period is not None:
                        rows = rows.filter(pc.equal(rows["billing_period_start"], pa.scalar(self._period, pa.date32())))
                    yield rows
        except NotBulk:
            raise
        except (
            pa.ArrowException,
            OSError,
            EOFError,
            ValueError,
            zlib.error,
            csv.Error,
            _BadValue,
            focus.FocusInputError,
        ) as error:
            raise NotBulk(str(error)) from None

    def _batches(self) -> Iterator[pa.RecordBatch]:
        limit = self._limits.max_bytes
        stream = io.BufferedReader(_Counted(self._stream, limit), focus.CHUNK_BYTES)  # a Parquet file's own bytes
        head = stream.peek(len(PARQUET_MAGIC))[: len(PARQUET_MAGIC)]
        if head == PARQUET_MAGIC:
            yield from self._parquet_batches(stream)
        elif head[:2] == b"\x1f\x8b":  # gzip: the limit is on what it decompresses to
            unzipped = gzip.GzipFile(fileobj=stream, mode="rb")
            yield from self._csv_batches(
                io.BufferedReader(_Counted(cast("IO[bytes]", unzipped), limit), focus.CHUNK_BYTES)
            )
        else:
            yield from self._csv_batches(stream)

    def _csv_batches(self, text: IO[bytes]) -> Iterator[pa.RecordBatch]:
        first = text.readline(MAX_LINE_BYTES + 1)
        if first.startswith(b"\xef\xbb\xbf"):
            first = first[3:]
        header = next(csv.reader([first.decode("utf-8")]), [])
        self._start(header)
        reader = pa_csv.open_csv(
            focus._Prefixed(first, text),
            read_options=pa_csv.ReadOptions(block_size=BLOCK_BYTES, use_threads=False),  # a block at a time
            parse_options=pa_csv.ParseOptions(newlines_in_values=False),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        if reader.schema.names != header:
            raise NotBulk("the header reads otherwise")
        yield from reader

    def _parquet_batches(self, stream: IO[bytes]) -> Iterator[pa.RecordBatch]:
        """A Parquet file's record batches made text as the row reader reads them (:mod:`costs.parquet`); the file
        is read from its end, so it is spooled first (in memory up to 16 MiB, on disk beyond)."""
        from costs.parquet import _as_text

        with tempfile.SpooledTemporaryFile(max_size=focus.PARQUET_SPOOL_BYTES) as spool:
            while chunk := stream.read(focus.CHUNK_BYTES):
                spool.write(chunk)
            spool.seek(0)
            parquet = pq.ParquetFile(spool)
            self._start(list(parquet.schema_arrow.names))
            for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
                columns = [pc.fill_null(_as_text(column), "") for column in batch.columns]
                yield pa.RecordBatch.from_arrays(columns, names=[f"c{n}" for n in range(len(columns))])

    def _start(self, header: list[str]) -> None:
        if len(set(header)) != len(header) or not set(REQUIRED) <= set(header):
            raise NotBulk("the header needs the row reader's message")
        if "BillingPeriodStart" not in header and self._default_billing_period is None:
            raise NotBulk("no billing period")
        self._header = header
        self._charges = _Charges(header, self._default_billing_period)

    # ------------------------------------------------------------ checking a block

    def _day_rows(self, batch: pa.RecordBatch) -> pa.Table:
        columns = {name: batch.column(index) for index, name in enumerate(self._header)}
        size = batch.num_rows
        longest = 0
        for column in columns.values():
            lengths = pc.binary_length(column)
            widest = pc.max(lengths).as_py() or 0
            if widest > FIELD_LIMIT or pc.any(pc.match_substring(column, "\x00")).as_py():
                raise NotBulk("a field too long or a NUL")
            longest += widest
        if 2 * longest + 3 * len(columns) > MAX_LINE_BYTES:
            raise NotBulk("a line may be too long")

        def raw(name: str) -> pa.Array:
            found = columns.get(name)
            return found if found is not None else pa.nulls(size, pa.string()).fill_null("")

        start, _ = self._dates(raw("ChargePeriodStart"), "ChargePeriodStart", self._charge_start)
        end, end_midnight = self._dates(raw("ChargePeriodEnd"), "ChargePeriodEnd", _rule(focus._day, "ChargePeriodEnd"))
        if "BillingPeriodStart" in columns:
            billing, _ = self._dates(raw("BillingPeriodStart"), "BillingPeriodStart", self._billing_start)
        else:
            assert self._default_billing_period is not None  # noqa: S101 (checked by _start)
            billing = pa.array([_days(self._default_billing_period)] * size, pa.int32())
        stated_end, stated_midnight = (
            self._dates(raw("BillingPeriodEnd"), "BillingPeriodEnd", self._stated_end)
            if "BillingPeriodEnd" in columns
            else (pa.nulls(size, pa.int32()), pa.nulls(size, pa.bool_()))
        )
        end_exclusive = pc.add(end, pc.if_else(end_midnight, 0, 1))
        if (
            pc.any(pc.greater_equal(pc.subtract(end, start), MAX_CHARGE_PERIOD_DAYS)).as_py()
            or pc.any(pc.less_equal(end_exclusive, start)).as_py()
        ):
            raise NotBulk("a charge period the row reader refuses")
        next_month = self._map(billing, lambda day: _days(focus._next_month(_EPOCH + timedelta(days=day))))
        stated_exclusive = pc.add(stated_end, pc.if_else(stated_midnight, 0, 1))
        if pc.any(pc.less_equal(stated_exclusive, billing)).as_py():
            raise NotBulk("a billing period end before its start")
        billing_end = pc.coalesce(stated_exclusive, next_month)
        first = pc.min_element_wise(start, pc.subtract(billing_end, 1))
        spans = pc.subtract(
            pc.max_element_wise(pc.min_element_wise(end_exclusive, billing_end), pc.add(first, 1)), first
        )
        odd = pc.not_equal(spans, 1)  # rows the row reader's rules read one by one: spread over their days

        def text(name: str, convert: Callable[[str], str]) -> pa.Array:
            return self._strings(raw(name), name, convert)

        currency = text("BillingCurrency", _rule(focus._currency, "BillingCurrency"))
        charge_class = text("ChargeClass", _rule(focus._charge_class, "ChargeClass"))
        category = text("ChargeCategory", _rule(_choice, "ChargeCategory", _CATEGORIES))
        text("ChargeFrequency", _rule(_choice, "ChargeFrequency", _FREQUENCIES))
        named = raw("ServiceProviderName")
        provider_raw = pc.if_else(pc.equal(named, ""), raw("ProviderName"), named)
        provider = self._strings(provider_raw, "provider", provider_code)
        service_name = text("ServiceName", _rule(_text, "ServiceName", 200))
        service_category = text("ServiceCategory", _rule(_text, "ServiceCategory", 64))
        region = text("RegionId", lambda value: _text({"RegionId": value}, "RegionId", 64).lower())
        account = text("BillingAccountId", lambda value: _account(value, "BillingAccountId"))
        sub_account = text("SubAccountId", lambda value: _account(value, "SubAccountId"))
        pricing = text("PricingCategory", _rule(_choice, "PricingCategory", _PRICING))
        status = text("CommitmentDiscountStatus", _rule(_choice, "CommitmentDiscountStatus", _COMMITMENT))
        tags = text("Tags", self._tags)

        resource, commitment = raw("ResourceId"), raw("CommitmentDiscountId")
        for identifier in (resource, commitment):
            odd = pc.or_(odd, pc.match_substring_regex(identifier, _PADDED))
        amounts = {}
        for name in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
            value = raw(name)
            written_plainly = pc.match_substring_regex(value, _PLAIN_AMOUNT)
            if name in ("ListCost", "ContractedCost"):
                written_plainly = pc.or_(written_plainly, pc.equal(value, ""))
            odd = pc.or_(odd, pc.invert(written_plainly))
            amounts[name] = value
        odd_rows = pc.indices_nonzero(odd)
        plain_rows = pc.indices_nonzero(pc.invert(odd)) if len(odd_rows) else None

        def plain(array: pa.Array) -> pa.Array:
            return array if plain_rows is None else pc.take(array, plain_rows)

        billed = plain(amounts["BilledCost"])
        effective = plain(amounts["EffectiveCost"])
        listed = _or(plain(amounts["ListCost"]), billed)  # FOCUS: no list cost is the billed cost
        contracted = _or(plain(amounts["ContractedCost"]), listed)  # no contracted cost is the list cost
        table = pa.Table.from_arrays(
            [
                pc.cast(plain(first), pa.int32()).cast(pa.date32()),
                pc.cast(plain(billing), pa.int32()).cast(pa.date32()),
                plain(category),
                plain(charge_class),
                plain(provider),
                plain(service_name),
                plain(service_category),
                plain(region),
                plain(account),
                plain(sub_account),
                plain(resource),
                plain(pricing),
                plain(commitment),
                plain(status),
                plain(tags),
                billed,
                effective,
                listed,
                contracted,
                plain(currency),
            ],
            schema=STORE_SCHEMA,
        )
        if len(odd_rows):
            table = pa.concat_tables([table, self._row_by_row(batch, odd_rows)])
        return table

    def _row_by_row(self, batch: pa.RecordBatch, rows: pa.Array) -> pa.Table:
        """The rows at ``rows`` read by the row reader's rules (:class:`NotBulk` where one breaks them)."""
        assert self._charges is not None  # noqa: S101
        picked = batch.take(rows)
        columns = [picked.column(index).to_pylist() for index in range(picked.num_columns)]
        day_rows: list[FocusRow] = []
        for fields in zip(*columns, strict=True):
            found = self._charges.rows(list(fields))  # a bad amount raises _BadValue: NotBulk (see __iter__)
            if found is None:
                raise NotBulk("a row the row reader refuses")
            day_rows += found
        return self.table_of(day_rows)

    @staticmethod
    def table_of(rows: list[FocusRow]) -> pa.Table:
        """Day rows as a store-shaped table."""

        def column(name: str) -> list[Any]:
            if name == "tags":
                return [json.dumps(row.tags) for row in rows]
            if name == "contracted_cost":
                return [format(row.contracted, "f") for row in rows]
            if name.endswith("_cost"):
                return [format(getattr(row, name), "f") for row in rows]
            return [getattr(row, name) for row in rows]

        return pa.Table.from_arrays(
            [pa.array(column(field.name), field.type) for field in STORE_SCHEMA], schema=STORE_SCHEMA
        )

    # ------------------------------------------------------------ distinct values

    def _distinct(self, column: pa.Array, name: str, convert: Callable[[str], T]) -> tuple[pa.Array, list[T]]:
        """The column's dictionary indices and what each distinct value means (:class:`NotBulk` if one is bad)."""
        encoded = pc.dictionary_encode(column)
        meanings = []
        for value in encoded.dictionary.to_pylist():
            key = (name, value)
            meaning = self._seen.get(key, self)
            if meaning is self:
                try:
                    meaning = convert(value)
                except _BadValue:
                    raise NotBulk(f"a bad {name}") from None
                if len(self._seen) > 200_000:
                    self._seen.clear()
                self._seen[key] = meaning
            meanings.append(meaning)
        return encoded.indices, meanings

    def _strings(self, column: pa.Array, name: str, convert: Callable[[str], str]) -> pa.Array:
        indices, meanings = self._distinct(column, name, convert)
        return pc.take(pa.array(meanings, pa.string()), indices)

    def _dates(
        self, column: pa.Array, name: str, convert: Callable[[str], tuple[date, bool] | None]
    ) -> tuple[pa.Array, pa.Array]:
        """Days since 1970 (int32) and whether each is at midnight; null where the value states none."""
        indices, meanings = self._distinct(column, name, convert)
        days = pa.array([None if found is None else _days(found[0]) for found in meanings], pa.int32())
        midnight = pa.array([None if found is None else found[1] for found in meanings], pa.bool_())
        return pc.take(days, indices), pc.take(midnight, indices)

    def _map(self, days: pa.Array, convert: Callable[[int], int]) -> pa.Array:
        encoded = pc.dictionary_encode(days)
        mapped = pa.array([convert(day) for day in encoded.dictionary.to_pylist()], pa.int32())
        return pc.take(mapped, encoded.indices)

    # ------------------------------------------------------------ the row reader's rules, per distinct value

    def _charge_start(self, value: str) -> tuple[date, bool]:
        found = focus._day({"ChargePeriodStart": value}, "ChargePeriodStart")
        if not EARLIEST_DAY <= found[0] <= self._latest:
            raise _BadValue("ChargePeriodStart", "outside the dates accepted")
        return found

    def _billing_start(self, value: str) -> tuple[date, bool]:
        if not value:
            if self._default_billing_period is None:
                raise _BadValue("BillingPeriodStart", "is empty")
            day = self._default_billing_period
        else:
            day, _ = focus._day({"BillingPeriodStart": value}, "BillingPeriodStart")
        day = day.replace(day=1)
        if not EARLIEST_DAY.replace(day=1) <= day <= self._latest:
            raise _BadValue("BillingPeriodStart", "outside the dates accepted")
        return day, True

    def _stated_end(self, value: str) -> tuple[date, bool] | None:
        if not value.strip():
            return None
        return focus._day({"BillingPeriodEnd": value}, "BillingPeriodEnd")

    def _tags(self, value: str) -> str:
        tags = _parse_tags(value.strip())
        if tags is None:
            raise _BadValue("Tags", "not a JSON object")
        return json.dumps(tags)


def _rule(check: Callable[..., T], column: str, *args: Any) -> Callable[[str], T]:
    """The row reader's ``check`` of ``column`` (``check(record, column, *args)``), for one value."""
    return lambda value: check({column: value}, column, *args)


def _or(given: pa.Array, otherwise: pa.Array) -> pa.Array:
    """``given``, or ``otherwise`` where it is empty."""
    return pc.if_else(pc.equal(given, ""), otherwise, given)


def _account(value: str, column: str) -> str:
    """An account id (the store joins it with others on a control character, so one holding such a character is
    read by the row reader)."""
    found = _text({column: value}, column, 100)
    if not found.isprintable():
        raise _BadValue(column, "holds a control character")
    return found


class _Counted(io.RawIOBase):
    """A binary stream read under a limit of bytes (:class:`NotBulk` beyond it)."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        super().__init__()
        self._stream, self._limit, self._read = stream, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self._read += size
        if self._read > self._limit:
            raise NotBulk("more bytes than accepted")
        return size
