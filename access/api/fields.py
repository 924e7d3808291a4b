"""Related fields of API writes whose choices are the objects the caller may see.

A write that names a related object (a request's team, a freeze's environment, a region request's cloud
account) finds it among what :func:`access.policy.restrict` lets the caller see, so an object outside
their scope answers exactly as one that does not exist: the same status, the same message, nothing
about it leaked. What they may then *do* with it (request for that team, give that role) is the
service's to decide. Without a request in the serializer's context nothing is visible.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from rest_framework import serializers

from access import policy

ModelT = TypeVar("ModelT", bound=Model)

# The value asked for is not repeated: an answer about an object outside the caller's scope is then the very
# same as one about an object that does not exist.
_BY_NUMBER = {
    "does_not_exist": "There is no {what} with that number.",
    "incorrect_type": "Give the {what} by its number.",
}
_BY_NAME = {
    "does_not_exist": "There is no {what} by that name.",
    "invalid": "Give the {what} by its name, as text.",
}


def visible_to_caller(context: dict[str, Any], queryset: QuerySet[ModelT]) -> QuerySet[ModelT]:
    """``queryset`` narrowed to what the request's user may see; nothing without a request."""
    request = context.get("request")
    if request is None:
        return queryset.none()
    return policy.restrict(queryset, request.user, policy.VIEW)


class _Visible:
    """Restricts a related field's queryset to the caller's scope and words its refusals."""

    def get_queryset(self) -> QuerySet[Any]:
        return visible_to_caller(self.context, super().get_queryset())  # type: ignore[misc]

    def fail(self, key: str, **kwargs: Any) -> None:
        model = self.queryset.model  # type: ignore[attr-defined]
        super().fail(key, what=model._meta.verbose_name)  # type: ignore[misc]


class VisiblePrimaryKeyRelatedField(_Visible, serializers.PrimaryKeyRelatedField[Any]):
    """An object given by its id, among those the caller may see."""

    default_error_messages = _BY_NUMBER


class VisibleSlugRelatedField(_Visible, serializers.SlugRelatedField[Any]):
    """An object given by a unique name (``slug_field``), among those the caller may see."""

    default_error_messages = _BY_NAME
