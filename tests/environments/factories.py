"""Builders for templates, prices and team limits (kept beside their tests; tests/factories.py is shared)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from access.models import Tier
from costs.choices import UNITS_BY_KIND, PriceUnit
from costs.models import PriceItem
from environments.models import EnvironmentTemplate
from regions.choices import Provider

VALID_TEMPLATE: dict[str, Any] = {
    "name": "Sandbox",
    "slug": "sandbox",
    "tier": Tier.TEST,
    "namespaces": ["core-services", "student-services"],
    "quota_requests_cpu": "2",
    "quota_limits_cpu": "4",
    "quota_requests_memory": "4Gi",
    "quota_limits_memory": "8Gi",
    "quota_pods": 20,
    "allowed_providers": [Provider.AWS],
    "default_ttl_hours": 24,
    "max_ttl_hours": 72,
}


def template(**fields: Any) -> EnvironmentTemplate:
    """An unsaved, valid template with ``fields`` changed."""
    return EnvironmentTemplate(**{**VALID_TEMPLATE, **fields})


def saved_template(**fields: Any) -> EnvironmentTemplate:
    made = template(**fields)
    made.full_clean()
    made.save()
    return made


def price(
    kind: str,
    amount: str,
    *,
    provider: str = Provider.AWS,
    region_code: str = "",
    size: str = "",
    unit: str | None = None,
    currency: str = "USD",
    effective_from: date = date(2026, 1, 1),
    save: bool = True,
) -> PriceItem:
    """A price row; the unit defaults to the kind's (its first, by name)."""
    item = PriceItem(
        provider=provider,
        region_code=region_code,
        kind=kind,
        size=size,
        unit=unit or sorted(UNITS_BY_KIND[kind])[0],
        price=Decimal(amount),
        currency=currency,
        effective_from=effective_from,
    )
    if save:
        item.full_clean()
        item.save()
    return item


HOURLY = PriceUnit.HOUR
