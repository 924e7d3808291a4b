"""Inventory pages: region list and detail, cluster detail."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render

from portal.http import HttpRequest
from regions import selectors
from regions.filtersets import RegionFilterSet

PAGE_SIZE = 50


@login_required
def region_list(request: HttpRequest) -> HttpResponse:
    """All regions the user may see, filtered; htmx requests get only the table."""
    filterset = RegionFilterSet(request.GET, queryset=selectors.region_list(user=request.user), request=request)
    regions = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    page = Paginator(regions, PAGE_SIZE).get_page(request.GET.get("page"))
    template = "regions/_region_table.html" if request.htmx else "regions/region_list.html"
    return render(request, template, {"filterset": filterset, "page": page})


@login_required
def region_detail(request: HttpRequest, provider: str, code: str) -> HttpResponse:
    region = selectors.region_get(user=request.user, provider=provider, code=code)
    clusters = selectors.clusters_with_children(user=request.user).filter(region=region)
    centre_servers = selectors.centre_server_list(user=request.user).filter(region=region)
    return render(
        request,
        "regions/region_detail.html",
        {"region": region, "clusters": clusters, "centre_servers": centre_servers},
    )


@login_required
def cluster_detail(request: HttpRequest, provider: str, code: str, name: str) -> HttpResponse:
    cluster = selectors.cluster_get(user=request.user, provider=provider, code=code, name=name)
    return render(request, "regions/cluster_detail.html", {"cluster": cluster, "region": cluster.region})
