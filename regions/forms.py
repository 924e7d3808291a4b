"""The region request form: every rule of :class:`~regions.models.RegionRequest` shown next to its field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from regions import catalogue
from regions.choices import Provider, RegionStatus, ResidencyZone
from regions.models import BUILDABLE_PROVIDERS, LIVE_REQUEST_STATUSES, CloudAccount, Region, RegionRequest
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


def _taken(provider: str) -> set[str]:
    """The regions of ``provider`` that cannot be asked for: in the inventory, or with a request under way."""
    built = Region.objects.filter(provider=provider).exclude(status=RegionStatus.PLANNED).values_list("code", flat=True)
    asked = RegionRequest.objects.filter(provider=provider, status__in=LIVE_REQUEST_STATUSES).values_list(
        "code", flat=True
    )
    return {*built, *asked}


def partner_for(provider: str, code: str) -> str:
    """A DR partner for ``code``: another region of its zone, one the inventory holds first (a partner that is
    already running), "" when the zone has no other."""
    regions = catalogue.regions_in_zones(provider)
    zone = regions[code][1] if code in regions else None
    candidates = [other for other, (_, other_zone) in regions.items() if other_zone == zone and other != code]
    held = set(
        Region.objects.filter(provider=provider, code__in=candidates, status=RegionStatus.ACTIVE).values_list(
            "code", flat=True
        )
    )
    return next((other for other in candidates if other in held), candidates[0] if candidates else "")


def opening_values(accounts: QuerySet[CloudAccount], provider: str = "", account_id: Any = None) -> dict[str, Any]:
    """What the request form opens with, so that it can be sent as it is: an account (of ``provider`` when
    given), a region of its provider that is neither in the inventory nor asked for, that region's zone and a
    partner in the same zone."""
    of_provider = accounts.filter(provider=provider) if provider else accounts.filter(provider__in=BUILDABLE_PROVIDERS)
    account = of_provider.filter(pk=account_id).first() if str(account_id or "").isdigit() else None
    account = account or of_provider.order_by("name").first()
    provider = account.provider if account is not None else (provider or BUILDABLE_PROVIDERS[0])
    regions = catalogue.regions_in_zones(provider)
    taken = _taken(provider)
    code = next((code for code in regions if code not in taken and partner_for(provider, code)), "")
    return {
        "provider": provider,
        "account": account.pk if account is not None else None,
        "code": code,
        "residency_zone": regions[code][1] if code else "",
        "dr_partner_code": partner_for(provider, code) if code else "",
    }


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
            ("dr_partner_code", region_choices(blank="None", provider=provider)),
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
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Kept in the audit log.")
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
