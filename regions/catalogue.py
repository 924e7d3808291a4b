"""The cloud regions the portal knows, and the residency zone each lies in.

A region's residency zone is checked against this list, so an EU zone can
never be recorded for us-east-1. Adding a region the providers open later is
one line here.
"""

from __future__ import annotations

from regions.choices import Provider, ResidencyZone

EU, AU, US = ResidencyZone.EU, ResidencyZone.AU, ResidencyZone.US

KNOWN_REGIONS: dict[str, dict[str, tuple[str, ResidencyZone]]] = {
    Provider.AWS: {
        "eu-west-1": ("Europe (Ireland)", EU),
        "eu-west-3": ("Europe (Paris)", EU),
        "eu-central-1": ("Europe (Frankfurt)", EU),
        "eu-north-1": ("Europe (Stockholm)", EU),
        "eu-south-1": ("Europe (Milan)", EU),
        "eu-south-2": ("Europe (Spain)", EU),
        "ap-southeast-2": ("Asia Pacific (Sydney)", AU),
        "ap-southeast-4": ("Asia Pacific (Melbourne)", AU),
        "us-east-1": ("US East (N. Virginia)", US),
        "us-east-2": ("US East (Ohio)", US),
        "us-west-1": ("US West (N. California)", US),
        "us-west-2": ("US West (Oregon)", US),
    },
    Provider.AZURE: {
        "westeurope": ("West Europe", EU),
        "northeurope": ("North Europe", EU),
        "francecentral": ("France Central", EU),
        "germanywestcentral": ("Germany West Central", EU),
        "swedencentral": ("Sweden Central", EU),
        "italynorth": ("Italy North", EU),
        "polandcentral": ("Poland Central", EU),
        "australiaeast": ("Australia East", AU),
        "australiasoutheast": ("Australia Southeast", AU),
        "australiacentral": ("Australia Central", AU),
        "eastus": ("East US", US),
        "eastus2": ("East US 2", US),
        "centralus": ("Central US", US),
        "westus2": ("West US 2", US),
        "westus3": ("West US 3", US),
    },
}


# Cloud regions in Europe that lie in none of the portal's zones: the United Kingdom and Switzerland are not in
# the European Union, so EU data may not live there, and the portal has no UK or Swiss zone. They are named here
# only so a refusal can say why; nothing can be built in them.
OUTSIDE_ZONES: dict[str, dict[str, str]] = {
    Provider.AWS: {"eu-west-2": "Europe (London)", "eu-central-2": "Europe (Zurich)"},
    Provider.AZURE: {
        "uksouth": "UK South",
        "ukwest": "UK West",
        "switzerlandnorth": "Switzerland North",
        "switzerlandwest": "Switzerland West",
    },
}


def residency_zone_of(provider: str, code: str) -> ResidencyZone | None:
    """The zone a cloud region lies in, or None for on-prem sites, regions outside every zone and unknown codes."""
    entry = KNOWN_REGIONS.get(provider, {}).get(code)
    return entry[1] if entry else None


def outside_every_zone(provider: str, code: str) -> str | None:
    """The name of a cloud region known to lie outside every residency zone (London, Zurich), or None."""
    return OUTSIDE_ZONES.get(provider, {}).get(code)


def unknown_region_message(provider: str, provider_label: str, code: str) -> str:
    """Why a cloud region code the catalogue has no zone for cannot be used, for the page."""
    name = outside_every_zone(provider, code)
    if name is not None:
        return (
            f"{code} ({name}) is outside the European Union and every other residency zone the portal has, "
            "so no zone's data may live there."
        )
    return f"The portal knows no {provider_label} region called {code!r}."
