"""The approvals API: what waits for one's decision, one's own requests, one's teams', a request, deciding and
withdrawing.

As the pages (approvals/views.py): a request is visible to whoever asked for it or may see its subject, any
other is a 404; deciding takes the policy's ``approve`` on the subject and nobody decides their own request;
a refusal is a structured 400 with the reason. Deciding and withdrawing are safe to repeat: the same verdict
again from the same approver, or withdrawing a request no longer waiting, answers the request as it stands;
with an ``Idempotency-Key`` a repeat answers exactly what the first did (portal/api/idempotency.py).
"""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from access.models import User
from approvals import selectors, services
from approvals.api.serializers import ApprovalSerializer, DecideSerializer
from approvals.models import ApprovalRequest
from portal.api.idempotency import PARAMETER as IDEMPOTENCY_KEY
from portal.api.idempotency import idempotent
from portal.api.permissions import SignedIn

SUBJECT_ID_LENGTH = 64
MAX_LABEL_LENGTH = 200
SCOPES = {
    "waiting": "waiting for a decision you may make (oldest first)",
    "mine": "asked for by you (newest first)",
    "team": "about something of a team you are a member of (newest first)",
}


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 (SignedIn lets only people through)
    return user


class ApprovalViewSet(viewsets.GenericViewSet[ApprovalRequest]):
    queryset = ApprovalRequest.objects.none()  # every read goes through approvals.selectors
    serializer_class = ApprovalSerializer
    permission_classes = [SignedIn]
    pagination_class = None  # the lists are bounded by the selectors (200 waiting or of one's teams, 50 of one's own)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "scope",
                str,
                enum=list(SCOPES),
                description="; ".join(f"{name}: {meaning}" for name, meaning in SCOPES.items())
                + " (default waiting; with a subject, every request about it you may see).",
            ),
            OpenApiParameter(
                "subject_type",
                str,
                description="Only requests about this kind of subject, as a request shows it (e.g. "
                "environments.environment); give subject_id with it.",
            ),
            OpenApiParameter("subject_id", str, description="Only requests about the subject with this id."),
        ]
    )
    def list(self, request: Request, **kwargs: Any) -> Response:
        params = request.query_params
        subject = self._subject(params.get("subject_type"), params.get("subject_id"))
        scope = params.get("scope", "") or ("" if subject else "waiting")
        if scope and scope not in SCOPES:
            raise exceptions.ValidationError({"scope": [f"Choose one of: {', '.join(SCOPES)}."]})
        user = _user(request)
        found: list[ApprovalRequest] = []
        if scope == "waiting":
            found = selectors.waiting_for(user)
        elif scope == "mine":
            found = selectors.requested_by(user)
        elif scope == "team":
            found = selectors.for_my_teams(user)
        if subject is not None:
            about = selectors.about(user, *subject)
            found = [item for item in found if item in about] if scope else about
        return Response(self.get_serializer(found, many=True).data)

    def _subject(self, kind_label: str | None, subject_id: str | None) -> tuple[ContentType, str] | None:
        """The subject the list is narrowed to, from ``subject_type`` and ``subject_id``; both or neither."""
        if not kind_label and not subject_id:
            return None
        if "\x00" in (kind_label or "") + (subject_id or ""):
            raise exceptions.ValidationError({"subject_id": ["Give the subject without control characters."]})
        errors: dict[str, list[str]] = {}
        if not kind_label:
            errors["subject_type"] = ["Give the kind of subject too, e.g. environments.environment."]
        if not subject_id:
            errors["subject_id"] = ["Give the id of the subject too."]
        elif len(subject_id) > SUBJECT_ID_LENGTH:
            errors["subject_id"] = [f"An id is at most {SUBJECT_ID_LENGTH} characters."]
        kind = selectors.subject_kind(kind_label[:MAX_LABEL_LENGTH]) if kind_label else None
        if kind_label and kind is None:
            errors["subject_type"] = [
                "No approval request is about that kind of subject; give it as a request shows it, "
                "e.g. environments.environment."
            ]
        if errors or kind is None or not subject_id:
            raise exceptions.ValidationError(errors)
        return kind, subject_id

    def retrieve(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self._visible(request, pk)).data)

    @extend_schema(request=DecideSerializer, responses=ApprovalSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"])
    @idempotent
    def decide(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Approve, or reject with a reason the requester reads."""
        user = _user(request)
        approval = self._visible(request, pk)
        given = DecideSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        approve = given.validated_data["verdict"] == "approve"
        verdict = "approve" if approve else "reject"
        if not any(d.approver_id == user.pk and d.verdict == verdict for d in approval.decisions.all()):
            services.decide(approval.pk, approver=user, approve=approve, reason=given.validated_data["reason"])
        return Response(self.get_serializer(self._visible(request, pk)).data)

    @extend_schema(request=None, responses=ApprovalSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"])
    @idempotent
    def withdraw(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Take back one's own request while it waits."""
        approval = self._visible(request, pk)
        services.withdraw(approval.pk, by=_user(request))
        return Response(self.get_serializer(self._visible(request, pk)).data)

    def _visible(self, request: Request, pk: Any) -> ApprovalRequest:
        if not str(pk).isdigit():
            raise exceptions.NotFound("No such approval request.")
        return selectors.visible(_user(request), int(pk))
