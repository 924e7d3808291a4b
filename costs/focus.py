"""Reading FinOps FOCUS (1.0 to 1.2) cost files: AWS Data Exports, Azure FocusCost exports and uploads.

:func:`read_focus` turns CSV text (gzip-compressed or not) into
:class:`FocusRow` values at daily grain and collects a :class:`RowError`
for every malformed row instead of stopping at the first one, so a person
fixing a file sees everything wrong with it at once.

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
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from costs.choices import ChargeCategory, ChargeClass, ChargeFrequency

# The store keeps ten decimal places, more than any provider bills in.
PLACES = Decimal("0.0000000001")
MAX_ERRORS = 200

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

    @property
    def ok(self) -> bool:
        return not self.errors


def provider_code(name: str) -> str:
    """``aws``, ``azure`` or ``on_prem`` for the names providers use; anything else as given."""
    return _PROVIDERS.get(name.strip().lower(), name.strip()[:64])


def decode(data: bytes) -> str:
    """The text of an export object: gunzipped when it is gzip, UTF-8 with or without a byte-order mark."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8-sig")


def read_focus(text: str | Iterable[str], *, default_billing_period: date | None = None) -> FocusFile:
    """Parse FOCUS CSV text; every row either becomes day rows or a :class:`RowError` (at most 200 are kept)."""
    reader = FocusReader(text, default_billing_period=default_billing_period)
    rows = list(reader)
    return FocusFile(rows if not reader.errors else [], reader.errors, reader.lines)


class FocusReader:
    """Streams a FOCUS file's day rows without holding the file, collecting row errors on the way.

    A bad row is skipped and recorded in :attr:`errors`; whoever loads the
    rows checks ``errors`` once the iteration ends and rolls the load back if
    there are any (see :func:`costs.store.load_focus`), so a bad file loads
    nothing even though it was streamed.
    """

    def __init__(self, text: str | Iterable[str], *, default_billing_period: date | None = None) -> None:
        self._lines = io.StringIO(text) if isinstance(text, str) else text
        self._default_billing_period = default_billing_period
        self.errors: list[RowError] = []
        self.lines = 0

    def __iter__(self) -> Iterator[FocusRow]:
        reader = csv.DictReader(self._lines)
        columns = set(reader.fieldnames or ())
        missing = [name for name in REQUIRED if name not in columns]
        if "BillingPeriodStart" not in columns and self._default_billing_period is None:
            missing.append("BillingPeriodStart")
        if missing:
            self.errors.append(RowError(1, "", f"missing FOCUS column(s): {', '.join(missing)}"))
            return
        for record in reader:
            self.lines += 1
            try:
                rows = list(_day_rows(record, self._default_billing_period))
            except _BadValue as bad:
                if len(self.errors) < MAX_ERRORS:
                    self.errors.append(RowError(reader.line_num, bad.column, bad.message))
                continue
            yield from rows


class _BadValue(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column, self.message = column, message


def _money(record: dict[str, str | None], column: str) -> Decimal:
    raw = (record.get(column) or "").strip()
    if not raw:
        raise _BadValue(column, "is empty; a cost must be a number (use 0 for none)")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise _BadValue(column, f"{raw!r} is not a number") from None
    if not value.is_finite():
        raise _BadValue(column, f"{raw!r} is not a finite number")
    return value.quantize(PLACES)


def _day(record: dict[str, str | None], column: str) -> tuple[date, bool]:
    """The date of a FOCUS datetime and whether it falls exactly on midnight."""
    raw = (record.get(column) or "").strip()
    parsed = _parse_day(raw)
    if parsed is None:
        raise _BadValue(column, f"{raw!r} is not a date such as 2026-11-01T00:00:00Z")
    return parsed


@lru_cache(maxsize=4096)  # a file repeats the same few timestamps on every row
def _parse_day(raw: str) -> tuple[date, bool] | None:
    try:
        day = date.fromisoformat(raw[:10])
    except ValueError:
        return None
    rest = raw[10:].lstrip("T ").rstrip("Z")
    return day, not rest or rest.split("+")[0].strip("0:.") == ""


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
        raise _BadValue("Tags", 'is not a JSON object such as {"team": "payments"}')
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
    return {str(key): "" if item is None else str(item) for key, item in value.items()}


def _day_rows(record: dict[str, str | None], default_billing_period: date | None) -> Iterator[FocusRow]:
    if None in record:  # csv puts surplus fields under the key None
        raise _BadValue("", "has more fields than the header")
    start, _ = _day(record, "ChargePeriodStart")
    end, end_at_midnight = _day(record, "ChargePeriodEnd")
    end_exclusive = end if end_at_midnight else end + timedelta(days=1)
    if end_exclusive <= start:
        raise _BadValue("ChargePeriodEnd", "is not after ChargePeriodStart (the end is exclusive)")
    if record.get("BillingPeriodStart"):
        billing_period, _ = _day(record, "BillingPeriodStart")
    elif default_billing_period is not None:
        billing_period = default_billing_period
    else:
        raise _BadValue("BillingPeriodStart", "is empty")
    billing_period = billing_period.replace(day=1)
    billing_end = _next_month(billing_period)
    if (record.get("BillingPeriodEnd") or "").strip():
        stated_end, stated_at_midnight = _day(record, "BillingPeriodEnd")
        stated_end = stated_end if stated_at_midnight else stated_end + timedelta(days=1)
        if stated_end <= billing_period:
            raise _BadValue("BillingPeriodEnd", "is not after BillingPeriodStart (the end is exclusive)")
        billing_end = stated_end
    currency = _text(record, "BillingCurrency", 3).upper()
    if len(currency) != 3 or not currency.isalpha():
        raise _BadValue("BillingCurrency", f"{currency!r} is not a three-letter currency code such as USD")
    billed = _money(record, "BilledCost")
    effective = _money(record, "EffectiveCost")
    listed = _money(record, "ListCost") if (record.get("ListCost") or "").strip() else billed
    # FOCUS ContractedCost: "If negotiated discounts are not applicable, the Contracted Cost defaults to the List
    # Cost." A file without the column (FOCUS 1.0 made it mandatory; older exports lack it) states no negotiated
    # price, so its contracted cost is its list cost.
    contracted = _money(record, "ContractedCost") if (record.get("ContractedCost") or "").strip() else listed
    charge_class = (record.get("ChargeClass") or "").strip().lower()
    if charge_class not in ("", ChargeClass.CORRECTION):
        raise _BadValue("ChargeClass", f"{charge_class!r} is not empty or Correction")
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
    yield from place(row, start, end_exclusive, billing_end, billed_once=_billed_once(charge_category, frequency))


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
