"""Read API of the price table; only rows the policy lets the caller see are listed."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from access import policy
from costs import filtersets, selectors
from costs.api import serializers
from costs.models import PriceItem
from portal.api.permissions import PolicyPermission
from portal.api.viewsets import ScopedReadOnlyViewSet


class PriceTablePermission(PolicyPermission):
    """Anyone signed in may ask; the selector lists only the rows their grants cover, and a row
    outside them is a 404 like one that does not exist. (Asking about the model would refuse
    people with no cost permission at all with a 403 while the rest get an empty list.)"""

    def has_permission(self, request: Request, view: Any) -> bool:
        return policy.can(request.user, policy.VIEW)


class PriceItemViewSet(ScopedReadOnlyViewSet):
    selector = selectors.price_list
    queryset = PriceItem.objects.all()
    serializer_class = serializers.PriceItemSerializer
    filterset_class = filtersets.PriceFilterSet
    permission_classes = [PriceTablePermission]
