"""The cloud regions the portal knows, and the residency zone each lies in.

A region's residency zone is checked against this list, so an EU zone can
never be recorded for us-east-1. Adding a region the providers open later is
one line here.

A platform admin may correct the list without a release (``/regions/zones/``):
move a region to another zone, or out of every zone, with a reason. Those
overrides (:class:`~regions.models.ZoneOverride`) win over the defaults here in
:func:`residency_zone_of` and :func:`outside_every_zone`. Both are called on
every residency check, so the overrides are read from the database once and
kept in the cache (one small cache read per call, usually a handful of
entries); a change drops the cached copy, so every process sees it at once
(and a copy is never kept longer than five minutes).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.core.cache import cache

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


OVERRIDES_CACHE_KEY = "regions:zone-overrides"
OVERRIDES_CACHE_SECONDS = 300
# A zone change being previewed (its consequences computed before it is made): seen only by this context.
_previewed: ContextVar[Mapping[tuple[str, str], str] | None] = ContextVar("previewed_zone_overrides", default=None)


def overrides() -> dict[tuple[str, str], str]:
    """The admins' overrides by (provider, code): a zone, or "" for outside every zone. Cached."""
    cached = cache.get(OVERRIDES_CACHE_KEY)
    if cached is None:
        from regions.models import ZoneOverride  # the models import this module

        cached = {(row.provider, row.code): row.zone for row in ZoneOverride.objects.all()}
        # Bounded, so a reader that loaded the rows just before another process's change (and stored them just
        # after that change dropped the cached copy) cannot keep the old zones for longer than this.
        cache.set(OVERRIDES_CACHE_KEY, cached, OVERRIDES_CACHE_SECONDS)
    previewed = _previewed.get()
    return {**cached, **previewed} if previewed else dict(cached)


def forget_overrides() -> None:
    """Drop the cached overrides (after a change; the next call reads them again)."""
    cache.delete(OVERRIDES_CACHE_KEY)


@contextmanager
def previewing(provider: str, code: str, zone: str | None) -> Iterator[None]:
    """Within the block (this context only), answer as if ``code`` were in ``zone`` ("" outside every zone,
    None: back to the catalogue's default)."""
    default = default_zone_of(provider, code)
    token = _previewed.set({(provider, code): str(default or "") if zone is None else zone})
    try:
        yield
    finally:
        _previewed.reset(token)


def default_zone_of(provider: str, code: str) -> ResidencyZone | None:
    """The zone this file gives the region, before any admin's override."""
    entry = KNOWN_REGIONS.get(provider, {}).get(code)
    return entry[1] if entry else None


def region_name(provider: str, code: str) -> str | None:
    """The provider's name of a region the catalogue knows (in a zone or not), or None."""
    entry = KNOWN_REGIONS.get(provider, {}).get(code)
    return entry[0] if entry else OUTSIDE_ZONES.get(provider, {}).get(code)


def residency_zone_of(provider: str, code: str) -> ResidencyZone | None:
    """The zone a cloud region lies in, or None for on-prem sites, regions outside every zone and unknown codes."""
    if region_name(provider, code) is None:
        return None
    override = overrides().get((provider, code))
    if override is not None:
        return ResidencyZone(override) if override else None
    return default_zone_of(provider, code)


def outside_every_zone(provider: str, code: str) -> str | None:
    """The name of a cloud region known to lie outside every residency zone (London, Zurich), or None."""
    name = region_name(provider, code)
    if name is None:
        return None
    override = overrides().get((provider, code))
    if override is not None:
        return name if not override else None
    return OUTSIDE_ZONES.get(provider, {}).get(code)


def regions_in_zones(provider: str) -> dict[str, tuple[str, ResidencyZone]]:
    """Every region of ``provider`` that lies in a zone now (overrides applied): code → (name, zone)."""
    table = {**{code: name for code, (name, _) in KNOWN_REGIONS.get(provider, {}).items()}}
    table.update(OUTSIDE_ZONES.get(provider, {}))
    result = {}
    for code, name in table.items():
        zone = residency_zone_of(provider, code)
        if zone is not None:
            result[code] = (name, zone)
    return result


@dataclass(frozen=True)
class ZoneEntry:
    """One known region's zone: the catalogue's default, the admins' override (if any) and what counts."""

    provider: str
    code: str
    name: str
    default: str  # "" outside every zone
    override: str | None  # None: no override

    @property
    def zone(self) -> str:
        return self.default if self.override is None else self.override


def zone_table() -> list[ZoneEntry]:
    """Every region the catalogue knows, by provider and code, with its default zone and any override."""
    current = overrides()
    entries = []
    for provider in (Provider.AWS, Provider.AZURE):
        codes = {**{code: name for code, (name, _) in KNOWN_REGIONS[provider].items()}, **OUTSIDE_ZONES[provider]}
        for code in sorted(codes):
            default = default_zone_of(provider, code)
            entries.append(
                ZoneEntry(str(provider), code, codes[code], str(default or ""), current.get((str(provider), code)))
            )
    return entries


def unknown_region_message(provider: str, provider_label: str, code: str) -> str:
    """Why a cloud region code the catalogue has no zone for cannot be used, for the page."""
    name = outside_every_zone(provider, code)
    if name is not None and code not in OUTSIDE_ZONES.get(provider, {}):
        return (
            f"{code} ({name}) is outside every residency zone: a platform admin has placed it there "
            "(Regions → Residency zones), so no zone's data may live there."
        )
    if name is not None:
        return (
            f"{code} ({name}) is outside the European Union and every other residency zone the portal has, "
            "so no zone's data may live there."
        )
    return f"The portal knows no {provider_label} region called {code!r}."
