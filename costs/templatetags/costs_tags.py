"""Template filters of the cost pages: amounts of one currency, money shown to the cent, who may see costs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from access import policy
from costs.models import CostRollup, CostSource, PriceItem
from portal import numbers

register = template.Library()


@register.filter
def amount_in(amounts: dict[str, Any], currency: str) -> Any:
    """``{{ row.amounts|amount_in:currency }}``: the amount in one currency, None when there is none."""
    return amounts.get(currency) if isinstance(amounts, dict) else None


@register.filter
def money(amount: Decimal | None) -> str:
    """An amount to the cent, grouped in the portal's locale (1,234.57 in en-gb, 1.234,57 in de), or a dash for none."""
    return numbers.money(amount)


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
