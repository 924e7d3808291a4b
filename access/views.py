"""Access administration pages: overview, teams, roles, grants, SSO rules and access reviews.

Views are thin: a selector reads (scoped by the policy), a form validates,
a service decides and writes (re-checking the policy inside its transaction
and recording the audit event). Lists are ``restrict``ed; an object outside
the user's scope is a 404, one they may see but not change a 403.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Model
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from access import policy, selectors, services
from access.filtersets import GrantFilterSet, TeamFilterSet
from access.forms import (
    GrantForm,
    MembershipForm,
    MembershipRoleForm,
    ReviewDecisionForm,
    ReviewOpenForm,
    RevokeForm,
    RoleEditForm,
    RoleForm,
    SsoPreviewForm,
    SsoRuleForm,
    TeamEditForm,
    TeamForm,
)
from access.models import AccessReview, AccessReviewItem, Grant, Membership, Role, SsoRule, Team, User
from access.permissions import ADD, CHANGE, DELETE, REVIEW, VIEW
from portal.csv_export import csv_file, csv_lines
from portal.forms import add_service_error, saved
from portal.http import HttpRequest, signed_in
from regions.models import Region

PAGE_SIZE = 50


def require_section(user: User, action: str, model: type[Model]) -> None:
    """A page about a kind of object: 403 unless the user may ``action`` some of them."""
    if not policy.can(user, action, model):
        raise PermissionDenied(f"You may not {action} {model._meta.verbose_name_plural}.")


def _page(request: HttpRequest, queryset: Any) -> Any:
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


# --- overview --------------------------------------------------------------------

SECTIONS: list[tuple[str, str, type[Model], str, str]] = [
    ("Teams", "access:teams", Team, VIEW, "Teams and their members."),
    ("Roles", "access:roles", Role, VIEW, "Named sets of permissions."),
    ("Grants", "access:grants", Grant, VIEW, "Who holds which role, where, until when, and why."),
    ("SSO mapping rules", "access:sso_rules", SsoRule, VIEW, "Which IdP groups give which memberships and grants."),
    ("Access reviews", "access:reviews", AccessReview, VIEW, "Review campaigns and their evidence."),
    ("My reviews", "access:my_reviews", AccessReviewItem, REVIEW, "Grants waiting for your decision."),
]


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    sections = [
        {"label": label, "url_name": url_name, "description": description}
        for label, url_name, model, action, description in SECTIONS
        if policy.can(user, action, model)
    ]
    return render(request, "access/overview.html", {"access": selectors.my_access(user=user), "sections": sections})


# --- teams -------------------------------------------------------------------------


@login_required
def team_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    filterset = TeamFilterSet(request.GET, queryset=selectors.team_list(user=user))
    teams = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    context = {"filterset": filterset, "page": _page(request, teams), "can_add": policy.can(user, ADD, Team)}
    template = "access/_team_table.html" if request.htmx else "access/team_list.html"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def team_create(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    require_section(user, ADD, Team)
    form = TeamForm(request.POST or None)
    team = saved(request, form, lambda data: services.team_create(actor=user, **data))
    if team is not None:
        messages.success(request, f"Team {team} created.")
        return redirect("access:team", pk=team.pk)
    return render(request, "access/form.html", {"form": form, "title": "New team", "back": "access:teams"})


def _team_context(request: HttpRequest, team: Team, member_form: MembershipForm | None = None) -> dict[str, Any]:
    user = signed_in(request)
    can_change = policy.can(user, CHANGE, team)
    members = selectors.team_members(team=team)
    if member_form is None and can_change:
        member_form = MembershipForm(users=selectors.users_for_choice())
    return {
        "team": team,
        "members": members,
        "can_change": can_change,
        "member_form": member_form,
        "role_choices": Membership.Role.choices,
    }


@login_required
def team_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    team = selectors.team_get(user=user, pk=pk)
    grants = selectors.grant_list(user=user)
    context = _team_context(request, team)
    context.update(
        {
            "held_grants": grants.filter(grantee_team=team),
            "limited_grants": grants.filter(team=team),
            "can_view_grants": policy.can(user, VIEW, Grant),
        }
    )
    return render(request, "access/team_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def team_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    team = selectors.team_get(user=user, pk=pk)
    policy.require(user, CHANGE, team)
    form = TeamEditForm(
        request.POST or None,
        initial={"name": team.name, "description": team.description, "residency_zone": team.residency_zone},
        may_set_residency_zone=services.may_set_residency_zone(user, team),
    )
    result = saved(request, form, lambda data: services.team_update(actor=user, team_id=team.pk, **data))
    if result is not None:
        messages.success(request, "Team saved.")
        return redirect("access:team", pk=team.pk)
    return render(request, "access/form.html", {"form": form, "title": f"Edit {team}", "back": "access:teams"})


def _members_response(request: HttpRequest, team: Team, form: MembershipForm | None = None) -> HttpResponse:
    if request.htmx:
        return render(request, "access/_team_members.html", _team_context(request, team, form))
    if form is not None and form.errors:
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
    return redirect("access:team", pk=team.pk)


@login_required
@require_POST
def team_member_set(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a person to the team, or change their team role (repeating it changes nothing)."""
    user = signed_in(request)
    team = selectors.team_get(user=user, pk=pk)
    policy.require(user, CHANGE, team)
    form = MembershipForm(request.POST, users=selectors.users_for_choice())
    if form.is_valid():
        services.membership_set(actor=user, team=team, user=form.cleaned_data["user"], role=form.cleaned_data["role"])
        return _members_response(request, team)
    return _members_response(request, team, form)


@login_required
@require_POST
def team_member_role(request: HttpRequest, pk: int, user_id: int) -> HttpResponse:
    user = signed_in(request)
    team = selectors.team_get(user=user, pk=pk)
    policy.require(user, CHANGE, team)
    membership = get_object_or_404(Membership, team=team, user_id=user_id)
    form = MembershipRoleForm(request.POST)
    if form.is_valid():
        services.membership_set(actor=user, team=team, user=membership.user, role=form.cleaned_data["role"])
    return _members_response(request, team)


@login_required
@require_POST
def team_member_remove(request: HttpRequest, pk: int, user_id: int) -> HttpResponse:
    """Take a person out of the team; removing someone already gone changes nothing."""
    user = signed_in(request)
    team = selectors.team_get(user=user, pk=pk)
    policy.require(user, CHANGE, team)
    member = get_object_or_404(User, pk=user_id)
    services.membership_remove(actor=user, team=team, user=member)
    return _members_response(request, team)


# --- roles ---------------------------------------------------------------------------


@login_required
def role_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    require_section(user, VIEW, Role)
    roles = [(role, selectors.permission_words(role)) for role in selectors.role_list(user=user)]
    return render(
        request,
        "access/role_list.html",
        {"roles": roles, "can_add": policy.can(user, ADD, Role), "can_change": policy.can(user, CHANGE, Role)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def role_create(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    require_section(user, ADD, Role)
    form = RoleForm(request.POST or None)
    role = saved(
        request,
        form,
        lambda data: services.role_create(
            actor=user,
            slug=data["slug"],
            name=data["name"],
            description=data["description"],
            permission_names=data["permissions"],
        ),
    )
    if role is not None:
        messages.success(request, f"Role {role} created.")
        return redirect("access:roles")
    return render(request, "access/form.html", {"form": form, "title": "New role", "back": "access:roles"})


def _custom_role(user: User, pk: int, action: str) -> Role:
    role = selectors.role_get(user=user, pk=pk)
    policy.require(user, action, role)
    if role.builtin:
        raise PermissionDenied(f"{role} is a built-in role; its permissions are fixed.")
    return role


@login_required
@require_http_methods(["GET", "POST"])
def role_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    role = _custom_role(user, pk, CHANGE)
    initial = {"name": role.name, "description": role.description, "permissions": role.permissions}
    form = RoleEditForm(request.POST or None, initial=initial)
    result = saved(
        request,
        form,
        lambda data: services.role_update(
            actor=user,
            role_id=role.pk,
            name=data["name"],
            description=data["description"],
            permission_names=data["permissions"],
        ),
    )
    if result is not None:
        messages.success(request, f"Role {result.name} saved.")
        return redirect("access:roles")
    return render(request, "access/form.html", {"form": form, "title": f"Edit role {role}", "back": "access:roles"})


@login_required
@require_http_methods(["GET", "POST"])
def role_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    role = _custom_role(user, pk, DELETE)
    error = ""
    if request.method == "POST":
        try:
            services.role_delete(actor=user, role_id=role.pk)
        except ValidationError as refused:
            error = " ".join(refused.messages)
        else:
            messages.success(request, f"Role {role} deleted.")
            return redirect("access:roles")
    return render(
        request,
        "access/confirm.html",
        {
            "title": f"Delete role {role}?",
            "question": f"Delete the custom role {role}? This cannot be undone.",
            "button": "Delete role",
            "error": error,
            "back": "access:roles",
        },
    )


# --- grants ----------------------------------------------------------------------------


@login_required
def grant_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    require_section(user, VIEW, Grant)
    filterset = GrantFilterSet(request.GET, queryset=selectors.grant_list(user=user), request=request)
    grants = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    context = {"filterset": filterset, "page": _page(request, grants), "can_add": policy.can(user, ADD, Grant)}
    template = "access/_grant_table.html" if request.htmx else "access/grant_list.html"
    return render(request, template, context)


def _grant_form(user: User, data: Any = None, initial: dict[str, Any] | None = None) -> GrantForm:
    return GrantForm(
        data,
        initial=initial,
        users=selectors.users_for_choice(),
        teams=selectors.team_list(user=user),
        roles=selectors.role_list(user=user),
        regions=policy.restrict(Region.objects.order_by("provider", "code"), user, VIEW),
    )


@login_required
@require_http_methods(["GET", "POST"])
def grant_create(request: HttpRequest) -> HttpResponse:
    """Grant a role. A double submit gives the one grant it made (see ``services.grant_give``)."""
    user = signed_in(request)
    require_section(user, ADD, Grant)
    initial = {key: request.GET[key] for key in ("grantee_user", "grantee_team", "team", "role") if key in request.GET}
    form = _grant_form(user, request.POST or None, initial)
    result = saved(
        request,
        form,
        lambda data: services.grant_give(
            actor=user,
            role=data["role"],
            reason=data["reason"],
            user=data["grantee_user"],
            grantee_team=data["grantee_team"],
            team=data["team"],
            region=data["region"],
            zone=data["zone"],
            tiers=data["tiers"],
            expires_at=data["expires_at"],
        ),
    )
    if result is not None:
        grant, created = result
        if created:
            messages.success(request, f"Granted {grant.role} to {grant.grantee_label} on {grant.scope_label}.")
        else:
            messages.info(request, f"{grant.grantee_label} already holds this grant; nothing was added.")
        return redirect("access:grant", pk=grant.pk)
    return render(request, "access/grant_form.html", {"form": form})


@login_required
def grant_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    grant = selectors.grant_get(user=user, pk=pk)
    return render(
        request,
        "access/grant_detail.html",
        {"grant": grant, "status": selectors.grant_status(grant), "can_revoke": policy.can(user, DELETE, grant)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def grant_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm, then revoke with a reason. Revoking a revoked grant again is harmless."""
    user = signed_in(request)
    grant = selectors.grant_get(user=user, pk=pk)
    policy.require(user, DELETE, grant)
    form = RevokeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        already = grant.revoked_at is not None
        try:
            services.grant_revoke(actor=user, grant_id=grant.pk, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            add_service_error(form, error)
        else:
            if already:
                messages.info(request, "This grant was already revoked.")
            else:
                messages.success(request, f"Revoked {grant.role} from {grant.grantee_label}.")
            return redirect("access:grant", pk=grant.pk)
    return render(request, "access/grant_revoke.html", {"grant": grant, "form": form})


# --- SSO mapping rules -------------------------------------------------------------------


@login_required
def sso_rule_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    require_section(user, VIEW, SsoRule)
    return render(
        request,
        "access/sso_rule_list.html",
        {
            "rules": selectors.sso_rule_list(user=user),
            "can_add": policy.can(user, ADD, SsoRule),
            "can_change": policy.can(user, CHANGE, SsoRule),
            "can_delete": policy.can(user, DELETE, SsoRule),
            "preview_form": SsoPreviewForm(),
        },
    )


def _limit_rule_form(form: SsoRuleForm, user: User) -> SsoRuleForm:
    teams = selectors.team_list(user=user)
    form.fields["team"].queryset = teams  # type: ignore[attr-defined]
    form.fields["scope_team"].queryset = teams  # type: ignore[attr-defined]
    form.fields["role"].queryset = selectors.role_list(user=user)  # type: ignore[attr-defined]
    form.fields["scope_region"].queryset = policy.restrict(Region.objects.all(), user, VIEW)  # type: ignore[attr-defined]
    return form


@login_required
@require_http_methods(["GET", "POST"])
def sso_rule_create(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    require_section(user, ADD, SsoRule)
    form = _limit_rule_form(SsoRuleForm(request.POST or None), user)
    rule = saved(request, form, lambda data: services.sso_rule_create(actor=user, **form.service_fields()))
    if rule is not None:
        messages.success(request, f"SSO rule {rule} created; it applies from each person's next sign-in.")
        return redirect("access:sso_rules")
    return render(request, "access/form.html", {"form": form, "title": "New SSO rule", "back": "access:sso_rules"})


@login_required
@require_http_methods(["GET", "POST"])
def sso_rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    rule = selectors.sso_rule_get(user=user, pk=pk)
    policy.require(user, CHANGE, rule)
    form = _limit_rule_form(SsoRuleForm(request.POST or None, instance=SsoRule.objects.get(pk=rule.pk)), user)
    result = saved(
        request, form, lambda data: services.sso_rule_update(actor=user, rule_id=rule.pk, **form.service_fields())
    )
    if result is not None:
        messages.success(request, f"SSO rule {result.name} saved.")
        return redirect("access:sso_rules")
    title = f"Edit SSO rule {rule}"
    return render(request, "access/form.html", {"form": form, "title": title, "back": "access:sso_rules"})


@login_required
@require_POST
def sso_rule_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    """Enable or disable a rule (``enabled`` in the POST: "true" or "false"; repeating it changes nothing)."""
    user = signed_in(request)
    rule = selectors.sso_rule_get(user=user, pk=pk)
    policy.require(user, CHANGE, rule)
    enabled = request.POST.get("enabled") == "true"
    services.sso_rule_update(actor=user, rule_id=rule.pk, enabled=enabled)
    messages.success(request, f"SSO rule {rule} {'enabled' if enabled else 'disabled'}.")
    return redirect("access:sso_rules")


@login_required
@require_http_methods(["GET", "POST"])
def sso_rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    rule = selectors.sso_rule_get(user=user, pk=pk)
    policy.require(user, DELETE, rule)
    if request.method == "POST":
        services.sso_rule_delete(actor=user, rule_id=rule.pk)
        messages.success(request, f"SSO rule {rule} deleted.")
        return redirect("access:sso_rules")
    return render(
        request,
        "access/confirm.html",
        {
            "title": f"Delete SSO rule {rule}?",
            "question": (
                f"Delete the SSO rule {rule}? What it gave stays until each person's next sign-in removes it."
            ),
            "button": "Delete rule",
            "error": "",
            "back": "access:sso_rules",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def sso_rule_preview(request: HttpRequest) -> HttpResponse:
    """What a set of claims would give, rule by rule. A pure read: nothing is saved."""
    user = signed_in(request)
    require_section(user, VIEW, SsoRule)
    form = SsoPreviewForm(request.POST or None)
    outcome = None
    if request.method == "POST" and form.is_valid():
        outcome = services.sso_outcome(form.cleaned_data["provider"], form.cleaned_data["claims"])
    template = "access/_sso_preview.html" if request.htmx else "access/sso_preview.html"
    return render(request, template, {"preview_form": form, "outcome": outcome})


# --- access reviews -------------------------------------------------------------------------


@login_required
def review_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    require_section(user, VIEW, AccessReview)
    return render(
        request,
        "access/review_list.html",
        {
            "page": _page(request, selectors.review_list(user=user)),
            "can_add": policy.can(user, ADD, AccessReview),
            "can_review": policy.can(user, REVIEW, AccessReviewItem),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def review_open(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    require_section(user, ADD, AccessReview)
    form = ReviewOpenForm(request.POST or None)
    review = saved(request, form, lambda data: services.access_review_open(actor=user, **data))
    if review is not None:
        messages.success(request, f"Access review {review} opened.")
        return redirect("access:review", pk=review.pk)
    return render(
        request, "access/form.html", {"form": form, "title": "Open an access review", "back": "access:reviews"}
    )


@login_required
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    review = selectors.review_get(user=user, pk=pk)
    return render(
        request,
        "access/review_detail.html",
        {
            "review": review,
            "progress": selectors.review_progress(review=review, user=user),
            "items": selectors.review_item_list(review=review, user=user),
            "can_close": review.status == AccessReview.Status.OPEN and policy.can(user, CHANGE, review),
            "overdue": review.deadline <= timezone.now(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def review_close(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm, then close: pending items' grants are revoked as unreviewed and the outcome is frozen."""
    user = signed_in(request)
    review = selectors.review_get(user=user, pk=pk)
    policy.require(user, CHANGE, review)
    if request.method == "POST":
        services.access_review_close(actor=user, review_id=review.pk)
        messages.success(request, f"Access review {review} closed; its outcome is kept as evidence.")
        return redirect("access:review", pk=review.pk)
    return render(
        request,
        "access/confirm.html",
        {
            "title": f"Close {review}?",
            "question": "Close this review now? Every grant still pending is revoked as unreviewed, "
            "and the outcome is kept as evidence.",
            "button": "Close review",
            "error": "",
            "back": "access:reviews",
        },
    )


EVIDENCE_COLUMNS = [
    "item",
    "team",
    "grantee",
    "role",
    "scope",
    "source",
    "reason",
    "granted_at",
    "expires_at",
    "decision",
    "decided_by",
    "decided_at",
    "note",
]


@login_required
def review_evidence_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """The review's decisions as CSV: the frozen outcome once closed, the current state while open."""
    user = signed_in(request)
    review = selectors.review_get(user=user, pk=pk)
    if review.status == AccessReview.Status.CLOSED:
        rows: list[dict[str, Any]] = list(review.outcome.get("decisions", []))
    else:
        rows = [
            {
                "item": item.pk,
                **item.snapshot,
                "team": item.team.name if item.team else "platform",
                "decision": item.decision,
                "decided_by": item.decided_by.get_username() if item.decided_by else "",
                "decided_at": item.decided_at.isoformat() if item.decided_at else "",
                "note": item.note,
            }
            for item in selectors.review_item_list(review=review, user=user)
        ]
    stamp = (review.closed_at or timezone.now()).strftime("%Y%m%d")
    cells = ([row.get(column) for column in EVIDENCE_COLUMNS] for row in rows)
    return csv_file(csv_lines(EVIDENCE_COLUMNS, cells), filename=f"access-review-{review.pk}-{stamp}.csv")


@login_required
def my_reviews(request: HttpRequest) -> HttpResponse:
    """A reviewer's pending items, across open reviews: confirm or revoke each (htmx)."""
    user = signed_in(request)
    require_section(user, REVIEW, AccessReviewItem)
    items = selectors.review_items_to_decide(user=user)
    return render(request, "access/my_reviews.html", {"page": _page(request, items)})


@login_required
@require_POST
def review_item_decide(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    item = get_object_or_404(policy.restrict(AccessReviewItem.objects.all(), user, REVIEW), pk=pk)
    form = ReviewDecisionForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            item = services.access_review_decide(
                actor=user, item_id=item.pk, decision=form.cleaned_data["decision"], note=form.cleaned_data["note"]
            )
        except (ValidationError, PermissionDenied) as refused:
            error = " ".join(refused.messages) if isinstance(refused, ValidationError) else str(refused)
    else:
        error = "Choose confirm or revoke."
    item = (
        AccessReviewItem.objects.select_related("review", "team", "grant", "grant__role", "grant__user")
        .filter(pk=item.pk)
        .get()
    )
    if request.htmx:
        return render(
            request,
            "access/_review_item_row.html",
            {"item": item, "error": error, "note": request.POST.get("note", "")},
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(
            request, f"{item.get_decision_display()}: {item.snapshot.get('grantee')} as {item.snapshot.get('role')}."
        )
    return redirect("access:my_reviews")
