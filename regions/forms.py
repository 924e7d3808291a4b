"""The region request form: every rule of :class:`~regions.models.RegionRequest` shown next to its field."""

from __future__ import annotations

from typing import Any

from django import forms

from regions import catalogue
from regions.choices import Provider
from regions.models import BUILDABLE_PROVIDERS, CloudAccount, RegionRequest
from regions.services import REQUEST_FIELDS


def region_choices(*, blank: str | None = None) -> list[tuple[str, Any]]:
    """Every cloud region the portal knows, grouped by provider, labelled with where it is."""
    choices: list[tuple[str, Any]] = [("", blank)] if blank is not None else []
    for provider in BUILDABLE_PROVIDERS:
        regions = catalogue.KNOWN_REGIONS[provider]
        choices.append(
            (
                Provider(provider).label,
                [(code, f"{code} ({name}, {zone})") for code, (name, zone) in regions.items()],
            )
        )
    return choices


class RegionRequestForm(forms.ModelForm[RegionRequest]):
    """Ask for a new region. The model's ``clean`` checks residency (the region's real zone, the partner's)."""

    code = forms.ChoiceField(label="Cloud region", choices=())
    dr_partner_code = forms.ChoiceField(label="DR partner region", choices=(), required=False)

    class Meta:
        model = RegionRequest
        fields = REQUEST_FIELDS
        widgets = {"justification": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, accounts: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, choices in (
            ("provider", [(p.value, p.label) for p in Provider if p in BUILDABLE_PROVIDERS]),
            ("code", region_choices()),
            ("dr_partner_code", region_choices(blank="None")),
        ):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)  # noqa: S101 (declared as choice fields)
            field.choices = choices
        self.fields["dr_partner_code"].help_text = RegionRequest._meta.get_field("dr_partner_code").help_text
        account_field = self.fields["account"]
        assert isinstance(account_field, forms.ModelChoiceField)  # noqa: S101 (a foreign key's field)
        account_field.queryset = accounts if accounts is not None else CloudAccount.objects.none()
        account_field.empty_label = None
