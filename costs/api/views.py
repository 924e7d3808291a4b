"""Read API of the price table; only rows the policy lets the caller see are listed."""

from __future__ import annotations

from costs import filtersets, selectors
from costs.api import serializers
from costs.models import PriceItem
from portal.api.viewsets import ScopedReadOnlyViewSet


class PriceItemViewSet(ScopedReadOnlyViewSet):
    selector = selectors.price_list
    queryset = PriceItem.objects.all()
    serializer_class = serializers.PriceItemSerializer
    filterset_class = filtersets.PriceFilterSet
