"""Writes of the price table: checked by the policy inside their transaction, audited with before/after.

Who may change prices: holders of ``costs.change`` ("Set budgets and rate
cards": managers and platform admins) on objects that belong to no team, so
a grant limited to a team never covers the portal-wide table. Adding and
removing a row are changes to the table, so they ask for ``costs.change``
too rather than for permissions no role holds.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction

from access import policy
from access.audit import services as audit
from access.models import User
from access.permissions import CHANGE
from costs.models import PriceItem

PRICE_FIELDS = ["provider", "region_code", "kind", "size", "unit", "price", "currency", "effective_from", "note"]


def _check(actor: User, action: str, obj: Any) -> None:
    policy.forget(actor)
    policy.require(actor, action, obj)


@transaction.atomic
def price_create(
    *,
    actor: User,
    provider: str,
    kind: str,
    unit: str,
    price: Decimal,
    effective_from: date,
    region_code: str = "",
    size: str = "",
    currency: str = "USD",
    note: str = "",
) -> PriceItem:
    item = PriceItem(
        provider=provider,
        region_code=region_code.strip(),
        kind=kind,
        size=size,
        unit=unit,
        price=price,
        currency=currency.strip().upper(),
        effective_from=effective_from,
        note=note.strip(),
    )
    _check(actor, CHANGE, item)
    item.full_clean()
    item.save()
    audit.record(audit.PRICE_CREATED, item, actor=actor, after=audit.snapshot(item, PRICE_FIELDS))
    return item


@transaction.atomic
def price_update(*, actor: User, price_id: int, **fields: Any) -> PriceItem:
    """Correct a price row. To change a price from a date on, add a row with that date instead."""
    item = policy.get_for_update(PriceItem.objects.all(), actor, CHANGE, pk=price_id)
    before = audit.snapshot(item, PRICE_FIELDS)
    for name, value in fields.items():
        if name not in PRICE_FIELDS:
            raise TypeError(f"not a price field: {name}")
        setattr(item, name, value.strip() if isinstance(value, str) else value)
    item.currency = item.currency.upper()
    item.full_clean()
    item.save()
    after = audit.snapshot(item, PRICE_FIELDS)
    if after != before:
        audit.record(audit.PRICE_CHANGED, item, actor=actor, before=before, after=after)
    return item


@transaction.atomic
def price_delete(*, actor: User, price_id: int) -> None:
    item = policy.get_for_update(PriceItem.objects.all(), actor, CHANGE, pk=price_id)
    audit.record(audit.PRICE_DELETED, item, actor=actor, before=audit.snapshot(item, PRICE_FIELDS))
    item.delete()
