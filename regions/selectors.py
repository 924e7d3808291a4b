"""Reads of the platform inventory, always scoped by the policy."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404

from access import policy
from access.models import User
from regions import catalogue
from regions.choices import CentreServerStatus, ClusterStatus, RegionStatus
from regions.models import (
    BUILDABLE_PROVIDERS,
    LIVE_REQUEST_STATUSES,
    CentreServer,
    CloudAccount,
    Cluster,
    Namespace,
    NodePool,
    Region,
    RegionRequest,
)

AnyUser = User | AnonymousUser


def cloud_account_list(*, user: AnyUser) -> QuerySet[CloudAccount]:
    return policy.restrict(CloudAccount.objects.all(), user, policy.VIEW).select_related(
        "access_check", "access_check__checked_by"
    )


def region_list(*, user: AnyUser) -> QuerySet[Region]:
    """Regions with the counts the list page shows, in one query."""
    return (
        policy.restrict(Region.objects.all(), user, policy.VIEW)
        .select_related("account", "dr_partner", "health")
        .annotate(
            cluster_count=Count("clusters", distinct=True),
            centre_server_count=Count("centre_servers", distinct=True),
            namespace_count=Count("clusters__namespaces", distinct=True),
        )
        .order_by("residency_zone", "provider", "code")
    )


def region_get(*, user: AnyUser, provider: str, code: str) -> Region:
    return get_object_or_404(region_list(user=user), provider=provider, code=code)


def cluster_list(*, user: AnyUser) -> QuerySet[Cluster]:
    # Meta.ordering is ignored once a query groups rows (the counts), so order explicitly for stable pages.
    return (
        policy.restrict(Cluster.objects.all(), user, policy.VIEW)
        .select_related("region", "centre_server", "access_check", "access_check__checked_by")
        .annotate(
            node_pool_count=Count("node_pools", distinct=True), namespace_count=Count("namespaces", distinct=True)
        )
        .order_by("region__code", "name")
    )


def clusters_with_children(*, user: AnyUser) -> QuerySet[Cluster]:
    """Clusters with their region, node pools and namespaces, for detail pages."""
    return (
        policy.restrict(Cluster.objects.all(), user, policy.VIEW)
        .select_related("region", "region__account", "centre_server", "access_check", "access_check__checked_by")
        .prefetch_related(
            Prefetch("node_pools", queryset=policy.restrict(NodePool.objects.all(), user, policy.VIEW)),
            Prefetch(
                "namespaces",
                queryset=policy.restrict(Namespace.objects.select_related("team"), user, policy.VIEW),
            ),
        )
    )


def cluster_get(*, user: AnyUser, provider: str, code: str, name: str) -> Cluster:
    return get_object_or_404(clusters_with_children(user=user), region__provider=provider, region__code=code, name=name)


def node_pool_list(*, user: AnyUser) -> QuerySet[NodePool]:
    return policy.restrict(NodePool.objects.all(), user, policy.VIEW).select_related("cluster", "cluster__region")


def namespace_list(*, user: AnyUser) -> QuerySet[Namespace]:
    return policy.restrict(Namespace.objects.all(), user, policy.VIEW).select_related(
        "cluster", "cluster__region", "team"
    )


def centre_server_list(*, user: AnyUser) -> QuerySet[CentreServer]:
    return policy.restrict(CentreServer.objects.all(), user, policy.VIEW).select_related(
        "region", "cluster", "cluster__region"
    )


def inventory_summary(*, user: AnyUser) -> dict[str, Any]:
    """Counts for the dashboard: what runs, and what needs attention."""
    regions = policy.restrict(Region.objects.all(), user, policy.VIEW).aggregate(
        total=Count("id"),
        active=Count("id", filter=Q(status=RegionStatus.ACTIVE)),
        degraded=Count("id", filter=Q(status=RegionStatus.DEGRADED)),
    )
    clusters = policy.restrict(Cluster.objects.all(), user, policy.VIEW).aggregate(
        total=Count("id"),
        unhealthy=Count("id", filter=Q(status__in=[ClusterStatus.DEGRADED, ClusterStatus.UNREACHABLE])),
    )
    centres = policy.restrict(CentreServer.objects.all(), user, policy.VIEW).aggregate(
        total=Count("id"), offline=Count("id", filter=Q(status=CentreServerStatus.OFFLINE))
    )
    zones = (
        policy.restrict(Region.objects.all(), user, policy.VIEW)
        .values("residency_zone")
        .annotate(region_count=Count("id", distinct=True), cluster_count=Count("clusters", distinct=True))
        .order_by("residency_zone")
    )
    return {
        "regions": regions,
        "clusters": clusters,
        "centres": centres,
        "namespaces": policy.restrict(Namespace.objects.all(), user, policy.VIEW).count(),
        "zones": list(zones),
    }


def region_request_list(*, user: AnyUser) -> QuerySet[RegionRequest]:
    """Region requests the user may see, newest first, with who asked."""
    return (
        policy.restrict(RegionRequest.objects.all(), user, policy.VIEW)
        .select_related("account", "requested_by", "region")
        .order_by("-created_at", "-pk")
    )


def region_request_get(*, user: AnyUser, pk: int) -> RegionRequest:
    return get_object_or_404(region_request_list(user=user), pk=pk)


# --- what a new region request opens with ------------------------------------------------------------------


def _taken(provider: str) -> set[str]:
    """The regions of ``provider`` that cannot be asked for: in the inventory, or with a request under way."""
    built = Region.objects.filter(provider=provider).exclude(status=RegionStatus.PLANNED).values_list("code", flat=True)
    asked = RegionRequest.objects.filter(provider=provider, status__in=LIVE_REQUEST_STATUSES).values_list(
        "code", flat=True
    )
    return {*built, *asked}


def partner_for(provider: str, code: str, running: set[str] | None = None) -> str:
    """A DR partner for ``code``: another region of its zone, one the inventory holds active first (a partner
    that is already running; ``running`` when the caller has read them), "" when the zone has no other."""
    regions = catalogue.regions_in_zones(provider)
    zone = regions[code][1] if code in regions else None
    candidates = [other for other, (_, other_zone) in regions.items() if other_zone == zone and other != code]
    if running is None:
        running = _running(provider)
    return next((other for other in candidates if other in running), candidates[0] if candidates else "")


def _running(provider: str) -> set[str]:
    return set(Region.objects.filter(provider=provider, status=RegionStatus.ACTIVE).values_list("code", flat=True))


def opening_values(accounts: QuerySet[CloudAccount], provider: str = "", account_id: Any = None) -> dict[str, Any]:
    """What the request form opens with, so that it can be sent as it is: an account (of ``provider`` when
    given), a region of its provider that is neither in the inventory nor asked for, that region's zone and a
    partner in the same zone."""
    of_provider = accounts.filter(provider=provider) if provider else accounts.filter(provider__in=BUILDABLE_PROVIDERS)
    account = of_provider.filter(pk=account_id).first() if str(account_id or "").isdigit() else None
    account = account or of_provider.order_by("name").first()
    provider = account.provider if account is not None else (provider or BUILDABLE_PROVIDERS[0])
    regions = catalogue.regions_in_zones(provider)
    taken, running = _taken(provider), _running(provider)
    code = next((code for code in regions if code not in taken and partner_for(provider, code, running)), "")
    return {
        "provider": provider,
        "account": account.pk if account is not None else None,
        "code": code,
        "residency_zone": regions[code][1] if code else "",
        "dr_partner_code": partner_for(provider, code, running) if code else "",
    }
