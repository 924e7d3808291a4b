"""Filters of the price table page and the API."""

from __future__ import annotations

import django_filters

from costs.models import PriceItem


class PriceFilterSet(django_filters.FilterSet):  # type: ignore[misc]  # django-filter ships no types
    region_code = django_filters.CharFilter(label="Region (empty: any)")

    class Meta:
        model = PriceItem
        fields = ["provider", "kind", "region_code", "currency"]
