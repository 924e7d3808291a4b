"""The price form: the model's rules validate it; the services write."""

from __future__ import annotations

from django import forms

from costs.models import PriceItem


class PriceForm(forms.ModelForm[PriceItem]):
    class Meta:
        model = PriceItem
        fields = ["provider", "region_code", "kind", "size", "unit", "price", "currency", "effective_from", "note"]
        widgets = {"effective_from": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}
