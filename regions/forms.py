"""The region request form: every rule of :class:`~regions.models.RegionRequest` shown next to its field."""

from __future__ import annotations

from typing import Any

from django import forms

from portal.bounds import TEXT_MAX
from regions import catalogue
from regions.choices import Provider, ResidencyZone
from regions.models import BUILDABLE_PROVIDERS, CloudAccount, RegionRequest
from regions.services import REQUEST_FIELDS


def region_choices(*, blank: str | None = None, provider: str | None = None) -> list[tuple[str, Any]]:
    """Every cloud region the portal knows (of ``provider`` only, when given), grouped by provider, labelled with
    where it is."""
    choices: list[tuple[str, Any]] = [("", blank)] if blank is not None else []
    for each in BUILDABLE_PROVIDERS:
        if provider and each != provider:
            continue
        regions = catalogue.regions_in_zones(each)
        choices.append(
            (
                Provider(each).label,
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
        # The regions offered are the chosen provider's (AWS regions for an AWS account).
        provider = str((self.data.get("provider") if self.is_bound else self.initial.get("provider")) or "")
        provider = provider if provider in BUILDABLE_PROVIDERS else ""
        for name, choices in (
            ("provider", [(p.value, p.label) for p in Provider if p in BUILDABLE_PROVIDERS]),
            ("code", region_choices(provider=provider)),
            ("dr_partner_code", region_choices(blank="No DR partner", provider=provider)),
        ):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)  # noqa: S101 (declared as choice fields)
            field.choices = choices
        if provider:
            for name in ("code", "dr_partner_code"):
                self.fields[name].error_messages["invalid_choice"] = (
                    f"The portal knows no {Provider(provider).label} region called '%(value)s'."
                )
        self.fields["dr_partner_code"].help_text = RegionRequest._meta.get_field("dr_partner_code").help_text
        account_field = self.fields["account"]
        assert isinstance(account_field, forms.ModelChoiceField)  # noqa: S101 (a foreign key's field)
        account_field.queryset = accounts if accounts is not None else CloudAccount.objects.none()
        account_field.empty_label = None


class ZoneChangeForm(forms.Form):
    """Move one known cloud region to a zone, out of every zone, or back to the catalogue's default; say why."""

    region = forms.ChoiceField(label="Cloud region", choices=())
    zone = forms.ChoiceField(label="Counts as", choices=())
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=TEXT_MAX, help_text="Kept in the audit log."
    )
    confirmed = forms.BooleanField(
        label="Make the change although placements already made would then breach residency", required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        region_field = self.fields["region"]
        zone_field = self.fields["zone"]
        assert isinstance(region_field, forms.ChoiceField)  # noqa: S101 (declared as choice fields)
        assert isinstance(zone_field, forms.ChoiceField)  # noqa: S101
        region_field.choices = [
            (f"{entry.provider}/{entry.code}", f"{Provider(entry.provider).label} {entry.code} ({entry.name})")
            for entry in catalogue.zone_table()
        ]
        zone_field.choices = [
            ("default", "The catalogue's default"),
            *[(zone.value, f"{zone.label} ({zone.value})") for zone in ResidencyZone],
            ("outside", "Outside every zone"),
        ]
