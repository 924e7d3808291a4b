"""Template filters of the costs app."""

from __future__ import annotations

from typing import Any

from django import template

from access import policy
from costs.models import CostRollup

register = template.Library()


@register.filter
def may_see_costs(user: Any) -> bool:
    """Whether ``user`` may see some costs, e.g. to offer a link to a cost page (``{% if user|may_see_costs %}``)."""
    return policy.can(user, policy.VIEW, CostRollup)
