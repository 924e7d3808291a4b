"""Template filters of the cost pages: amounts of one currency, and money shown to the cent."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django import template

register = template.Library()

CENT = Decimal("0.01")


@register.filter
def amount_in(amounts: dict[str, Any], currency: str) -> Any:
    """``{{ row.amounts|amount_in:currency }}``: the amount in one currency, None when there is none."""
    return amounts.get(currency) if isinstance(amounts, dict) else None


@register.filter
def money(amount: Decimal | None) -> str:
    """An amount to the cent with thousands separated (1,234.57; -0.40), or a dash for none."""
    if amount is None:
        return "-"
    rounded = Decimal(amount).quantize(CENT, rounding=ROUND_HALF_EVEN)
    if not rounded:
        rounded = abs(rounded)  # no "-0.00"
    return f"{rounded:,.2f}"
