from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from costs.models import PriceItem
from costs.services import PRICE_FIELDS


class PriceItemSerializer(serializers.ModelSerializer[PriceItem]):
    class Meta:
        model = PriceItem
        fields = ["id", *PRICE_FIELDS]


class Money(serializers.DecimalField):
    """An exact amount as a decimal string without trailing zeros beyond the cent ("12.5" is "12.50")."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=None, decimal_places=None, **kwargs)

    def to_representation(self, value: Decimal) -> str:
        text = f"{Decimal(value).normalize():f}"
        whole, _, fraction = text.partition(".")
        return f"{whole}.{fraction.ljust(2, '0')}"


class CostTotalSerializer(serializers.Serializer[Any]):
    currency = serializers.CharField()
    amount = Money(help_text="The total in this currency (amounts in different currencies are never added).")
    unallocated = Money(help_text="The part no team owns: unallocated cost and clusters' idle capacity.")
    line_items = serializers.IntegerField()


class CostRowSerializer(serializers.Serializer[Any]):
    key = serializers.CharField(help_text='The value to filter by (``-`` for "none").')
    name = serializers.CharField(help_text="What the value is called (a team's name, a category's label).")
    currency = serializers.CharField()
    amount = Money()
    line_items = serializers.IntegerField()


class CostSeriesPointSerializer(serializers.Serializer[Any]):
    period = serializers.DateField(help_text="The first day of the day, week or month.")
    key = serializers.CharField()
    name = serializers.CharField(help_text="What the value is called (a team's name, a category's label).")
    currency = serializers.CharField()
    amount = Money()


class CostMoverSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    name = serializers.CharField(help_text="What the value is called (a team's name, a category's label).")
    currency = serializers.CharField()
    previous = Money(help_text="The previous period of the same length.")
    current = Money()
    change = Money()


class CostBreakdownSerializer(serializers.Serializer[Any]):
    """A breakdown as the breakdown page shows it: totals, rows per value and currency, the series, movers."""

    by = serializers.CharField()
    grouping = serializers.CharField()
    basis = serializers.CharField()
    period = serializers.CharField(help_text="charge (when incurred) or billing (by invoice).")
    filters = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    totals = CostTotalSerializer(many=True)
    rows = CostRowSerializer(many=True)
    series = CostSeriesPointSerializer(many=True)
    movers = CostMoverSerializer(many=True)

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # "from" is a Python keyword, so the range's ends are added here rather than declared above.
        fields = super().get_fields()
        fields["from"] = serializers.DateField(help_text="The first day of the range.")
        fields["to"] = serializers.DateField(help_text="The last day of the range (included).")
        return fields
