"""Pages that roll a workload back (and follow the rollback) and the deploy freeze windows. Thin: the policy
scopes, forms validate, :mod:`deployments.rollbacks.services` and :mod:`deployments.rollbacks.freezes` decide
and write."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access import policy
from access.models import User
from access.permissions import CHANGE, ROLLBACK, VIEW
from approvals import selectors as approval_selectors
from approvals.forms import DecisionForm
from deployments.choices import RollbackStatus
from deployments.forms import FreezeForm, RollbackForm
from deployments.models import FreezeWindow, RollbackRequest, Workload
from deployments.rollbacks import freezes
from deployments.rollbacks.services import ROLLBACK as ROLLBACK_KIND
from deployments.rollbacks.services import rollback_cancel as rollback_cancel_service
from deployments.rollbacks.services import rollback_options, rollback_request
from deployments.rollbacks.services import rollback_retry as rollback_retry_service
from environments.models import Environment
from portal.forms import performed, saved
from portal.http import HttpRequest, signed_in
from workflows.selectors import latest_run, run_context
from workflows.views import run_progress

PAGE_SIZE = 50


# --- rollback -------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def rollback_new(request: HttpRequest, pk: int) -> HttpResponse:
    """Choose the revision to go back to, say why, and (for Argo CD with auto-sync) acknowledge what follows."""
    user = signed_in(request)
    workload = get_object_or_404(
        policy.restrict(Workload.objects.select_related("cluster__region", "service", "environment"), user, VIEW),
        pk=pk,
    )
    policy.require(user, ROLLBACK, workload)
    options = rollback_options(workload)
    revisions: list[tuple[int, str]] = []
    for revision in options.revisions:
        when = f", {timezone.localtime(revision.created_at):%d %b %Y %H:%M}" if revision.created_at else ""
        revisions.append((revision.revision, f"revision {revision.revision}: {', '.join(revision.images)}{when}"))
    form = RollbackForm(request.POST or None, revisions=revisions)
    rollback = saved(
        request,
        form,
        lambda data: rollback_request(
            actor=user, workload_id=workload.pk, idempotency_key=request.POST.get("idempotency_key", ""), **data
        ),
    )
    if rollback is not None:
        messages.success(request, f"Rollback of {workload.name} {rollback.get_status_display().lower()}.")
        return redirect("deployments:rollback", pk=rollback.pk)
    context = {
        "workload": workload,
        "form": form,
        "problem": options.problem,
        "freeze": options.freeze,
        "argocd_notice": options.argocd_notice,
        "needs_approval": options.needs_approval,
        "idempotency_key": request.POST.get("idempotency_key") or secrets.token_urlsafe(16),
    }
    return render(request, "deployments/rollback_new.html", context, status=400 if form.is_bound else 200)


@login_required
@require_GET
def rollback_list(request: HttpRequest) -> HttpResponse:
    """Rollbacks the user may see, newest first."""
    user = signed_in(request)
    rollbacks = policy.restrict(
        RollbackRequest.objects.select_related("workload__cluster__region", "requested_by"), user, VIEW
    ).order_by("-created_at", "-pk")
    page = Paginator(rollbacks, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "deployments/rollback_list.html", {"page": page})


def _rollback(user: User, pk: int) -> RollbackRequest:
    return get_object_or_404(
        policy.restrict(
            RollbackRequest.objects.select_related(
                "workload__cluster__region", "workload__service", "workload__environment", "requested_by", "deployment"
            ),
            user,
            VIEW,
        ),
        pk=pk,
    )


@login_required
@require_GET
def rollback_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    rollback = _rollback(user, pk)
    approval = approval_selectors.latest_for(rollback, ROLLBACK_KIND)
    run = latest_run(rollback, ROLLBACK_KIND)
    context = {
        "rollback": rollback,
        "approval": approval,
        "approval_form": DecisionForm(),
        "can_decide": approval is not None and approval_selectors.can_decide(user, approval),
        "can_cancel": rollback.status == RollbackStatus.PENDING_APPROVAL and policy.can(user, CHANGE, rollback),
        **(run_context(run) if run is not None else {}),
        **_rollback_run_urls(rollback, user),
    }
    return render(request, "deployments/rollback_detail.html", context)


def _rollback_run_urls(rollback: RollbackRequest, user: User) -> dict[str, str]:
    urls = {"poll_url": reverse("deployments:rollback_run", kwargs={"pk": rollback.pk})}
    if policy.can(user, CHANGE, rollback):
        urls["retry_url"] = reverse("deployments:rollback_retry", kwargs={"pk": rollback.pk})
    return urls


@login_required
@require_GET
def rollback_run(request: HttpRequest, pk: int) -> HttpResponse:
    """The rollback's progress, polled while it runs; the page reloads when it ends."""
    user = signed_in(request)
    rollback = _rollback(user, pk)
    return run_progress(request, latest_run(rollback, ROLLBACK_KIND), _rollback_run_urls(rollback, user))


def _act_on_rollback(request: HttpRequest, pk: int, action: Any, done: str) -> HttpResponse:
    user = signed_in(request)
    rollback = _rollback(user, pk)
    policy.require(user, CHANGE, rollback)
    return performed(
        request,
        lambda: action(actor=user, rollback_id=rollback.pk),
        done.format(workload=rollback.workload.name),
        reverse("deployments:rollback", kwargs={"pk": rollback.pk}),
    )


@login_required
@require_POST
def rollback_retry(request: HttpRequest, pk: int) -> HttpResponse:
    return _act_on_rollback(request, pk, rollback_retry_service, "Rollback of {workload}: trying again.")


@login_required
@require_POST
def rollback_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _act_on_rollback(request, pk, rollback_cancel_service, "Rollback of {workload}: cancelled.")


# --- freeze windows --------------------------------------------------------------------------------


def _freezable(user: User) -> Any:
    """Live environments whose freezes ``user`` may set."""
    return policy.restrict(Environment.objects.live().select_related("team"), user, VIEW).order_by("team__name", "name")


@login_required
@require_http_methods(["GET", "POST"])
def freeze_list(request: HttpRequest) -> HttpResponse:
    """Current and coming freeze windows, and a form to add one."""
    user = signed_in(request)
    now = timezone.now()
    windows = (
        policy.restrict(FreezeWindow.objects.select_related("environment__team", "created_by"), user, VIEW)
        .filter(ends_at__gt=now)
        .order_by("starts_at")
    )
    environments = [
        environment
        for environment in _freezable(user)
        if policy.can(user, CHANGE, FreezeWindow(environment=environment))
    ]
    if request.method == "POST" and not environments:
        # The page shows them no form: a refusal, not a form to correct.
        raise PermissionDenied("You may not freeze any environment.")
    form = FreezeForm(
        request.POST or None,
        environments=Environment.objects.filter(pk__in=[environment.pk for environment in environments]),
        initial={"starts_at": now.replace(second=0, microsecond=0), "ends_at": now + timedelta(days=1)},
    )
    created = saved(
        request, form, lambda data: freezes.freeze_create(actor=user, environment_id=data.pop("environment").pk, **data)
    )
    if created is not None:
        messages.success(request, f"{created.environment} is frozen from {created.starts_at:%d %b %H:%M}.")
        return redirect("deployments:freezes")
    page = Paginator(windows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "form": form if environments else None,
        "now": now,
        "can_end": {window.pk for window in page if policy.can(user, CHANGE, window)},
    }
    return render(request, "deployments/freeze_list.html", context, status=400 if form.is_bound else 200)


@login_required
@require_POST
def freeze_end(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    visible = get_object_or_404(policy.restrict(FreezeWindow.objects.all(), user, VIEW), pk=pk)
    policy.require(user, CHANGE, visible)  # 403 for who may see it but not end it
    window = freezes.freeze_end(actor=user, freeze_id=pk)
    messages.success(request, f"The freeze of {window.environment} is over.")
    return redirect("deployments:freezes")
