"""Environment pages (list, request with a live check, detail, teardown, cancel, retry, extend),
template pages (list, detail with estimates, create, edit, deactivate) and team limits.

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
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access import policy
from access.models import AuditEvent, Team, User
from access.permissions import ADD, CHANGE, DELETE, VIEW
from approvals import selectors as approval_selectors
from approvals.forms import DecisionForm
from environments import selectors, services
from environments.choices import EnvironmentStatus
from environments.filtersets import EnvironmentFilterSet, TemplateFilterSet
from environments.forms import EnvironmentRequestForm, EstimateRegionForm, ExtendForm, TeamLimitsForm, TemplateForm
from environments.models import Environment, EnvironmentTemplate, TeamLimits
from portal.forms import changed_since_shown, performed, saved
from portal.http import HttpRequest, signed_in
from regions.models import Region
from workflows.selectors import latest_run, run_context
from workflows.views import run_progress

PAGE_SIZE = 50


def _visible_regions(user: User) -> Any:
    return policy.restrict(Region.objects.all(), user, VIEW).order_by("residency_zone", "provider", "code")


# --- templates ---------------------------------------------------------------------


@login_required
def template_list(request: HttpRequest) -> HttpResponse:
    """Templates the user may see, filtered; htmx requests get only the table."""
    user = signed_in(request)
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
    user = signed_in(request)
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
    user = signed_in(request)
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
    user = signed_in(request)
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
    user = signed_in(request)
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
    user = signed_in(request)
    if not policy.can(user, VIEW, TeamLimits):
        raise PermissionDenied("You may not see team limits.")
    return render(request, "environments/team_limits_list.html", {"rows": selectors.team_limits_overview(user=user)})


@login_required
@require_http_methods(["GET", "POST"])
def team_limits_edit(request: HttpRequest, slug: str) -> HttpResponse:
    user = signed_in(request)
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


# --- environments --------------------------------------------------------------------


@login_required
@require_GET
def environment_list(request: HttpRequest) -> HttpResponse:
    """Environments the user may see, searched and filtered; htmx requests get only the table."""
    user = signed_in(request)
    filterset = EnvironmentFilterSet(request.GET, queryset=selectors.environment_list(user=user), request=request)
    environments = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    page = Paginator(environments, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"filterset": filterset, "page": page, "can_request": policy.can(user, services.REQUEST, Environment)}
    template = "environments/_environment_table.html" if request.htmx else "environments/environment_list.html"
    return render(request, template, context)


def _chosen(queryset: QuerySet[Any], value: str | None) -> Any:
    """The row of ``queryset`` whose id is ``value`` (as posted), else its first."""
    found = queryset.filter(pk=int(value)).first() if value and value.isdigit() else None
    return found or queryset.first()


def _request_form(request: HttpRequest, user: User, *, follow: str = "") -> EnvironmentRequestForm:
    """The request form, opening valid: the first team, the template asked for (or the first), a cluster of a
    region that team and template may use listed first and chosen, the template's lifetime.

    ``follow`` names the field the person just changed (``team`` or ``template``): the cluster moves to a
    preferred one if the chosen one no longer is, and a new template brings its own lifetime.
    """
    data = request.POST.copy() if request.method == "POST" else None
    templates = selectors.template_list(user=user).filter(active=True)
    # The teams offered are those the user may request for (the grants' team limits, checked in
    # memory); the service re-checks region, zone and tier on submit.
    visible = list(policy.restrict(Team.objects.all(), user, VIEW).order_by("name"))
    allowed = [team.pk for team in visible if policy.can(user, services.REQUEST, Environment(team=team))]
    teams = Team.objects.filter(pk__in=allowed).order_by("name")
    asked = data or request.GET
    team, template = _chosen(teams, asked.get("team")), _chosen(templates, asked.get("template"))
    # Every cluster the user may see, not only the template's: the live check explains a refusal
    # (EU data outside the EU) rather than the choice silently missing; those it would allow come first.
    preferred = selectors.preferred_clusters(user=user, team=team, template=template)
    clusters = selectors.request_clusters(user=user, preferred=preferred)
    lifetime = template.default_ttl_hours if template is not None and template.expires else None
    first = preferred.first()
    if data is not None and follow in ("team", "template"):
        cluster = str(data.get("cluster", ""))
        if first is not None and not (cluster.isdigit() and preferred.filter(pk=int(cluster)).exists()):
            data["cluster"] = str(first.pk)
        if follow == "template":
            data["ttl_hours"] = "" if lifetime is None else str(lifetime)
    initial: dict[str, Any] = {
        "ttl_hours": lifetime,
        "template": template.pk if template is not None else None,
        "team": team.pk if team is not None else None,
        "cluster": first.pk if first is not None else None,
    }
    return EnvironmentRequestForm(data, teams=teams, templates=templates, clusters=clusters, initial=initial)


def _check(form: EnvironmentRequestForm) -> dict[str, Any]:
    """The live check: the name, the estimate, the team's budget left and what the policy says."""
    if not form.is_bound:
        return {}
    data = form.cleaned_data
    team, template, cluster, size = (data.get(name) for name in ("team", "template", "cluster", "size"))
    if team is None or template is None or cluster is None or size is None:
        return {}
    ttl = data.get("ttl_hours")
    if ttl is None and template.expires:
        ttl = template.default_ttl_hours
    check = selectors.request_check(team_id=team.pk, template=template, cluster=cluster, size=size, ttl_hours=ttl)
    name = data.get("name")
    name_taken = bool(name) and Environment.objects.live().filter(team=team, name=name).exists()
    return {"check": check, "name_taken": name_taken, "checked_name": name, "team": team}


@login_required
@require_http_methods(["GET", "POST"])
def environment_request(request: HttpRequest) -> HttpResponse:
    """Ask for an environment. The page checks as you type (``environment_check``); the service decides."""
    user = signed_in(request)
    if not policy.can(user, services.REQUEST, Environment):
        raise PermissionDenied("You may not request environments.")
    form = _request_form(request, user)
    environment = saved(
        request,
        form,
        lambda data: services.environment_request(
            actor=user, idempotency_key=request.POST.get("idempotency_key", ""), **data
        ),
    )
    if environment is not None:
        if environment.status == EnvironmentStatus.PENDING_APPROVAL:
            messages.info(request, f"{environment} needs approval; the approvers are told.")
        else:
            messages.success(request, f"{environment} is being provisioned.")
        return redirect("environments:detail", pk=environment.pk)
    context = {"form": form, "idempotency_key": request.POST.get("idempotency_key") or _new_key()}
    if form.is_bound:
        context.update(_check(form) if form.is_valid() or not form.has_error("team") else {})
    return render(request, "environments/environment_request.html", context)


def _new_key() -> str:
    import secrets

    return secrets.token_urlsafe(16)


@login_required
@require_http_methods(["GET", "POST"])
def environment_check(request: HttpRequest) -> HttpResponse:
    """The request form's live check (htmx): name taken, refusals, approvals, estimate and budget left."""
    user = signed_in(request)
    if not policy.can(user, services.REQUEST, Environment):
        raise PermissionDenied("You may not request environments.")
    # A new team or template moves the cluster and the lifetime to theirs: the fields are swapped in too. What
    # changed is told by the values the page was last shown for (``shown_*``, swapped in with every answer).
    follow = changed_since_shown(request.POST, ("team", "template"))
    form = _request_form(request, user, follow=follow)
    form.is_valid()
    context: dict[str, Any] = {
        "form": form,
        "swap_fields": follow in ("team", "template"),
        "answer": True,
        **_check(form),
    }
    return render(request, "environments/_request_check.html", context)


def _outputs(run: Any) -> dict[str, Any]:
    """Endpoints and add-on references from the run's step outputs: names and endpoints, never a secret."""
    found: dict[str, Any] = {"urls": [], "namespaces": [], "addons": []}
    if run is None:
        return found
    for step in run.steps.order_by("position"):
        output = step.output or {}
        if step.action == "namespace" and output.get("namespace"):
            found["namespaces"].append(output["namespace"])
        elif step.action == "ingress" and output.get("url"):
            found["urls"].append(output["url"])
        elif step.action in ("database", "cache", "bucket") and output:
            found["addons"].append(
                {
                    "what": step.name,
                    "name": output.get("name", ""),
                    "endpoint": output.get("endpoint", output.get("region", "")),
                    "credentials_reference": output.get("credentials_reference", ""),
                }
            )
    return found


def _run_urls(environment: Environment, user: User) -> dict[str, str]:
    urls = {"poll_url": reverse("environments:run", kwargs={"pk": environment.pk})}
    if policy.can(user, CHANGE, environment):
        urls["retry_url"] = reverse("environments:retry", kwargs={"pk": environment.pk})
        urls["cancel_url"] = reverse("environments:cancel", kwargs={"pk": environment.pk})
    return urls


@login_required
@require_GET
def environment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    environment = selectors.environment_get(user=user, pk=pk)
    run = latest_run(environment, services.PROVISION)
    forward = services.provisioning_run(environment)
    approval = approval_selectors.latest_for(environment, services.PROVISION)
    activity = AuditEvent.objects.filter(
        object_type=Environment._meta.label_lower, object_id=str(environment.pk)
    ).order_by("-pk")[:50]
    can_change = policy.can(user, CHANGE, environment)
    context = {
        "environment": environment,
        "outputs": _outputs(forward),
        "approval": approval,
        "approval_form": DecisionForm(),
        "can_decide": approval is not None and approval_selectors.can_decide(user, approval),
        "activity": activity,
        "can_change": can_change,
        "extend_form": ExtendForm(),
        **(run_context(run) if run is not None else {}),
        **_run_urls(environment, user),
    }
    return render(request, "environments/environment_detail.html", context)


@login_required
@require_GET
def environment_run(request: HttpRequest, pk: int) -> HttpResponse:
    """The workflow progress partial, polled while the run is going."""
    user = signed_in(request)
    environment = selectors.environment_get(user=user, pk=pk)
    return run_progress(request, latest_run(environment, services.PROVISION), _run_urls(environment, user))


def _act(request: HttpRequest, pk: int, action: Any, done: str, **kwargs: Any) -> HttpResponse:
    user = signed_in(request)
    environment = selectors.environment_get(user=user, pk=pk)
    policy.require(user, CHANGE, environment)
    return performed(
        request,
        lambda: action(actor=user, environment_id=environment.pk, **kwargs),
        done.format(environment=environment),
        reverse("environments:detail", kwargs={"pk": environment.pk}),
    )


@login_required
@require_http_methods(["GET", "POST"])
def environment_teardown(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm, then tear down (the provisioning run in reverse)."""
    user = signed_in(request)
    environment = selectors.environment_get(user=user, pk=pk)
    policy.require(user, CHANGE, environment)
    if request.method == "POST":
        if request.POST.get("confirm_name", "").strip() != environment.name:
            messages.error(request, f"Type the environment's name, {environment.name}, to confirm.")
            return render(request, "environments/environment_teardown.html", {"environment": environment}, status=400)
        return _act(request, pk, services.environment_teardown, "{environment} is being torn down.")
    return render(request, "environments/environment_teardown.html", {"environment": environment})


@login_required
@require_POST
def environment_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.environment_cancel, "{environment}: cancelled.")


@login_required
@require_POST
def environment_retry(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.environment_retry, "{environment}: trying again from the failed step.")


@login_required
@require_POST
def environment_extend(request: HttpRequest, pk: int) -> HttpResponse:
    policy.require(signed_in(request), CHANGE, selectors.environment_get(user=signed_in(request), pk=pk))
    form = ExtendForm(request.POST)
    if not form.is_valid():
        for problem in form.errors.get("hours", []):
            messages.error(request, str(problem))
        return redirect("environments:detail", pk=pk)
    return _act(request, pk, services.environment_extend, "{environment}: lifetime extended.", **form.cleaned_data)
