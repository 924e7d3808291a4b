"""Template pages (list, detail with estimates, create, edit, deactivate) and team limits.

Views are thin: selectors read (scoped by the policy), forms validate,
services decide and write. Lists are ``restrict``ed; an object outside the
user's scope is a 404, one they may see but not change a 403.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from access import policy
from access.models import User
from access.permissions import ADD, CHANGE, DELETE, VIEW
from environments import selectors, services
from environments.filtersets import TemplateFilterSet
from environments.forms import EstimateRegionForm, TeamLimitsForm, TemplateForm
from environments.models import EnvironmentTemplate, TeamLimits
from portal.forms import saved
from portal.http import HttpRequest
from regions.models import Region

PAGE_SIZE = 50


def _signed_in(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 (login_required guarantees it)
    return user


def _visible_regions(user: User) -> Any:
    return policy.restrict(Region.objects.all(), user, VIEW).order_by("residency_zone", "provider", "code")


# --- templates ---------------------------------------------------------------------


@login_required
def template_list(request: HttpRequest) -> HttpResponse:
    """Templates the user may see, filtered; htmx requests get only the table."""
    user = _signed_in(request)
    filterset = TemplateFilterSet(request.GET, queryset=selectors.template_list(user=user), request=request)
    templates = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    page = Paginator(templates, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "filterset": filterset,
        "page": page,
        "can_add": policy.can(user, ADD, EnvironmentTemplate),
        "can_see_limits": policy.can(user, VIEW, TeamLimits),
    }
    template = "environments/_template_table.html" if request.htmx else "environments/template_list.html"
    return render(request, template, context)


@login_required
def template_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """A template's settings and its monthly estimate per size in a chosen region (htmx swaps the estimate)."""
    user = _signed_in(request)
    template = selectors.template_get(user=user, slug=slug)
    regions = selectors.template_regions(template=template, user=user)
    region_form = EstimateRegionForm(request.GET or None, regions=regions)
    region = region_form.cleaned_data["region"] if region_form.is_valid() else regions.first()
    estimate = selectors.template_estimate(template=template, region=region) if region is not None else None
    context = {
        "template": template,
        "region_form": region_form if region_form.is_bound else EstimateRegionForm(regions=regions),
        "region": region,
        "estimate": estimate,
        "can_change": policy.can(user, CHANGE, template),
        "can_delete": policy.can(user, DELETE, template),
    }
    if request.htmx:
        return render(request, "environments/_estimate.html", context)
    return render(request, "environments/template_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def template_create(request: HttpRequest) -> HttpResponse:
    user = _signed_in(request)
    if not policy.can(user, ADD, EnvironmentTemplate):
        raise PermissionDenied("You may not create environment templates.")
    form = TemplateForm(request.POST or None, regions=_visible_regions(user))
    template = saved(request, form, lambda data: services.template_create(actor=user, **form.service_fields()))
    if template is not None:
        messages.success(request, f"Template {template} created.")
        return redirect("environments:template", slug=template.slug)
    return render(request, "environments/template_form.html", {"form": form, "title": "New environment template"})


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, slug: str) -> HttpResponse:
    user = _signed_in(request)
    template = selectors.template_get(user=user, slug=slug)
    policy.require(user, CHANGE, template)
    # The form validates a copy, so a refused change never touches the object the page shows.
    form = TemplateForm(
        request.POST or None, instance=EnvironmentTemplate.objects.get(pk=template.pk), regions=_visible_regions(user)
    )
    updated = saved(
        request,
        form,
        lambda data: services.template_update(actor=user, template_id=template.pk, **form.service_fields()),
    )
    if updated is not None:
        messages.success(request, f"Template {updated} saved.")
        return redirect("environments:template", slug=updated.slug)
    context = {"form": form, "title": f"Edit {template}", "template": template}
    return render(request, "environments/template_form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def template_deactivate(request: HttpRequest, slug: str) -> HttpResponse:
    """Confirm, then deactivate: no new requests from it; existing environments stay."""
    user = _signed_in(request)
    template = selectors.template_get(user=user, slug=slug)
    policy.require(user, DELETE, template)
    if request.method == "POST":
        already = not template.active
        services.template_deactivate(actor=user, template_id=template.pk)
        if already:
            messages.info(request, f"Template {template} was already inactive.")
        else:
            messages.success(request, f"Template {template} deactivated; it can no longer be requested.")
        return redirect("environments:template", slug=template.slug)
    return render(request, "environments/template_deactivate.html", {"template": template})


# --- team limits ---------------------------------------------------------------------


@login_required
def team_limits_list(request: HttpRequest) -> HttpResponse:
    user = _signed_in(request)
    if not policy.can(user, VIEW, TeamLimits):
        raise PermissionDenied("You may not see team limits.")
    return render(request, "environments/team_limits_list.html", {"rows": selectors.team_limits_overview(user=user)})


@login_required
@require_http_methods(["GET", "POST"])
def team_limits_edit(request: HttpRequest, slug: str) -> HttpResponse:
    user = _signed_in(request)
    team, limits = selectors.team_for_limits(user=user, slug=slug)
    policy.require(user, CHANGE, limits or TeamLimits(team=team))
    form = TeamLimitsForm(request.POST or None, instance=TeamLimits.objects.filter(team=team).first())
    if request.method == "POST":
        if request.POST.get("remove") == "yes":
            services.team_limits_remove(actor=user, team=team)
            messages.success(request, f"{team} has no limits any more.")
            return redirect("environments:team_limits")
        result = saved(request, form, lambda data: services.team_limits_set(actor=user, team=team, **data))
        if result is not None:
            messages.success(request, f"Limits of {team} saved.")
            return redirect("environments:team_limits")
    return render(request, "environments/team_limits_form.html", {"form": form, "team": team, "limits": limits})
