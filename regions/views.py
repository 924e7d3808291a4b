"""Inventory pages (region list and detail, cluster detail) and region provisioning (request, plan, progress)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access import policy
from access.models import User
from approvals import selectors as approval_selectors
from approvals.forms import DecisionForm
from portal.forms import changed_since_shown, performed, saved
from portal.http import HttpRequest, signed_in
from regions import catalogue, selectors, services, tasks, versions
from regions.choices import RegionRequestStatus
from regions.filtersets import RegionFilterSet
from regions.forms import RegionRequestForm
from regions.models import Region, RegionHealth, RegionRequest
from regions.plan import RegionPlan, region_plan
from regions.preflight.views import cluster_access_context
from workflows.models import RunStatus
from workflows.selectors import latest_run, run_context
from workflows.views import run_progress

PAGE_SIZE = 50


@login_required
def region_list(request: HttpRequest) -> HttpResponse:
    """All regions the user may see, filtered; htmx requests get only the table."""
    filterset = RegionFilterSet(request.GET, queryset=selectors.region_list(user=request.user), request=request)
    regions = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    page = Paginator(regions, PAGE_SIZE).get_page(request.GET.get("page"))
    template = "regions/_region_table.html" if request.htmx else "regions/region_list.html"
    return render(request, template, {"filterset": filterset, "page": page})


def _health_context(request: HttpRequest, region: Region) -> dict[str, Any]:
    """What the status and DR readiness section shows; ``checking`` while a check asked for at ``since`` runs."""
    health: RegionHealth | None = getattr(region, "health", None)  # selected with the region; None before a check
    since = _since(request.GET.get("since", ""))
    checking = since is not None and (health is None or health.checked_at is None or health.checked_at < since)
    return {
        "health": health,
        "checking": checking,
        "since": request.GET.get("since", ""),
        "can_check": policy.can(request.user, policy.CHANGE, region),
        "rpo_minutes": settings.DR_RPO_MINUTES,
        "rto_hours": settings.DR_RTO_HOURS,
    }


def _since(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if timezone.is_aware(moment) else None


@login_required
@require_GET
def region_detail(request: HttpRequest, provider: str, code: str) -> HttpResponse:
    region = selectors.region_get(user=request.user, provider=provider, code=code)
    clusters = selectors.clusters_with_children(user=request.user).filter(region=region)
    centre_servers = selectors.centre_server_list(user=request.user).filter(region=region)
    return render(
        request,
        "regions/region_detail.html",
        {
            "region": region,
            "clusters": clusters,
            "centre_servers": centre_servers,
            **_health_context(request, region),
        },
    )


@login_required
@require_GET
def region_health(request: HttpRequest, provider: str, code: str) -> HttpResponse:
    """The status and DR readiness section alone (polled while a check runs)."""
    region = selectors.region_get(user=request.user, provider=provider, code=code)
    return render(request, "regions/_health.html", {"region": region, **_health_context(request, region)})


@login_required
@require_POST
def region_check(request: HttpRequest, provider: str, code: str) -> HttpResponse:
    """Check the region's resources now, on a worker; the page follows the check and shows its answer."""
    region = selectors.region_get(user=request.user, provider=provider, code=code)
    policy.require(signed_in(request), policy.CHANGE, region)
    since = timezone.now()
    transaction.on_commit(lambda: tasks.check_region_health.delay(region.pk))
    messages.info(request, f"Checking {region.code}: this page shows the answer when the workers have it.")
    return redirect(
        f"{reverse('regions:detail', args=[region.provider, region.code])}?{urlencode({'since': since.isoformat()})}"
    )


@login_required
def cluster_detail(request: HttpRequest, provider: str, code: str, name: str) -> HttpResponse:
    cluster = selectors.cluster_get(user=request.user, provider=provider, code=code, name=name)
    context = {"cluster": cluster, "region": cluster.region, **cluster_access_context(request, cluster)}
    return render(request, "regions/cluster_detail.html", context)


# --- region provisioning: request, plan, approval, build-out ----------------------------------------------------


@login_required
@require_GET
def request_list(request: HttpRequest) -> HttpResponse:
    """Region requests the user may see, newest first."""
    user = signed_in(request)
    page = Paginator(selectors.region_request_list(user=user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "regions/request_list.html",
        {"page": page, "can_request": policy.can(user, policy.ADD, RegionRequest)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def request_create(request: HttpRequest) -> HttpResponse:
    """Ask for a new region; the page shows every rule it breaks next to its field, and the input is kept."""
    user = signed_in(request)
    if not policy.can(user, policy.ADD, RegionRequest):
        raise PermissionDenied("You may not request regions.")
    accounts = selectors.cloud_account_list(user=user)
    form = RegionRequestForm(request.POST or None, accounts=accounts, initial=selectors.opening_values(accounts))
    key = request.POST.get("idempotency_key", "")
    created = saved(
        request,
        form,
        lambda data: services.region_request_create(
            actor=user, idempotency_key=key, **{name: data[name] for name in services.REQUEST_FIELDS}
        ),
    )
    if created is not None:
        messages.info(request, f"{created} is waiting for approval; the platform admins are told.")
        return redirect("regions:request", pk=created.pk)
    status = 400 if form.is_bound else 200
    context = {"form": form, "idempotency_key": key or secrets.token_urlsafe(16)}
    context.update(
        _preview(form.data if form.is_bound else {name: form[name].value() for name in form.fields}, accounts)
    )
    return render(request, "regions/request_form.html", context, status=status)


def _preview(values: Any, accounts: Any) -> dict[str, Any]:
    """The live plan of what the form holds (``values``: posted, or the opening values): the plan and its
    estimate, or the form saying what stops it. The plan does not depend on why the region is wanted, so it
    shows before the justification."""
    if isinstance(values, QueryDict):
        data = values.copy()
    else:
        data = QueryDict(mutable=True)
        for name, value in values.items():
            if value is not None and value is not False:
                data[name] = "on" if value is True else str(value)
    data["justification"] = data.get("justification", "").strip() or "Not written yet."
    form = RegionRequestForm(data, accounts=accounts)
    context: dict[str, Any] = {"preview_form": form}
    if form.is_valid():
        context["plan"], context["plan_problem"] = _plan_or_problem(form.instance)
    return context


# The fields a change of each one brings along: a provider its accounts and regions, a region its zone and partner.
FOLLOWERS = {
    "provider": ("account", "code", "residency_zone", "dr_partner_code", "kubernetes_version"),
    "account": ("provider", "code", "residency_zone", "dr_partner_code", "kubernetes_version"),
    "code": ("residency_zone", "dr_partner_code", "kubernetes_version"),
}


@login_required
@require_POST
def request_preview(request: HttpRequest) -> HttpResponse:
    """The request form's live plan (htmx): the plan and its estimate for what the form holds, or what stops it.

    When the person has just changed the provider, the account or the region
    (it differs from the ``shown_`` value the page was last shown for), the
    fields that follow it are moved along and swapped into the form: a
    provider brings an account and a free region of its own, a region its
    residency zone and a partner in that zone.
    """
    user = signed_in(request)
    if not policy.can(user, policy.ADD, RegionRequest):
        raise PermissionDenied("You may not request regions.")
    accounts = selectors.cloud_account_list(user=user)
    data = request.POST.copy()
    # What changed is told by the values the page was last shown for (``shown_*``, swapped in with every answer).
    changed = changed_since_shown(data, FOLLOWERS)
    if changed in ("provider", "account"):
        opening = selectors.opening_values(
            accounts,
            provider=data.get("provider", "") if changed == "provider" else "",
            account_id=data.get("account") if changed == "account" else None,
        )
        for name, value in opening.items():
            data[name] = "" if value is None else str(value)
    elif changed == "code":
        provider, code = data.get("provider", ""), data.get("code", "")
        data["residency_zone"] = str(catalogue.regions_in_zones(provider).get(code, ("", ""))[1])
        data["dr_partner_code"] = selectors.partner_for(provider, code)
    context = _preview(data, accounts)
    context.update(form=context["preview_form"], swap_fields=FOLLOWERS.get(changed, ()))
    return render(request, "regions/_plan_preview.html", context)


@login_required
@require_GET
def request_kubernetes_versions(request: HttpRequest) -> HttpResponse:
    """The request form's version choice for the chosen account and region (htmx): what the cloud offers there,
    the empty choice being the newest in standard support; or why the cloud could not be asked."""
    user = signed_in(request)
    if not policy.can(user, policy.ADD, RegionRequest):
        raise PermissionDenied("You may not request regions.")
    account_id = request.GET.get("account", "").strip()
    code = request.GET.get("code", "").strip()
    account = (
        selectors.cloud_account_list(user=user).filter(pk=int(account_id)).first() if account_id.isdigit() else None
    )
    context: dict[str, Any] = {"selected": request.GET.get("kubernetes_version", "").strip(), "code": code}
    if account is None or code not in catalogue.regions_in_zones(account.provider):
        context["problem"] = "Choose a cloud account and one of its provider's regions to see the versions offered."
    else:
        try:
            offered = versions.offered_versions(account, code)
        except versions.VersionsUnavailable as error:
            context["problem"] = error.message
        else:
            context.update(offered=offered, default=versions.default_version(offered))
    return render(request, "regions/_kubernetes_versions.html", context)


def _run_urls(region_request: RegionRequest, user: User) -> dict[str, str]:
    urls = {"poll_url": reverse("regions:request_run", kwargs={"pk": region_request.pk})}
    if policy.can(user, policy.CHANGE, region_request):
        urls["retry_url"] = reverse("regions:request_retry", kwargs={"pk": region_request.pk})
        urls["cancel_url"] = reverse("regions:request_cancel", kwargs={"pk": region_request.pk})
    return urls


def _plan_or_problem(region_request: RegionRequest) -> tuple[RegionPlan | None, str]:
    try:
        return region_plan(region_request), ""
    except (KeyError, ValueError) as error:  # a request whose region left the catalogue, or mixed currencies
        return None, f"The plan cannot be computed: {error}"


@login_required
@require_GET
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The request, its plan (every resource, in build order, with its monthly cost), approval and progress."""
    user = signed_in(request)
    region_request = selectors.region_request_get(user=user, pk=pk)
    plan, problem = _plan_or_problem(region_request)
    run = latest_run(region_request, services.BUILD)
    approval = approval_selectors.latest_for(region_request, services.BUILD)
    can_change = policy.can(user, policy.CHANGE, region_request)
    forward = services.build_run(region_request)
    context = {
        "region_request": region_request,
        "plan": plan,
        "plan_problem": problem,
        "resources": region_request.resources.order_by("position"),
        "approval": approval,
        "approval_form": DecisionForm(),
        "can_decide": approval is not None and approval_selectors.can_decide(user, approval),
        "can_change": can_change,
        "can_roll_back": can_change
        and region_request.status == RegionRequestStatus.FAILED
        and forward is not None
        and forward.status == RunStatus.FAILED
        and not forward.undo_runs.exists(),
        **(run_context(run) if run is not None else {}),
        **_run_urls(region_request, user),
    }
    return render(request, "regions/request_detail.html", context)


@login_required
@require_GET
def request_plan_json(request: HttpRequest, pk: int) -> HttpResponse:
    """The plan as JSON, for review outside the portal."""
    user = signed_in(request)
    region_request = selectors.region_request_get(user=user, pk=pk)
    plan, problem = _plan_or_problem(region_request)
    if plan is None:
        return JsonResponse({"error": {"code": "plan_unavailable", "message": problem}}, status=409)
    body = {"request": region_request.pk, "status": region_request.status, **plan.as_json()}
    response = JsonResponse(body, json_dumps_params={"indent": 2})
    filename = f"region-plan-{region_request.provider}-{region_request.code}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_GET
def request_run(request: HttpRequest, pk: int) -> HttpResponse:
    """The build-out's progress partial, polled while the run is going."""
    user = signed_in(request)
    region_request = selectors.region_request_get(user=user, pk=pk)
    return run_progress(request, latest_run(region_request, services.BUILD), _run_urls(region_request, user))


def _act(request: HttpRequest, pk: int, action: Any, done: str) -> HttpResponse:
    user = signed_in(request)
    region_request = selectors.region_request_get(user=user, pk=pk)
    policy.require(user, policy.CHANGE, region_request)
    return performed(
        request,
        lambda: action(actor=user, request_id=region_request.pk),
        done.format(request=region_request),
        services.request_url(region_request),
    )


@login_required
@require_POST
def request_retry(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.region_build_retry, "{request}: trying again from the failed step.")


@login_required
@require_POST
def request_rollback(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.region_build_rollback, "{request}: rolling back what was built.")


@login_required
@require_POST
def request_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.region_request_cancel, "{request}: cancelled.")
