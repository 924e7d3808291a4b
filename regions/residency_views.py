"""The residency page: per zone, its regions and teams, and every placement that breaks a zone's rule."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.http import HttpRequest
from regions.residency import residency_overview


@login_required
@require_GET
def residency(request: HttpRequest) -> HttpResponse:
    """Everyone signed in may open it; what it lists is scoped by the policy (regions, environments, servers)."""
    return render(request, "regions/residency.html", {"overview": residency_overview(user=request.user)})
