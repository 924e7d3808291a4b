"""Failover pages: ask to fail a region over (with what it would lose), follow it (approval, live progress, retry)."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access import policy
from access.models import User
from approvals import selectors as approval_selectors
from approvals.forms import DecisionForm
from portal.forms import performed, saved
from portal.http import HttpRequest, signed_in
from regions import selectors
from regions.choices import FailoverStatus
from regions.failover import services as failovers
from regions.failover.forms import FailoverRequestForm
from regions.models import FailoverRequest, Region
from workflows.selectors import latest_run, run_context
from workflows.views import run_progress


def may_request_failover(user: Any, region: Region) -> bool:
    """Whether ``user`` may ask to fail ``region`` over (``inventory.add`` on the region)."""
    return policy.can(user, policy.ADD, FailoverRequest(region=region))


def targets(region: Region) -> dict[str, Any]:
    """What the request page shows: the partner, the database, the replica and its lag now, the DR targets."""
    target = failovers.failover_target(region)
    state = failovers.replica_state(target) if not target.refusal else None
    return {
        "target": target,
        "replica_state": state,
        "lag": failovers.describe_lag(state.lag_seconds) if state is not None and state.found else "",
        "lag_over_rpo": bool(
            state and state.lag_seconds is not None and state.lag_seconds > settings.DR_RPO_MINUTES * 60
        ),
        "rpo_minutes": settings.DR_RPO_MINUTES,
        "rto_hours": settings.DR_RTO_HOURS,
        "required_approvals": failovers.REQUIRED_APPROVALS,
    }


@login_required
@require_http_methods(["GET", "POST"])
def failover_create(request: HttpRequest, provider: str, code: str) -> HttpResponse:
    """Ask to fail the region over; the page says what would be promoted and lost, and every refusal in words."""
    user = signed_in(request)
    region = selectors.region_get(user=user, provider=provider, code=code)
    if not may_request_failover(user, region):
        raise PermissionDenied("You may not fail this region over.")
    form = FailoverRequestForm(request.POST or None)
    key = request.POST.get("idempotency_key", "")
    created = saved(
        request,
        form,
        lambda data: failovers.failover_request_create(
            actor=user, region_id=region.pk, reason=data["reason"], idempotency_key=key
        ),
    )
    if created is not None:
        messages.info(request, f"{created} is waiting for two platform admins to approve it.")
        return redirect("regions:failover", pk=created.pk)
    context = {
        "region": region,
        "form": form,
        "idempotency_key": key or secrets.token_urlsafe(16),
        **targets(region),
    }
    return render(request, "regions/failover_form.html", context, status=400 if form.is_bound else 200)


def _run_urls(failover: FailoverRequest, user: User) -> dict[str, str]:
    urls = {"poll_url": reverse("regions:failover_run", kwargs={"pk": failover.pk})}
    if policy.can(user, policy.CHANGE, failover):
        urls["retry_url"] = reverse("regions:failover_retry", kwargs={"pk": failover.pk})
    return urls


@login_required
@require_GET
def failover_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The failover, its approval (decided here) and its progress, step by step."""
    user = signed_in(request)
    failover = failovers.failover_get(user=user, pk=pk)
    run = latest_run(failover, failovers.FAILOVER)
    approval = approval_selectors.latest_for(failover, failovers.FAILOVER)
    context = {
        "failover": failover,
        "approval": approval,
        "approval_form": DecisionForm(),
        "can_decide": approval is not None and approval_selectors.can_decide(user, approval),
        "can_cancel": failover.status == FailoverStatus.PENDING_APPROVAL and policy.can(user, policy.CHANGE, failover),
        "rpo_minutes": settings.DR_RPO_MINUTES,
        "rto_hours": settings.DR_RTO_HOURS,
        "lag": failovers.describe_lag(failover.replica_lag_seconds),
        **(run_context(run) if run is not None else {}),
        **_run_urls(failover, user),
    }
    return render(request, "regions/failover_detail.html", context)


@login_required
@require_GET
def failover_run(request: HttpRequest, pk: int) -> HttpResponse:
    """The failover's progress partial, polled while the run is going."""
    user = signed_in(request)
    failover = failovers.failover_get(user=user, pk=pk)
    return run_progress(request, latest_run(failover, failovers.FAILOVER), _run_urls(failover, user))


def _act(request: HttpRequest, pk: int, action: Any, done: str) -> HttpResponse:
    user = signed_in(request)
    failover = failovers.failover_get(user=user, pk=pk)
    policy.require(user, policy.CHANGE, failover)
    return performed(
        request,
        lambda: action(actor=user, failover_id=failover.pk),
        done.format(failover=failover),
        failovers.failover_url(failover),
    )


@login_required
@require_POST
def failover_retry(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, failovers.failover_retry, "{failover}: trying again from the failed step.")


@login_required
@require_POST
def failover_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, failovers.failover_cancel, "{failover}: cancelled.")
