"""The residency pages: per zone, its regions and teams and every placement that breaks a zone's rule; and
which zone each known cloud region counts as, which platform admins may correct."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from access import policy
from access.audit import services as audit
from access.models import AuditEvent, User
from portal.http import HttpRequest
from regions import catalogue, services
from regions.forms import ZoneChangeForm
from regions.models import ZoneOverride
from regions.residency.report import residency_overview


@login_required
@require_GET
def residency(request: HttpRequest) -> HttpResponse:
    """Everyone signed in may open it; what it lists is scoped by the policy (regions, environments, servers)."""
    return render(request, "regions/residency.html", {"overview": residency_overview(user=request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def zones(request: HttpRequest) -> HttpResponse:
    """Every known cloud region with the zone it counts as (the catalogue's default and any override), for
    everyone signed in; platform admins (``inventory.residency``) move a region, with a reason, audited."""
    user = request.user
    assert isinstance(user, User)  # noqa: S101 (login_required)
    may_change = policy.can(user, policy.RESIDENCY, ZoneOverride)
    form = ZoneChangeForm(request.POST or None)
    consequences: list[Any] = []
    status = 200
    if request.method == "POST":
        if not may_change:
            raise PermissionDenied("Only platform admins may move a region to another residency zone.")
        if form.is_valid():
            provider, _, code = form.cleaned_data["region"].partition("/")
            try:
                made = services.region_zone_set(
                    actor=user,
                    provider=provider,
                    code=code,
                    zone=form.cleaned_data["zone"],
                    reason=form.cleaned_data["reason"],
                    confirmed=form.cleaned_data["confirmed"],
                )
            except services.ZoneChangeNeedsConfirmation as needed:
                consequences = needed.breaches
                form.add_error(
                    "confirmed",
                    f"{len(consequences)} placement{'s' if len(consequences) != 1 else ''} already made would "
                    "breach residency (listed above). Tick the box to make the change anyway; the residency page "
                    "will list them until they are dealt with.",
                )
            except ValidationError as refused:
                for field, errors in refused.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                note = f" {len(made)} placements now breach residency: see Data residency." if made else ""
                messages.success(request, f"{code} now counts as its new zone.{note}")
                return redirect("regions:zones")
        status = 400
    overrides = {
        (row.provider, row.code): row for row in ZoneOverride.objects.select_related("changed_by").order_by("pk")
    }
    history = (
        list(AuditEvent.objects.filter(verb=audit.REGION_ZONE_CHANGED).order_by("-occurred_at", "-pk")[:50])
        if may_change
        else []
    )
    context = {
        "rows": [(entry, overrides.get((entry.provider, entry.code))) for entry in catalogue.zone_table()],
        "form": form if may_change else None,
        "consequences": consequences,
        "history": history,
    }
    return render(request, "regions/zones.html", context, status=status)
