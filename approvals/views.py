"""Approvals: what waits for your decision, your own requests, and deciding one.

Who may decide is the policy's ``approve`` on the request's subject; nobody
decides their own request. Requests whose subject you may not see are a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from approvals import selectors, services
from approvals.forms import DecisionForm
from approvals.models import ApprovalRequest
from portal.forms import add_service_error
from portal.http import signed_in


@login_required
@require_GET
def approval_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    return render(
        request,
        "approvals/list.html",
        {"waiting": selectors.waiting_for(user), "mine": selectors.requested_by(user)},
    )


def _detail(request: HttpRequest, approval: ApprovalRequest, form: DecisionForm, status: int = 200) -> HttpResponse:
    user = signed_in(request)
    context = {
        "approval": approval,
        "form": form,
        "can_decide": selectors.can_decide(user, approval),
        "can_withdraw": approval.status == "pending" and approval.requested_by_id == user.pk,
    }
    template = "approvals/_panel.html" if request.htmx else "approvals/detail.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=status)


@login_required
@require_GET
def approval_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, selectors.visible(signed_in(request), pk), DecisionForm())


@login_required
@require_POST
def approval_decide(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    approval = selectors.visible(user, pk)
    form = DecisionForm(request.POST)
    if form.is_valid():
        try:
            services.decide(
                approval.pk,
                approver=user,
                approve=form.cleaned_data["verdict"] == "approve",
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as refused:  # a refusal is shown; no right to approve stays a 403
            add_service_error(form, refused)
        else:
            if not request.htmx:  # type: ignore[attr-defined]
                messages.success(request, "Your decision is recorded.")
                return redirect("approvals:detail", pk=approval.pk)
            decided = selectors.visible(user, pk)
            if decided.status != "pending":
                # The decision settled the request: the page around the panel (the subject's status and the
                # actions it offers) changes too, so the whole page is loaded again rather than the panel alone.
                messages.success(request, "Your decision is recorded.")
                return HttpResponseClientRefresh()
            return _detail(request, decided, DecisionForm())
    return _detail(request, selectors.visible(user, pk), form, status=400)


@login_required
@require_POST
def approval_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    approval = selectors.visible(user, pk)
    services.withdraw(approval.pk, by=user)
    messages.success(request, "The request is withdrawn.")
    return redirect("approvals:detail", pk=approval.pk)
