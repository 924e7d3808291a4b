"""What a region plan costs, asked of whichever app keeps the price table.

The inventory names what a build-out will run: each :class:`Part` is a kind of
:class:`~regions.choices.ResourceKind`, a size, a quantity (per month, or per
hour for what is billed by the hour) and the words the estimate's note shows.
The costs app keeps the price table and imports the inventory (never the other
way round): it registers the :data:`Pricer` that answers, in its ``ready()``.
Without one, every part is shown as not priced, never as a silent zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class Part:
    kind: str
    size: str
    quantity: Decimal
    what: str


@dataclass(frozen=True)
class Priced:
    """A monthly amount (None when a price is missing), its currency, and how it was reached or what is missing."""

    amount: Decimal | None
    currency: str
    note: str


class Pricer(Protocol):
    def __call__(self, *, provider: str, region: str, parts: Sequence[Part]) -> Priced: ...


_pricer: Pricer | None = None


def register(pricer: Pricer) -> None:
    """Make ``pricer`` the one that prices region plans (the costs app calls this once, at start-up)."""
    global _pricer
    _pricer = pricer


def price(*, provider: str, region: str, parts: Sequence[Part]) -> Priced:
    """The monthly cost of ``parts`` run in ``region`` of ``provider``."""
    if _pricer is None:
        return Priced(None, "", "No price table is installed.")
    return _pricer(provider=provider, region=region, parts=parts)
