"""Reading FinOps FOCUS (1.0 to 1.2) cost files: AWS Data Exports, Azure FocusCost exports and uploads.

:func:`read_focus` turns CSV text into :class:`FocusRow` values at daily
grain and collects a :class:`RowError` for every malformed row instead of
stopping at the first one, so a person fixing a file sees everything wrong
with it at once.

Where a row's cost is dated (:func:`_day_rows`), by basis:

* Billed (cash) cost of a one-time or recurring charge, and of every
  purchase, is on the day it was charged: ChargePeriodStart. FOCUS
  ChargeFrequency: one-time charges "are recorded on the hour or day when the
  cost was incurred", recurring ones "happen on the same day ... within every
  period"; the commitment-discount appendix: an upfront commitment "is billed
  once during the first charge period of the term". A one-year Savings Plan
  bought in February is February's cash, not a twelfth of it every month.
* Every other cost (usage-based billed cost, and effective, list and
  contracted cost of every row) is spread evenly over the row's charge period,
  the last day taking the remainder so the days add up to the row exactly:
  the row says it was incurred over that period. Amortisation is the
  provider's: FOCUS sets a prepaid purchase's EffectiveCost to 0 and puts the
  amortised amounts on the usage rows it covers, so those rows carry it.
* Nothing is dated after the end of the billing period of the invoice that
  carries the row (BillingPeriodEnd, or the end of BillingPeriodStart's month):
  a charge period running past it is cut there and its amount spread over the
  days left, so a month's figures never change because a later month exists.
  A correction (ChargeClass "Correction") keeps its charge period, usually in
  an earlier, already invoiced month: read by charge period it is there, read
  by billing period it is in the invoice that carries it.

:func:`open_focus` reads a file (plain or gzip) as a stream: it reads
:data:`CHUNK_BYTES` at a time, never the whole file, and stops with an error
naming the line as soon as the file breaks a rule that makes the rest
unreadable: bytes that are not UTF-8, a NUL character (PostgreSQL cannot
store it), a line longer than :data:`MAX_LINE_BYTES`, a CSV error (an
unclosed quote, a field over 128 KiB), damaged gzip data, or more
decompressed bytes or rows than :class:`InputLimits` allow.

FOCUS date/times are UTC, written ``YYYY-MM-DDTHH:mm:ssZ`` (the
specification's DateTimeFormat attribute); anything else (an offset, a
`` UTC`` suffix, no time, hour 30) is a row error saying what was expected.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from operator import itemgetter
from typing import IO, Any

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from costs.choices import ChargeCategory, ChargeClass, ChargeFrequency
from costs.dates import EARLIEST_DAY, latest_day
from portal import numbers

# The store keeps ten decimal places, more than any provider bills in.
PLACES = Decimal("0.0000000001")
# The largest amount one row may carry: the store's columns hold 14 digits before the point, and a day's rollup
# adds rows up, so one row stays well below that.
MAX_AMOUNT = Decimal(10) ** 12
MAX_ERRORS = 200
# How much of a file is read at a time, and the longest line (a row with all its fields) accepted.
CHUNK_BYTES = 64 * 1024
MAX_LINE_BYTES = 1024 * 1024
# The longest charge period one row may span (a three-year commitment bought up front, with a leap day).
MAX_CHARGE_PERIOD_DAYS = 3 * 366
# The csv module refuses fields over this many characters (its default limit, kept).
FIELD_LIMIT = csv.field_size_limit()
TIMESTAMP_EXAMPLE = "2026-11-01T00:00:00Z"
_TIMESTAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z")
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
# A time followed by an offset or a zone name instead of Z: 22:00:00-05:00, 00:00:00+0000, 00:00:00 UTC.
_OFFSET = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[+-]\d{2}(?::?\d{2})?|[A-Za-z]{1,5})$")
# Characters PostgreSQL cannot store in text or jsonb: NUL, and lone surrogates (JSON's "\ud800" escapes).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

REQUIRED = ("BilledCost", "EffectiveCost", "BillingCurrency", "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory")

_CATEGORIES = {choice.label.lower(): choice.value for choice in ChargeCategory}
_PRICING = {"standard": "standard", "dynamic": "dynamic", "committed": "committed", "other": "other", "": ""}
_COMMITMENT = {"used": "used", "unused": "unused", "": ""}
_FREQUENCIES = {choice.value: choice.value for choice in ChargeFrequency} | {"": ""}
# Charges whose billed cost is on the day they were charged rather than spread over their charge period.
_CHARGED_ONCE = frozenset({ChargeFrequency.ONE_TIME, ChargeFrequency.RECURRING})
_PROVIDERS = {
    "aws": "aws",
    "amazon web services": "aws",
    "amazon": "aws",
    "microsoft": "azure",
    "microsoft azure": "azure",
    "azure": "azure",
    "on-prem": "on_prem",
    "on_prem": "on_prem",
}


def _no_tags() -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class FocusRow:
    """One day of one FOCUS charge, in the store's terms (lower-case categories, provider codes)."""

    charge_date: date
    billing_period_start: date
    charge_category: str
    billed_cost: Decimal
    effective_cost: Decimal
    list_cost: Decimal
    currency: str
    contracted_cost: Decimal | None = None  # None: the same as list_cost (no negotiated discount)
    provider: str = ""
    service_name: str = ""
    service_category: str = ""
    region_code: str = ""
    billing_account_id: str = ""
    sub_account_id: str = ""
    resource_id: str = ""
    pricing_category: str = ""
    commitment_discount_id: str = ""
    commitment_discount_status: str = ""
    charge_class: str = ""
    tags: dict[str, str] = field(default_factory=_no_tags)

    @property
    def contracted(self) -> Decimal:
        """ContractedCost: the file's, or the list cost where the file had none."""
        return self.list_cost if self.contracted_cost is None else self.contracted_cost


@dataclass(frozen=True)
class RowError:
    """What is wrong with one row: its line in the file (the header is line 1) and the column at fault."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class FocusFile:
    """What a file held: its rows (only when it had no errors worth refusing it for) and its errors."""

    rows: list[FocusRow]
    errors: list[RowError]
    lines: int
    bad_rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class InputLimits:
    """The most a FOCUS file may hold: bytes once decompressed, and data rows (the header not counted)."""

    max_bytes: int
    max_rows: int

    @classmethod
    def from_settings(cls) -> InputLimits:
        """An upload's limits."""
        return cls(settings.COSTS_UPLOAD_MAX_DECOMPRESSED_BYTES, settings.COSTS_UPLOAD_MAX_ROWS)

    @classmethod
    def for_exports(cls) -> InputLimits:
        """The limits of one file of an export read from a bucket."""
        return cls(settings.COSTS_EXPORT_MAX_DECOMPRESSED_BYTES, settings.COSTS_EXPORT_MAX_ROWS)


# Parquet files start (and end) with these bytes; they are read from the end, so one that cannot seek is spooled
# to a temporary file first, in memory up to PARQUET_SPOOL_BYTES and on disk beyond.
PARQUET_MAGIC = b"PAR1"
PARQUET_SPOOL_BYTES = 16 * 1024 * 1024


class FocusInputError(Exception):
    """The file cannot be read past ``line``: the reading stops there and the file is refused."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


def _parquet_row(error: RowError) -> RowError:
    if error.line <= 1:
        return error
    row = numbers.number(error.line - 1)
    return RowError(error.line, error.column, f"(row {row} of the Parquet file) {error.message}")


def provider_code(name: str) -> str:
    """``aws``, ``azure`` or ``on_prem`` for the names providers use; anything else as given."""
    return _PROVIDERS.get(name.strip().lower(), name.strip()[:64])


def is_gzip(stream: IO[bytes]) -> bool:
    """Whether a seekable binary stream holds gzip data (it is left at its start)."""
    stream.seek(0)
    magic = stream.read(2)
    stream.seek(0)
    return magic == b"\x1f\x8b"


class _Prefixed(io.RawIOBase):
    """Bytes already read off a stream that cannot seek back (an S3 body), then the rest of it."""

    def __init__(self, prefix: bytes, rest: IO[bytes]) -> None:
        super().__init__()
        self._prefix, self._rest = prefix, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            size = min(len(buffer), len(self._prefix))
            buffer[:size], self._prefix = self._prefix[:size], self._prefix[size:]
            return size
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _opened(stream: IO[bytes]) -> tuple[IO[bytes], bool]:
    """``stream`` at its start, readable a chunk at a time, and whether it is gzip."""
    seekable = getattr(stream, "seekable", None)
    if seekable is not None and seekable():
        return stream, is_gzip(stream)
    magic = stream.read(2)
    return io.BufferedReader(_Prefixed(magic, stream), CHUNK_BYTES), magic == b"\x1f\x8b"


def text_lines(stream: IO[bytes], *, max_bytes: int | None = None) -> Iterator[str]:
    """The lines of a FOCUS file (plain or gzip), decoded, read :data:`CHUNK_BYTES` at a time.

    Raises :class:`FocusInputError` with the line at fault for what makes the
    rest unreadable. At most one chunk and one unfinished line are held.
    """
    stream, compressed = _opened(stream)
    source: gzip.GzipFile | IO[bytes] = gzip.GzipFile(fileobj=stream, mode="rb") if compressed else stream
    line = 0
    total = 0
    pending = b""
    first = True
    while True:
        try:
            chunk = source.read(CHUNK_BYTES)
        except (OSError, EOFError, zlib.error):
            raise FocusInputError(line + 1, "the gzip data is damaged or cut short here") from None
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise FocusInputError(
                line + 1,
                f"the file is larger than {filesizeformat(max_bytes)} once decompressed; "
                f"files up to {filesizeformat(max_bytes)} (uncompressed) are accepted",
            )
        if chunk:
            pending += chunk
            complete, newline, rest = pending.rpartition(b"\n")
            if not newline:
                if len(pending) > MAX_LINE_BYTES:
                    raise FocusInputError(line + 1, f"the line is longer than {filesizeformat(MAX_LINE_BYTES)}")
                continue
            pending = rest
            block = complete + newline
        else:
            if not pending:
                return
            block, pending = pending, b""
        text = _decoded(block, line)
        if first:
            text, first = text.removeprefix("\ufeff"), False
        pieces = text.split("\n")
        if pieces[-1] == "":
            pieces.pop()
        for piece in pieces:
            line += 1
            if len(piece) > MAX_LINE_BYTES:
                raise FocusInputError(line, f"the line is longer than {filesizeformat(MAX_LINE_BYTES)}")
            if "\x00" in piece:
                raise FocusInputError(line, "holds a NUL character (byte 0), which cannot be stored; remove it")
            yield piece + "\n"
        if not chunk:
            return


def _decoded(block: bytes, lines_before: int) -> str:
    """``block`` (whole lines) as text, or a :class:`FocusInputError` naming the first line that is not UTF-8."""
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        for number, raw in enumerate(block.split(b"\n"), start=lines_before + 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise FocusInputError(
                    number,
                    f"is not UTF-8 text (byte {error.object[error.start]:#04x}, the line's byte {error.start + 1}); "
                    "save the file as UTF-8",
                ) from None
        raise  # pragma: no cover (a block that fails to decode has a line that fails)


def decode(data: bytes) -> str:
    """The text of a small object (an export's manifest): gunzipped when it is gzip, UTF-8 with or without a BOM."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8-sig")


def open_focus(
    stream: IO[bytes], *, limits: InputLimits | None = None, default_billing_period: date | None = None
) -> FocusReader:
    """A :class:`FocusReader` over a binary file (Parquet, or CSV plain or gzip), streamed under ``limits``."""
    limits = limits or InputLimits.from_settings()
    stream, magic = _peek(stream, len(PARQUET_MAGIC))
    parquet = magic == PARQUET_MAGIC
    return FocusReader(
        _parquet_lines(stream, limits.max_bytes) if parquet else text_lines(stream, max_bytes=limits.max_bytes),
        default_billing_period=default_billing_period,
        max_rows=limits.max_rows,
        parquet=parquet,
    )


def _peek(stream: IO[bytes], size: int) -> tuple[IO[bytes], bytes]:
    """The first ``size`` bytes of ``stream``, and the stream still at its start."""
    seekable = getattr(stream, "seekable", None)
    if seekable is not None and seekable():
        stream.seek(0)
        head = stream.read(size)
        stream.seek(0)
        return stream, head
    head = stream.read(size)
    return io.BufferedReader(_Prefixed(head, stream), CHUNK_BYTES), head


def _parquet_lines(stream: IO[bytes], max_bytes: int | None) -> Iterator[str]:
    """A Parquet file's rows as CSV lines (:mod:`costs.parquet`, which loads pyarrow, only for Parquet files).

    Parquet is read from its end (the footer), so a stream that cannot seek (an S3 body) is first spooled to a
    temporary file: in memory up to :data:`PARQUET_SPOOL_BYTES`, on disk beyond, never over ``max_bytes``.
    """
    from costs.parquet import parquet_lines

    seekable = getattr(stream, "seekable", None)
    if seekable is not None and seekable():
        yield from parquet_lines(stream)
        return
    with tempfile.SpooledTemporaryFile(max_size=PARQUET_SPOOL_BYTES) as spool:
        total = 0
        for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
            total += len(chunk)
            if max_bytes is not None and total > max_bytes:
                raise FocusInputError(1, f"the Parquet file is larger than {filesizeformat(max_bytes)}")
            spool.write(chunk)
        spool.seek(0)
        yield from parquet_lines(spool)


def read_focus(text: str | Iterable[str], *, default_billing_period: date | None = None) -> FocusFile:
    """Parse FOCUS CSV text; every row either becomes day rows or a :class:`RowError` (at most 200 are kept)."""
    reader = FocusReader(text, default_billing_period=default_billing_period)
    rows = list(reader)
    return FocusFile(rows if not reader.errors else [], reader.errors, reader.lines, reader.bad_rows)


class FocusReader:
    """Streams a FOCUS file's day rows without holding the file, collecting row errors on the way.

    A bad row is skipped and recorded in :attr:`errors` (the first
    :data:`MAX_ERRORS`; :attr:`bad_rows` counts them all); whoever loads the
    rows checks ``errors`` once the iteration ends and rolls the load back if
    there are any (see :func:`costs.store.load_focus`), so a bad file loads
    nothing even though it was streamed. What makes the rest of the file
    unreadable (see :func:`text_lines`, a CSV error, a duplicated column, too
    many rows) ends the iteration with one more error, kept in :attr:`fatal`.
    """

    def __init__(
        self,
        text: str | Iterable[str],
        *,
        default_billing_period: date | None = None,
        max_rows: int | None = None,
        parquet: bool = False,
        fast: bool = True,
    ) -> None:
        self._lines = io.StringIO(text) if isinstance(text, str) else text
        self._fast = fast
        self._parquet = parquet
        self._default_billing_period = default_billing_period
        self._max_rows = max_rows
        self.errors: list[RowError] = []
        self.fatal: RowError | None = None
        self.bad_rows = 0
        self.lines = 0

    def _stop(self, line: int, message: str) -> None:
        self.fatal = RowError(line, "", message)
        self.errors.append(self.fatal)

    def __iter__(self) -> Iterator[FocusRow]:
        try:
            yield from self._rows()
        except FocusInputError as error:
            self._stop(error.line, error.message)
        if self._parquet:  # the errors name CSV lines: say which row of the Parquet file each is
            self.errors = [_parquet_row(error) for error in self.errors]
            self.fatal = _parquet_row(self.fatal) if self.fatal is not None else None

    def _rows(self) -> Iterator[FocusRow]:
        reader = csv.reader(self._lines)
        try:
            header = next(reader, None)
        except csv.Error as error:
            self._stop(1, _csv_problem(error))
            return
        if not header:
            self._stop(1, "the file is empty; a FOCUS file starts with a header line naming its columns")
            return
        seen: set[str] = set()
        twice = [name for name in header if name in seen or seen.add(name)]  # type: ignore[func-returns-value]
        if twice:
            self._stop(1, f"the header names {', '.join(sorted(set(twice)))} more than once; each column appears once")
            return
        columns = set(header)
        missing = [name for name in REQUIRED if name not in columns]
        if "BillingPeriodStart" not in columns and self._default_billing_period is None:
            missing.append("BillingPeriodStart")
        if missing:
            self._stop(1, f"missing FOCUS column(s): {', '.join(missing)}")
            return
        width = len(header)
        fast = _Charges(header, self._default_billing_period) if self._fast else None
        while True:
            start = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                self._stop(start, _csv_problem(error))
                return
            if not fields:
                continue  # a blank line
            self.lines += 1
            if self._max_rows is not None and self.lines > self._max_rows:
                self.lines -= 1
                self._stop(
                    start,
                    f"the file has more than {numbers.number(self._max_rows)} rows; files of up to "
                    f"{numbers.number(self._max_rows)} are accepted",
                )
                return
            try:
                if len(fields) > width:
                    raise _BadValue("", "has more fields than the header")
                rows = fast.rows(fields) if fast is not None else None
                if rows is None:
                    record: dict[str, str | None] = dict(zip(header, fields, strict=False))
                    rows = list(_day_rows(record, self._default_billing_period))
            except _BadValue as bad:
                self.bad_rows += 1
                if len(self.errors) < MAX_ERRORS:
                    self.errors.append(RowError(start, bad.column, bad.message))
                continue
            yield from rows


def _csv_problem(error: csv.Error) -> str:
    """What a CSV error means to the person who wrote the file."""
    text = str(error)
    if "field larger than field limit" in text:
        return (
            f'a field is longer than {FIELD_LIMIT // 1024} KiB; often a double quote (") opens a field that is '
            "never closed, on this line or the next ones"
        )
    if "NUL" in text:
        return "holds a NUL character (byte 0), which cannot be stored; remove it"
    return f"is not valid CSV ({text}); check the double quotes on this line"


class _BadValue(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column, self.message = column, message


def _money(record: dict[str, str | None], column: str) -> Decimal:
    return _amount((record.get(column) or "").strip(), column)


def _amount(raw: str, column: str) -> Decimal:
    """``raw`` (stripped) as an amount at the store's precision, or a :class:`_BadValue` saying what is wrong."""
    if not raw:
        raise _BadValue(column, "is empty; a cost must be a number (use 0 for none)")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise _BadValue(column, f"{raw!r} is not a number") from None
    if not value.is_finite():
        raise _BadValue(column, f"{raw!r} is not a finite number")
    if abs(value) >= MAX_AMOUNT:
        limit = numbers.number(MAX_AMOUNT)
        raise _BadValue(column, f"{raw!r} is larger than any bill (amounts below {limit} are accepted)")
    return value.quantize(PLACES)


def _day(record: dict[str, str | None], column: str) -> tuple[date, bool]:
    """The date of a FOCUS datetime and whether it falls exactly on midnight."""
    raw = (record.get(column) or "").strip()
    parsed = _parse_day(raw)
    if isinstance(parsed, str):
        raise _BadValue(column, parsed)
    return parsed


@lru_cache(maxsize=4096)  # a file repeats the same few timestamps on every row
def _parse_day(raw: str) -> tuple[date, bool] | str:
    """The day and whether it is midnight, or what is wrong with ``raw`` (FOCUS: ``YYYY-MM-DDTHH:mm:ssZ``, UTC)."""
    expected = f"FOCUS date/times are in UTC, written YYYY-MM-DDTHH:mm:ssZ (e.g. {TIMESTAMP_EXAMPLE})"
    if not raw:
        return f"is empty; {expected}"
    found = _TIMESTAMP.fullmatch(raw)
    if found is None:
        if _DATE_ONLY.fullmatch(raw):
            return f"{raw!r} has no time; {expected}"
        if _OFFSET.search(raw) and not raw.endswith("Z"):
            return f"{raw!r} gives a time zone or offset instead of Z; {expected}"
        return f"{raw!r} is not a date/time as FOCUS writes them; {expected}"
    try:
        year, month, day, hour, minute, second = (int(part) for part in found.groups())
        moment = datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 (the Z was checked: UTC)
    except ValueError as error:
        return f"{raw!r} is not a real date and time ({error}); {expected}"
    return moment.date(), moment.time() == datetime.min.time()


def _text(record: dict[str, str | None], column: str, limit: int) -> str:
    value = (record.get(column) or "").strip()
    if len(value) > limit:
        raise _BadValue(column, f"is longer than {limit} characters")
    return value


def _choice(record: dict[str, str | None], column: str, known: dict[str, str]) -> str:
    raw = (record.get(column) or "").strip()
    value = known.get(raw.lower())
    if value is None:
        names = ", ".join(sorted(name.title() for name in known if name))
        raise _BadValue(column, f"{raw!r} is not one of {names}")
    return value


def _tags(record: dict[str, str | None]) -> dict[str, str]:
    """The row's tags; rows with the same tags share one dict, which nobody may change."""
    tags = _parse_tags((record.get("Tags") or "").strip())
    if tags is None:
        raise _BadValue(
            "Tags", 'is not a JSON object such as {"team": "payments"} (with no NUL or unpaired \\u escapes)'
        )
    return tags


@lru_cache(maxsize=65536)  # resources repeat their tags day after day
def _parse_tags(raw: str) -> dict[str, str] | None:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    tags = {str(key): "" if item is None else str(item) for key, item in value.items()}
    if any(_UNSTORABLE.search(text) for pair in tags.items() for text in pair):
        return None
    return tags


def _day_rows(record: dict[str, str | None], default_billing_period: date | None) -> Iterator[FocusRow]:
    row, start, end_exclusive, billing_end, billed_once = _charge(record, default_billing_period)
    yield from place(row, start, end_exclusive, billing_end, billed_once=billed_once)


def _charge_period(record: dict[str, str | None], latest: date) -> tuple[date, date]:
    """The row's charge period: its first day and the day after its last."""
    start, _ = _day(record, "ChargePeriodStart")
    end, end_at_midnight = _day(record, "ChargePeriodEnd")
    if not EARLIEST_DAY <= start <= latest:
        raise _BadValue(
            "ChargePeriodStart", f"{start.isoformat()} is outside the dates accepted ({EARLIEST_DAY} to {latest})"
        )
    if (end - start).days >= MAX_CHARGE_PERIOD_DAYS:  # checked before a day is added to 9999-12-31
        raise _BadValue("ChargePeriodEnd", f"the charge period is longer than {MAX_CHARGE_PERIOD_DAYS} days")
    end_exclusive = end if end_at_midnight else end + timedelta(days=1)
    if end_exclusive <= start:
        raise _BadValue("ChargePeriodEnd", "is not after ChargePeriodStart (the end is exclusive)")
    return start, end_exclusive


def _charge(
    record: dict[str, str | None], default_billing_period: date | None
) -> tuple[FocusRow, date, date, date, bool]:
    """One row checked: the charge (dated on its first day), its charge period (end exclusive), the end of its
    billing period (exclusive), and whether its billed cost is all on its first day."""
    latest = latest_day(timezone.now().date())
    start, end_exclusive = _charge_period(record, latest)
    if record.get("BillingPeriodStart"):
        billing_period, _ = _day(record, "BillingPeriodStart")
    elif default_billing_period is not None:
        billing_period = default_billing_period
    else:
        raise _BadValue("BillingPeriodStart", "is empty")
    billing_period = billing_period.replace(day=1)
    if not EARLIEST_DAY.replace(day=1) <= billing_period <= latest:
        accepted = f"the dates accepted ({EARLIEST_DAY} to {latest})"
        raise _BadValue("BillingPeriodStart", f"{billing_period.isoformat()} is outside {accepted}")
    billing_end = _next_month(billing_period)
    if (record.get("BillingPeriodEnd") or "").strip():
        stated_end, stated_at_midnight = _day(record, "BillingPeriodEnd")
        stated_end = stated_end if stated_at_midnight else stated_end + timedelta(days=1)
        if stated_end <= billing_period:
            raise _BadValue("BillingPeriodEnd", "is not after BillingPeriodStart (the end is exclusive)")
        billing_end = stated_end
    currency = _currency(record)
    billed = _money(record, "BilledCost")
    effective = _money(record, "EffectiveCost")
    listed = _money(record, "ListCost") if (record.get("ListCost") or "").strip() else billed
    # FOCUS ContractedCost: "If negotiated discounts are not applicable, the Contracted Cost defaults to the List
    # Cost." A file without the column (FOCUS 1.0 made it mandatory; older exports lack it) states no negotiated
    # price, so its contracted cost is its list cost.
    contracted = _money(record, "ContractedCost") if (record.get("ContractedCost") or "").strip() else listed
    charge_class = _charge_class(record)
    charge_category = _choice(record, "ChargeCategory", _CATEGORIES)
    frequency = _choice(record, "ChargeFrequency", _FREQUENCIES)
    provider = record.get("ServiceProviderName") or record.get("ProviderName") or ""
    row = FocusRow(
        charge_date=start,
        billed_cost=billed,
        effective_cost=effective,
        list_cost=listed,
        contracted_cost=contracted,
        billing_period_start=billing_period,
        charge_category=charge_category,
        currency=currency,
        provider=provider_code(provider),
        service_name=_text(record, "ServiceName", 200),
        service_category=_text(record, "ServiceCategory", 64),
        region_code=_text(record, "RegionId", 64).lower(),
        billing_account_id=_text(record, "BillingAccountId", 100),
        sub_account_id=_text(record, "SubAccountId", 100),
        resource_id=(record.get("ResourceId") or "").strip(),
        pricing_category=_choice(record, "PricingCategory", _PRICING),
        commitment_discount_id=(record.get("CommitmentDiscountId") or "").strip(),
        commitment_discount_status=_choice(record, "CommitmentDiscountStatus", _COMMITMENT),
        charge_class=charge_class,
        tags=_tags(record),
    )
    return row, start, end_exclusive, billing_end, _billed_once(charge_category, frequency)


def _currency(record: dict[str, str | None], column: str = "BillingCurrency") -> str:
    currency = _text(record, column, 3).upper()
    if len(currency) != 3 or not currency.isalpha():
        raise _BadValue(column, f"{currency!r} is not a three-letter currency code such as USD")
    return currency


def _charge_class(record: dict[str, str | None], column: str = "ChargeClass") -> str:
    charge_class = (record.get(column) or "").strip().lower()
    if charge_class not in ("", ChargeClass.CORRECTION):
        raise _BadValue(column, f"{charge_class!r} is not empty or Correction")
    return charge_class


def _billed_once(charge_category: str, frequency: str) -> bool:
    """Whether the row's billed cost is all on the day it was charged (see the module's docstring)."""
    return charge_category == ChargeCategory.PURCHASE or frequency in _CHARGED_ONCE


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def place(row: FocusRow, start: date, end: date, billing_end: date, *, billed_once: bool) -> Iterator[FocusRow]:
    """The day rows of one charge from ``start`` to ``end`` (exclusive), none after ``billing_end`` (exclusive).

    ``billed_once``: the billed cost is all on the first day; otherwise it is spread like the other costs.
    """
    last = billing_end - timedelta(days=1)
    first = min(start, last)  # a charge period starting after its invoice's period is dated on its last day
    end = max(min(end, billing_end), first + timedelta(days=1))
    days = (end - first).days
    # List and contracted cost are compared with effective cost (what discounts saved), so they are dated with
    # it; but a purchase paid for future charges (EffectiveCost 0: its usage rows carry the amortised cost, and
    # their own list and contracted cost) has only its price, dated with its billed cost.
    prices_once = billed_once and not row.effective_cost
    once = {"billed_cost": row.billed_cost} if billed_once else {}
    spread = {"effective_cost": row.effective_cost}
    (once if prices_once else spread).update(list_cost=row.list_cost, contracted_cost=row.contracted)
    if not billed_once:
        spread["billed_cost"] = row.billed_cost
    if days == 1:
        yield replace(row, charge_date=first)
        return
    nothing = {name: Decimal(0) for name in spread}
    if not any(spread.values()):  # only what is charged once: one row
        yield _dated(row, first, nothing | once)
        return
    parts = {name: _spread(amount, days) for name, amount in spread.items()}
    zero = {name: Decimal(0) for name in once}
    for offset in range(days):
        amounts = {name: values[offset] for name, values in parts.items()} | (once if offset == 0 else zero)
        yield _dated(row, first + timedelta(days=offset), amounts)


def _dated(row: FocusRow, day: date, amounts: dict[str, Decimal]) -> FocusRow:
    return replace(
        row,
        charge_date=day,
        billed_cost=amounts["billed_cost"],
        effective_cost=amounts["effective_cost"],
        list_cost=amounts["list_cost"],
        contracted_cost=amounts["contracted_cost"],
    )


def _spread(amount: Decimal, days: int) -> list[Decimal]:
    """``amount`` over ``days`` equal parts at the store's precision, the last part taking what rounding left."""
    each = (amount / days).quantize(PLACES)
    return [each] * (days - 1) + [amount - each * (days - 1)]


# What a row's day rows depend on besides its amounts, ResourceId and CommitmentDiscountId (which are only
# stripped): rows repeating these values (a resource day after day, the resources of one service and account)
# are checked once, see :class:`_Charges`.
_REPEATED = (
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "BillingCurrency",
    "ChargeClass",
    "ChargeCategory",
    "ChargeFrequency",
    "ServiceProviderName",
    "ProviderName",
    "ServiceName",
    "ServiceCategory",
    "RegionId",
    "BillingAccountId",
    "SubAccountId",
    "PricingCategory",
    "CommitmentDiscountStatus",
    "Tags",
)
_NO_AMOUNTS: dict[str, str | None] = {"BilledCost": "0", "EffectiveCost": "0", "ListCost": "0", "ContractedCost": "0"}
# How many distinct charges :class:`_Charges` remembers before it starts over (memory stays bounded).
CHARGES_KEPT = 20_000


@dataclass(frozen=True)
class _Known:
    """A checked charge: its row without amounts, and where its days fall (see :func:`place`)."""

    row: FocusRow
    start: date
    end: date
    billing_end: date
    billed_once: bool
    first: date
    one_day: bool


class _Charges:
    """The day rows of a file's rows, checking what rows repeat (:data:`_REPEATED`) once per distinct value.

    A row whose repeated values were seen before only has its amounts checked
    (the only rule left it can break, and its amounts are checked in the same
    order as :func:`_charge` does, so the error is the same); a row with new
    values is checked in full. :meth:`rows` answers None for a row that breaks
    a rule other than an amount's: the caller reads it with :func:`_day_rows`,
    which says what is wrong exactly as for any row.
    """

    def __init__(self, header: list[str], default_billing_period: date | None) -> None:
        self._header = header
        self._width = len(header)
        self._default_billing_period = default_billing_period
        index = {name: position for position, name in enumerate(header)}
        positions = [index[name] for name in _REPEATED if name in index]
        self._key = itemgetter(*positions)  # the required columns among them: always a tuple
        period = {index["ChargePeriodStart"], index["ChargePeriodEnd"]}
        self._rest_key = itemgetter(*(position for position in positions if position not in period))
        self._rest: dict[tuple[str, ...], tuple[FocusRow, date, bool]] = {}
        self._billed, self._effective, self._list, self._contracted = (
            index.get(name) for name in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")
        )
        self._resource = index.get("ResourceId")
        self._commitment = index.get("CommitmentDiscountId")
        self._known: dict[tuple[str, ...], _Known] = {}
        self._amounts: dict[str, Decimal] = {}

    def _amount(self, fields: list[str], position: int | None, column: str) -> Decimal:
        """The amount in ``column`` (amounts repeat: each distinct text is read once)."""
        raw = _field(fields, position)
        value = self._amounts.get(raw)
        if value is None:
            value = _amount(raw, column)
            if len(self._amounts) >= CHARGES_KEPT:
                self._amounts.clear()
            self._amounts[raw] = value
        return value

    def _learn(self, fields: list[str]) -> _Known | None:
        """The charge of a row whose repeated values are new: in full, or only its charge period when the rest
        of them was seen (the same resource or service on another day); None when the row breaks a rule."""
        record: dict[str, str | None] = dict(zip(self._header, fields, strict=False))
        rest_key = self._rest_key(fields)
        rest = self._rest.get(rest_key)
        try:
            if rest is None:
                row, start, end, billing_end, billed_once = _charge(record | _NO_AMOUNTS, self._default_billing_period)
                if len(self._rest) >= CHARGES_KEPT:
                    self._rest.clear()
                self._rest[rest_key] = (row, billing_end, billed_once)
            else:
                row, billing_end, billed_once = rest
                start, end = _charge_period(record, latest_day(timezone.now().date()))
        except _BadValue:
            return None
        last = billing_end - timedelta(days=1)
        first = min(start, last)
        one_day = (max(min(end, billing_end), first + timedelta(days=1)) - first).days == 1
        return _Known(row, start, end, billing_end, billed_once, first, one_day)

    def rows(self, fields: list[str]) -> list[FocusRow] | None:
        if len(fields) < self._width:
            fields = fields + [""] * (self._width - len(fields))
        key = self._key(fields)
        known = self._known.get(key)
        if known is None:
            known = self._learn(fields)
            if known is None:
                return None
            if len(self._known) >= CHARGES_KEPT:
                self._known.clear()
            self._known[key] = known
        billed = self._amount(fields, self._billed, "BilledCost")
        effective = self._amount(fields, self._effective, "EffectiveCost")
        listed = self._amount(fields, self._list, "ListCost") if _field(fields, self._list) else billed
        contracted = (
            self._amount(fields, self._contracted, "ContractedCost") if _field(fields, self._contracted) else listed
        )
        row = object.__new__(FocusRow)  # known.row with this row's own values (faster than dataclasses.replace)
        values = vars(row)
        values.update(vars(known.row))
        values.update(
            charge_date=known.first if known.one_day else known.start,
            billed_cost=billed,
            effective_cost=effective,
            list_cost=listed,
            contracted_cost=contracted,
            resource_id=_field(fields, self._resource),
            commitment_discount_id=_field(fields, self._commitment),
        )
        if known.one_day:
            return [row]
        return list(place(row, known.start, known.end, known.billing_end, billed_once=known.billed_once))


def _field(fields: list[str], position: int | None) -> str:
    return "" if position is None else fields[position].strip()
