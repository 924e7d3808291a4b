"""The notifications API: one's own inbox, one notification, marking one or all read.

As the pages (notifications/views.py): everyone signed in has an inbox and reaches only their own notifications;
another person's is a 404, as a missing one is. Reading changes nothing; marking read is a POST, safe to repeat
(a notification already read stays as it was), and with an ``Idempotency-Key`` a repeat answers exactly what the
first did (portal/api/idempotency.py). Marking one's own notifications read is not a privileged action, so it
writes no audit event (as on the page).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from access.models import User
from notifications import selectors, services
from notifications.api.serializers import MarkedReadSerializer, NotificationSerializer
from notifications.models import Notification
from portal.api.idempotency import PARAMETER as IDEMPOTENCY_KEY
from portal.api.idempotency import idempotent
from portal.api.permissions import SignedIn

YES = ("true", "1", "yes")
NO = ("false", "0", "no", "")
KNOWN_PARAMETERS = frozenset({"unread", "page", "page_size", "format"})


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 (SignedIn lets only people through)
    return user


class NotificationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Notification]):
    """Your notifications, newest first."""

    queryset = Notification.objects.none()  # every read goes through notifications.selectors
    serializer_class = NotificationSerializer
    permission_classes = [SignedIn]

    def get_queryset(self) -> QuerySet[Notification]:
        return selectors.inbox(_user(self.request))

    @extend_schema(
        parameters=[OpenApiParameter("unread", bool, description="true: only the notifications you have not read yet.")]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        unknown = sorted(set(request.query_params) - KNOWN_PARAMETERS)
        if unknown:
            raise exceptions.ValidationError(
                {name: ["Not a filter of this list: give unread, page or page_size."] for name in unknown}
            )
        given = request.query_params.get("unread", "").strip().lower()
        if given not in YES + NO:
            raise exceptions.ValidationError({"unread": ["Give true or false."]})
        notifications = selectors.inbox(_user(request), unread_only=given in YES)
        page = self.paginate_queryset(notifications)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, *args: Any, pk: Any = None, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self._own(request, pk)).data)

    @extend_schema(request=None, responses=NotificationSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"])
    @idempotent
    def read(self, request: Request, pk: Any = None, **kwargs: Any) -> Response:
        """Mark this notification read (one already read keeps when it was read)."""
        notification = self._own(request, pk)
        services.mark_read(_user(request), notification.pk)
        notification.refresh_from_db()
        return Response(self.get_serializer(notification).data)

    @extend_schema(request=None, responses=MarkedReadSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=False, methods=["post"], url_path="read-all")
    @idempotent
    def read_all(self, request: Request, **kwargs: Any) -> Response:
        """Mark every notification of yours read."""
        user = _user(request)
        marked = services.mark_read(user)
        return Response(MarkedReadSerializer({"marked": marked, "unread": selectors.unread_count(user)}).data)

    def _own(self, request: Request, pk: Any) -> Notification:
        found = selectors.inbox(_user(request)).filter(pk=int(pk)).first() if str(pk).isdigit() else None
        if found is None:
            raise exceptions.NotFound("No such notification of yours.")
        return found
