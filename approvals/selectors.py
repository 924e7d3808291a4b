"""Reads of approval requests: visible to whoever may see their subject, and to who asked."""

from __future__ import annotations

import operator
from functools import reduce

from django.contrib.contenttypes.models import ContentType
from django.db.models import CharField, Model, Prefetch, Q, QuerySet
from django.db.models.functions import Cast
from django.http import Http404

from access import policy
from access.models import Membership, User
from access.scoping import scope_of
from approvals.models import ApprovalDecision, ApprovalRequest, ApprovalStatus


def _with_details(requests: QuerySet[ApprovalRequest]) -> QuerySet[ApprovalRequest]:
    return requests.select_related("requested_by", "subject_type").prefetch_related(
        "subject", Prefetch("decisions", queryset=ApprovalDecision.objects.select_related("approver"))
    )


def can_decide(user: User, request: ApprovalRequest) -> bool:
    """Whether ``user`` may record a verdict on ``request`` now."""
    return (
        request.status == ApprovalStatus.PENDING
        and request.requested_by_id != user.pk
        and request.subject is not None
        and policy.can(user, policy.APPROVE, request.subject)
        and all(decision.approver_id != user.pk for decision in request.decisions.all())
    )


def waiting_for(user: User, limit: int = 200) -> list[ApprovalRequest]:
    """Pending requests ``user`` may decide, oldest first (the ones waiting longest on top)."""
    pending = _with_details(ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING).order_by("created_at", "pk"))
    return [request for request in pending[:1000] if can_decide(user, request)][:limit]


def requested_by(user: User, limit: int = 50, *, pending: bool = False) -> list[ApprovalRequest]:
    """``user``'s own requests (``pending``: those still waiting), newest first."""
    requests = ApprovalRequest.objects.filter(requested_by=user)
    if pending:
        requests = requests.filter(status=ApprovalStatus.PENDING)
    return list(_with_details(requests)[:limit])


def visible(user: User, pk: int) -> ApprovalRequest:
    """The request, if ``user`` asked for it or may see its subject; else 404."""
    request = _with_details(ApprovalRequest.objects.filter(pk=pk)).first()
    if request is None:
        raise Http404("No such approval request.")
    if request.requested_by_id != user.pk and not (
        request.subject is not None and policy.can(user, policy.VIEW, request.subject)
    ):
        raise Http404("No such approval request.")
    return request


def subject_kind(label: str) -> ContentType | None:
    """The kind of subject named ``app_label.model`` (as the API shows a request's subject), if requests have it."""
    app_label, _, model = label.strip().lower().partition(".")
    if not app_label or not model:
        return None
    kinds = ApprovalRequest.objects.order_by().values("subject_type_id")
    return ContentType.objects.filter(pk__in=kinds, app_label=app_label, model=model).first()


def about(user: User, kind: ContentType, subject_id: str, limit: int = 50) -> list[ApprovalRequest]:
    """The requests about one subject that ``user`` may see (as :func:`visible` decides), newest first."""
    requests = _with_details(
        ApprovalRequest.objects.filter(subject_type=kind, subject_id=subject_id).order_by("-created_at", "-pk")
    )
    return [
        request
        for request in requests[:limit]
        if request.requested_by_id == user.pk
        or (request.subject is not None and policy.can(user, policy.VIEW, request.subject))
    ]


def latest_for(subject: Model, purpose: str) -> ApprovalRequest | None:
    """The newest approval request about ``subject`` for ``purpose`` (with who asked and every decision), or None."""
    return (
        ApprovalRequest.objects.filter(
            subject_type=ContentType.objects.get_for_model(subject), subject_id=str(subject.pk), purpose=purpose
        )
        .select_related("requested_by")
        .prefetch_related(Prefetch("decisions", queryset=ApprovalDecision.objects.select_related("approver")))
        .order_by("-pk")
        .first()
    )


def for_my_teams(user: User, limit: int = 200) -> list[ApprovalRequest]:
    """Requests whose subject belongs to a team ``user`` is a member of (and may see), newest first.

    A subject's team is where its model's policy scope says (``@scoped(team=…)``), so this layer names no
    domain model; subjects of no team (a region, a region request) are no team's. One subquery per kind of
    subject that has requests.
    """
    teams = Membership.objects.filter(user=user).values("team_id")
    kinds = ApprovalRequest.objects.order_by().values_list("subject_type_id", flat=True).distinct()
    mine: list[Q] = []
    for kind in ContentType.objects.filter(pk__in=kinds):
        model = kind.model_class()
        scope = scope_of(model)
        if model is None or scope is None or scope.team is None:
            continue
        subjects = policy.restrict(model._default_manager.filter(**{f"{scope.team}__in": teams}), user, policy.VIEW)
        keys = subjects.annotate(subject_key=Cast("pk", output_field=CharField())).values("subject_key")
        mine.append(Q(subject_type=kind, subject_id__in=keys))
    if not mine:
        return []
    requests = ApprovalRequest.objects.filter(reduce(operator.or_, mine)).order_by("-created_at", "-pk")
    return list(_with_details(requests)[:limit])
