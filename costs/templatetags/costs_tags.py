"""Template filters of the cost pages: amounts of one currency, money shown to the cent, who may see costs."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django import template

from access import policy
from costs.models import CostRollup, CostSource, PriceItem

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


@register.filter
def may_see_costs(user: Any) -> bool:
    """Whether ``user`` may see some costs, e.g. to offer a link to a cost page (``{% if user|may_see_costs %}``)."""
    return policy.can(user, policy.VIEW, CostRollup)


@register.filter
def may_see_prices(user: Any) -> bool:
    """Whether ``user`` may open the price table (prices belong to no team: asked of an unsaved one)."""
    return policy.can(user, policy.VIEW, PriceItem())


@register.filter
def may_see_cost_sources(user: Any) -> bool:
    """Whether ``user`` may open the cost sources page (sources belong to no team: an unlimited cost grant)."""
    return policy.can(user, policy.VIEW, CostSource())
