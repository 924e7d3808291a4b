from __future__ import annotations

from rest_framework import serializers

from costs.models import PriceItem
from costs.services import PRICE_FIELDS


class PriceItemSerializer(serializers.ModelSerializer[PriceItem]):
    class Meta:
        model = PriceItem
        fields = ["id", *PRICE_FIELDS]
