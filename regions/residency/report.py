"""Data residency across the inventory: which zone each region and team is bound to, and every placement
that breaks a zone's rule, each with the reason in words.

The rules (spec 10.3: EU data in EU regions, AU in AU, US in US):

- a team's live environment runs in a region of the team's zone (refused at request time by
  :mod:`environments.admission`; a zone change that would strand one is refused by
  :func:`access.services.team_update` through :func:`team_zone_refusal`);
- a region's DR partner is in the same zone (``Region.clean``; a partner whose zone was changed
  afterwards is found here);
- a resource recorded for a region (a replica, a bucket's replication target) lies in the region's zone;
- a centre server's k3s cluster is registered in a region of the server's own zone.

What is *not* a placement of a team's data: the spec's service namespaces (student-services, …)
exist in every region and hold that region's data; the team named as a namespace's owner maintains
the service, it does not carry its own zone's data there. Deployments and workloads are observed
from clusters, not placed by the portal, and live in those namespaces. Cost sources say where money
is spent, not where data lives.

Reads are scoped by the policy (``inventory.view`` for regions, resources and centre servers,
``environments.view`` for environments): a person sees the breaches among what they may see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth.models import AnonymousUser
from django.db.models import F
from django.urls import reverse

from access import policy
from access.models import Team, User
from regions import catalogue
from regions.choices import ResidencyZone, ResourceStatus
from regions.models import CentreServer, Region, RegionResource

AnyUser = User | AnonymousUser

ENVIRONMENT = "environment"
DR_PARTNER = "dr_partner"
RESOURCE = "resource"
CENTRE_SERVER = "centre_server"


@dataclass(frozen=True)
class Breach:
    """One placement that breaks a residency rule: what, whose zone, where it is and why that is wrong."""

    kind: str
    subject: str
    zone: str
    region: str
    region_zone: str
    reason: str
    url: str = ""

    def as_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "zone": self.zone,
            "region": self.region,
            "region_zone": self.region_zone,
            "reason": self.reason,
            "url": self.url,
        }


@dataclass
class ZoneSummary:
    """A residency zone: its regions, the teams bound to it, and the breaches of data that must stay in it."""

    zone: str
    label: str
    regions: list[Region] = field(default_factory=list)
    teams: list[Team] = field(default_factory=list)
    breaches: list[Breach] = field(default_factory=list)


@dataclass
class ResidencyOverview:
    zones: list[ZoneSummary]
    unbound_teams: list[Team]

    @property
    def breaches(self) -> list[Breach]:
        return [breach for zone in self.zones for breach in zone.breaches]

    def as_json(self) -> dict[str, object]:
        return {
            "zones": [
                {
                    "zone": zone.zone,
                    "label": zone.label,
                    "regions": [
                        {"provider": region.provider, "code": region.code, "status": region.status}
                        for region in zone.regions
                    ],
                    "teams": [team.slug for team in zone.teams],
                    "breaches": [breach.as_json() for breach in zone.breaches],
                }
                for zone in self.zones
            ],
            "unbound_teams": [team.slug for team in self.unbound_teams],
            "breach_count": len(self.breaches),
        }


def _zone_label(zone: str) -> str:
    return ResidencyZone(zone).label if zone in ResidencyZone.values else zone


# What lives above the inventory and carries a team's data (environments) reports itself here: the app that
# owns it registers, in its ready(), what it places outside a zone and its breaches (environments/residency.py).
PlacedOutside = Callable[[int, str], list[tuple[str, str, str]]]
BreachesOf = Callable[[AnyUser], list[Breach]]
_placed_outside: list[PlacedOutside] = []
_breaches_of: list[BreachesOf] = []


def register(*, placed_outside: PlacedOutside, breaches: BreachesOf) -> None:
    """Add a kind of placement: ``placed_outside(team_id, zone)`` lists (name, region code, region zone) of the
    team's live ones outside ``zone``; ``breaches(user)`` the breaches among those the user may see."""
    if placed_outside not in _placed_outside:
        _placed_outside.append(placed_outside)
    if breaches not in _breaches_of:
        _breaches_of.append(breaches)


def team_zone_refusal(*, team: Team, zone: str) -> str | None:
    """Why ``team`` cannot be bound to ``zone`` now (it has live environments elsewhere), or None when it can.

    The portal does not move environments: binding a team to a zone its data is not in would leave
    that data where the new rule forbids it, so the environments are torn down (or the zone left) first.
    """
    if not zone:
        return None  # lifting the constraint strands nothing
    outside = [placed for source in _placed_outside for placed in source(team.pk, zone)]
    if not outside:
        return None
    count = len(outside)
    listed = ", ".join(f"{name} ({code}, {where})" for name, code, where in outside[:10])
    more = f" and {count - 10} more" if count > 10 else ""
    noun = "environment" if count == 1 else "environments"
    return (
        f"{team.name} has {count} {noun} outside {zone}: {listed}{more}. The portal cannot move an environment: "
        f"tear {'it' if count == 1 else 'them'} down first, then bind the team to {zone}."
    )


def _region_url(region: Region) -> str:
    return reverse("regions:detail", kwargs={"provider": region.provider, "code": region.code})


def _dr_partner_breaches(regions: list[Region], visible: set[int]) -> list[Breach]:
    return [
        Breach(
            kind=DR_PARTNER,
            subject=f"DR pair {region.code} → {region.dr_partner.code}",
            zone=region.residency_zone,
            region=region.dr_partner.code,
            region_zone=region.dr_partner.residency_zone,
            reason=(
                f"{region.code}'s data must stay in {region.residency_zone}, but its DR partner "
                f"{region.dr_partner.code} is in {region.dr_partner.residency_zone}: a failover would move it there. "
                f"Choose a partner in {region.residency_zone}."
            ),
            url=_region_url(region),
        )
        for region in regions
        if region.dr_partner is not None
        and region.dr_partner_id in visible
        and region.dr_partner.residency_zone != region.residency_zone
    ]


def _resource_breaches(regions: dict[int, Region]) -> list[Breach]:
    resources = (
        RegionResource.objects.filter(region_id__in=list(regions))
        .exclude(status=ResourceStatus.DELETED)
        .order_by("region_id", "position", "pk")
    )
    breaches = []
    for resource in resources:
        region = regions[resource.region_id] if resource.region_id is not None else None
        if region is None:
            continue
        lies_in = catalogue.residency_zone_of(region.provider, resource.region_code)
        outside = catalogue.outside_every_zone(region.provider, resource.region_code)
        if (lies_in is None and outside is None) or lies_in == region.residency_zone:
            continue  # an on-prem site or a code the catalogue does not know says nothing about residency
        breaches.append(
            Breach(
                kind=RESOURCE,
                subject=f"{resource.kind} {resource.name} of {region.code}",
                zone=region.residency_zone,
                region=resource.region_code,
                region_zone=str(lies_in or ""),
                reason=(
                    f"{region.code}'s data must stay in {region.residency_zone}; this {resource.kind} lies in "
                    f"{resource.region_code} ({lies_in or f'{outside}, outside every zone'}). Replicate to a "
                    f"region of {region.residency_zone} and delete this copy."
                ),
                url=_region_url(region),
            )
        )
    return breaches


def _centre_server_breaches(user: AnyUser) -> list[Breach]:
    servers = (
        policy.restrict(CentreServer.objects.filter(cluster__isnull=False), user, policy.VIEW)
        .exclude(cluster__region__residency_zone=F("region__residency_zone"))
        .select_related("region", "cluster__region")
        .order_by("name")
    )
    breaches = []
    for server in servers:
        cluster = server.cluster
        assert cluster is not None  # noqa: S101 (filtered above)
        breaches.append(
            Breach(
                kind=CENTRE_SERVER,
                subject=f"Centre server {server.name}",
                zone=server.region.residency_zone,
                region=cluster.region.code,
                region_zone=cluster.region.residency_zone,
                reason=(
                    f"{server.name} stands in {server.site} and is homed to {server.region.code} "
                    f"({server.region.residency_zone}), but its cluster {cluster.name} is registered in "
                    f"{cluster.region.code} ({cluster.region.residency_zone}): environments placed there would "
                    "count as another zone's. Register the cluster in the server's home region."
                ),
                url=_region_url(server.region),
            )
        )
    return breaches


def residency_overview(*, user: AnyUser) -> ResidencyOverview:
    """Per zone: its regions, the teams bound to it and every breach of its rule, among what ``user`` may see.

    A fixed number of queries, however many regions, teams and environments there are.
    """
    regions = list(
        policy.restrict(Region.objects.all(), user, policy.VIEW)
        .select_related("dr_partner")
        .order_by("residency_zone", "provider", "code")
    )
    by_pk = {region.pk: region for region in regions}
    teams = list(policy.restrict(Team.objects.all(), user, policy.VIEW).order_by("name"))
    zones = {zone: ZoneSummary(zone=zone, label=label) for zone, label in ResidencyZone.choices}
    for region in regions:
        zones.setdefault(region.residency_zone, ZoneSummary(region.residency_zone, _zone_label(region.residency_zone)))
        zones[region.residency_zone].regions.append(region)
    for team in teams:
        if team.residency_zone:
            zones.setdefault(team.residency_zone, ZoneSummary(team.residency_zone, _zone_label(team.residency_zone)))
            zones[team.residency_zone].teams.append(team)
    breaches = [
        *(breach for source in _breaches_of for breach in source(user)),
        *_dr_partner_breaches(regions, set(by_pk)),
        *_resource_breaches(by_pk),
        *_centre_server_breaches(user),
    ]
    for breach in breaches:
        zones.setdefault(breach.zone, ZoneSummary(breach.zone, _zone_label(breach.zone)))
        zones[breach.zone].breaches.append(breach)
    return ResidencyOverview(
        zones=list(zones.values()), unbound_teams=[team for team in teams if not team.residency_zone]
    )
