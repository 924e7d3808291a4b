"""Scorecard pages: the scorecards and their rules (everyone reads them), each scorecard's standings (the services
one may see, by level), and the forms through which platform admins define scorecards and rules.

Views are thin: selectors read (scoped by the policy), forms parse, the services decide, write and audit.
Someone who may see a scorecard but not change it gets a 403 from its forms.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access import policy
from access.models import User
from access.permissions import ADD, CHANGE, DELETE, VIEW
from portal.forms import saved
from portal.http import HttpRequest, signed_in
from scorecards import selectors, services
from scorecards.forms import THRESHOLD_OF, RuleForm, ScorecardForm
from scorecards.models import Scorecard, ScorecardRule

PAGE_SIZE = 50
EVALUATING = "Every service is being evaluated again; the results appear here within a minute."


def _require(user: User, action: str, model: type[Scorecard] | type[ScorecardRule], refusal: str) -> None:
    if not policy.can(user, action, model):
        raise PermissionDenied(refusal)


def _abilities(user: User) -> dict[str, bool]:
    return {
        "can_add": policy.can(user, ADD, Scorecard),
        "can_change": policy.can(user, CHANGE, Scorecard),
        "can_delete": policy.can(user, DELETE, Scorecard),
    }


@login_required
@require_GET
def scorecard_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    _require(user, VIEW, Scorecard, "You may not see scorecards.")
    scorecards = [
        (
            scorecard,
            selectors.rules_by_level(list(scorecard.rules.all())),
            selectors.level_counts(user=user, scorecard=scorecard),
        )
        for scorecard in selectors.scorecard_list(user=user)
    ]
    return render(request, "scorecards/scorecard_list.html", {"scorecards": scorecards, **_abilities(user)})


@login_required
@require_GET
def scorecard_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The scorecard's rules by level, and the services one may see with their level on it (``?level=`` narrows)."""
    user = signed_in(request)
    scorecard = selectors.scorecard_get(user=user, pk=pk)
    level = request.GET.get("level", "")
    if level not in {value for value, _ in selectors.LEVEL_FILTERS}:
        level = ""
    standings = selectors.scorecard_standings(user=user, scorecard=scorecard, level=level)
    context = {
        "scorecard": scorecard,
        "levels": selectors.rules_by_level(list(scorecard.rules.all())),
        "counts": selectors.level_counts(user=user, scorecard=scorecard),
        "level": level,
        "level_filters": selectors.LEVEL_FILTERS,
        "page": Paginator(standings, PAGE_SIZE).get_page(request.GET.get("page")),
        **_abilities(user),
    }
    template = "scorecards/_standings.html" if request.htmx else "scorecards/scorecard_detail.html"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def scorecard_create(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    _require(user, ADD, Scorecard, "Only platform admins may create scorecards.")
    form = ScorecardForm(request.POST or None)
    scorecard = saved(request, form, lambda data: services.scorecard_create(actor=user, **data))
    if scorecard is not None:
        messages.success(request, f"Scorecard {scorecard} created. Add its rules, level by level.")
        return redirect("scorecards:detail", pk=scorecard.pk)
    return render(request, "scorecards/form.html", {"form": form, "title": "New scorecard"})


@login_required
@require_http_methods(["GET", "POST"])
def scorecard_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    scorecard = selectors.scorecard_get(user=user, pk=pk)
    policy.require(user, CHANGE, scorecard)
    form = ScorecardForm(request.POST or None, instance=scorecard)
    updated = saved(
        request, form, lambda data: services.scorecard_update(actor=user, scorecard_id=scorecard.pk, **data)
    )
    if updated is not None:
        messages.success(request, f"Scorecard {updated} saved.")
        return redirect("scorecards:detail", pk=updated.pk)
    context = {"form": form, "title": f"Edit {scorecard}", "scorecard": scorecard}
    return render(request, "scorecards/form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def scorecard_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    scorecard = selectors.scorecard_get(user=user, pk=pk)
    policy.require(user, DELETE, scorecard)
    if request.method == "POST":
        services.scorecard_delete(actor=user, scorecard_id=scorecard.pk)
        messages.success(request, f"Scorecard {scorecard} deleted, with its rules and every service's results on it.")
        return redirect("scorecards:list")
    return render(request, "scorecards/confirm.html", {"scorecard": scorecard, "rule": None})


@login_required
@require_POST
def scorecard_evaluate(request: HttpRequest, pk: int) -> HttpResponse:
    """Re-evaluate now: a worker evaluates every service against the scorecard."""
    user = signed_in(request)
    scorecard = selectors.scorecard_get(user=user, pk=pk)
    policy.require(user, CHANGE, scorecard)
    services.evaluation_request(actor=user, scorecard_id=scorecard.pk)
    messages.success(request, EVALUATING)
    return redirect("scorecards:detail", pk=scorecard.pk)


def _rule_page(request: HttpRequest, form: RuleForm, scorecard: Scorecard, title: str) -> HttpResponse:
    context = {"form": form, "title": title, "scorecard": scorecard, "threshold_of": THRESHOLD_OF}
    return render(request, "scorecards/rule_form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def rule_create(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    scorecard = selectors.scorecard_get(user=user, pk=pk)
    policy.require(user, ADD, ScorecardRule(scorecard=scorecard))
    form = RuleForm(request.POST or None)
    rule = saved(
        request, form, lambda data: services.rule_create(actor=user, scorecard=scorecard, **form.service_fields())
    )
    if rule is not None:
        messages.success(request, f"Rule “{rule.title}” added at {rule.level_label.lower()}. {EVALUATING}")
        return redirect("scorecards:detail", pk=scorecard.pk)
    return _rule_page(request, form, scorecard, f"New rule of {scorecard}")


@login_required
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    rule = selectors.rule_get(user=user, pk=pk)
    policy.require(user, CHANGE, rule)
    form = RuleForm(request.POST or None, instance=rule)
    updated = saved(
        request, form, lambda data: services.rule_update(actor=user, rule_id=rule.pk, **form.service_fields())
    )
    if updated is not None:
        messages.success(request, f"Rule “{updated.title}” saved. {EVALUATING}")
        return redirect("scorecards:detail", pk=rule.scorecard_id)
    return _rule_page(request, form, rule.scorecard, f"Edit rule “{rule.title}”")


@login_required
@require_http_methods(["GET", "POST"])
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    rule = selectors.rule_get(user=user, pk=pk)
    policy.require(user, DELETE, rule)
    if request.method == "POST":
        services.rule_delete(actor=user, rule_id=rule.pk)
        messages.success(request, f"Rule “{rule.title}” removed from {rule.scorecard}. {EVALUATING}")
        return redirect("scorecards:detail", pk=rule.scorecard_id)
    return render(request, "scorecards/confirm.html", {"scorecard": rule.scorecard, "rule": rule})
