"""Which price applies: pure rules over price rows, so they can be tested without a database.

For one provider, region and moment, the price of a kind (and size) is:

1. a row for that region if one is in force, else a row for any region
   (``region_code`` empty): a regional price always wins over the generic one;
2. among those, the row with the latest ``effective_from`` on or before the
   moment.

A price that is not there is an error naming what is missing, never a zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from costs.choices import HOURLY_UNITS, HOURS_PER_MONTH, AddonSize
from costs.models import PriceItem
from regions.choices import Provider, ResourceKind
from regions.pricing import Part, Priced


@dataclass(frozen=True)
class PriceKey:
    """What a price is looked up by."""

    provider: str
    region_code: str
    kind: str
    size: str = ""

    def describe(self) -> str:
        """In words, e.g. "managed PostgreSQL (medium) on AWS in eu-west-1"."""
        kind = ResourceKind(self.kind).label if self.kind in ResourceKind.values else self.kind
        size = f" ({AddonSize(self.size).label.lower()})" if self.size in AddonSize.values else ""
        provider = Provider(self.provider).label if self.provider in Provider.values else self.provider
        where = f" in {self.region_code}" if self.region_code else ""
        return f"{kind}{size} on {provider}{where}"


class PriceMissing(LookupError):
    """No price in force for one or more keys; the message names each of them and the date."""

    def __init__(self, keys: Sequence[PriceKey], at: date) -> None:
        self.keys = tuple(keys)
        self.at = at
        listed = "; ".join(key.describe() for key in self.keys)
        super().__init__(
            f"The price table has no price on {at.isoformat()} for {listed}. "
            "Add the missing price (for the region or for any region of the provider) to the price table."
        )


class PriceBook:
    """The prices in force for one provider and region at one date, from rows already read.

    ``rows`` may hold anything for the provider; rows for other regions and
    rows not yet in force are ignored.
    """

    def __init__(self, rows: Iterable[PriceItem], *, provider: str, region_code: str, at: date) -> None:
        self.provider = provider
        self.region_code = region_code
        self.at = at
        self._chosen: dict[tuple[str, str], PriceItem] = {}
        for row in rows:
            if row.provider != provider or row.effective_from > at or row.region_code not in ("", region_code):
                continue
            key = (row.kind, row.size)
            current = self._chosen.get(key)
            if current is None or _rank(row) > _rank(current):
                self._chosen[key] = row

    def key(self, kind: str, size: str = "") -> PriceKey:
        return PriceKey(self.provider, self.region_code, kind, size)

    def find(self, kind: str, size: str = "") -> PriceItem | None:
        """The row in force for ``kind`` (and ``size``), or None."""
        return self._chosen.get((kind, size))

    def get(self, kind: str, size: str = "") -> PriceItem:
        """The row in force; :class:`PriceMissing` when there is none."""
        found = self.find(kind, size)
        if found is None:
            raise PriceMissing([self.key(kind, size)], self.at)
        return found


def _rank(row: PriceItem) -> tuple[bool, date]:
    """Regional before generic, then the latest start date."""
    return (row.region_code != "", row.effective_from)


def priced(book: PriceBook, parts: Sequence[Part]) -> Priced:
    """The monthly cost of ``parts`` from ``book``: hourly prices over 730 hours, the note showing the sums.

    A missing price makes the whole amount unknown (None), the note naming what is missing.
    """
    amount = Decimal("0")
    currency = ""
    notes: list[str] = []
    for part in parts:
        price = book.find(part.kind, part.size)
        if price is None:
            return Priced(None, "", str(PriceMissing([book.key(part.kind, part.size)], book.at)))
        hours = HOURS_PER_MONTH if price.unit in HOURLY_UNITS else 1
        amount += part.quantity * hours * price.price
        currency = price.currency
        per = f" {chr(0xD7)} {HOURS_PER_MONTH} h" if hours != 1 else ""
        notes.append(f"{part.what}: {part.quantity.normalize():f} {chr(0xD7)} {price.price.normalize():f}{per}")
    return Priced(amount, currency, "; ".join(notes))
