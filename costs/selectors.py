"""Reads of the price table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from access import policy
from access.models import User
from costs.models import PriceItem
from costs.prices import PriceBook, priced
from regions.models import Region
from regions.pricing import Part, Priced

AnyUser = User | AnonymousUser


def price_list(*, user: AnyUser) -> QuerySet[PriceItem]:
    """The price rows ``user`` may see, newest first within each kind."""
    return policy.restrict(PriceItem.objects.all(), user, policy.VIEW).order_by(
        "provider", "kind", "size", "region_code", "-effective_from"
    )


def price_get(*, user: AnyUser, pk: int) -> PriceItem:
    return get_object_or_404(price_list(user=user), pk=pk)


def _day(at: date | datetime | None) -> date:
    if at is None:
        return timezone.localdate()
    if isinstance(at, datetime):
        return timezone.localdate(at)
    return at


def price_book(*, provider: str, region: Region | str, at: date | datetime | None = None) -> PriceBook:
    """Every price in force for ``provider`` in ``region`` on the day of ``at`` (default today), in one query.

    This is the system reading its own table to compute estimates, so it is not
    scoped by the policy: people who may not open the price table still see
    the estimate (and the unit prices it used) of a template they may see.
    """
    code = region.code if isinstance(region, Region) else region
    day = _day(at)
    rows = PriceItem.objects.filter(provider=provider, region_code__in=["", code], effective_from__lte=day)
    return PriceBook(rows, provider=provider, region_code=code, at=day)


def price_region_parts(*, provider: str, region: str, parts: Sequence[Part]) -> Priced:
    """The monthly cost of what a region plan runs (:mod:`regions.pricing`), from today's price table."""
    return priced(price_book(provider=provider, region=region), parts)


def price_for(
    provider: str, region: Region | str, kind: str, *, size: str = "", at: date | datetime | None = None
) -> PriceItem:
    """The price in force for one kind (and size): regional over generic, then the latest start date.

    Raises :class:`costs.prices.PriceMissing`, naming what is missing, when there is none.
    """
    return price_book(provider=provider, region=region, at=at).get(kind, size)
