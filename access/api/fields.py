"""Related fields of API writes whose choices are the objects the caller may see.

A write that names a related object (a request's team, a freeze's environment, a region request's cloud
account) finds it among what :func:`access.policy.restrict` lets the caller see, so an object outside
their scope answers exactly as one that does not exist: the same status, the same message, nothing
about it leaked. What they may then *do* with it (request for that team, give that role) is the
service's to decide. Without a request in the serializer's context nothing is visible.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn, TypeVar

from django.db.models import Model, QuerySet
from rest_framework import serializers

from access import policy

ModelT = TypeVar("ModelT", bound=Model)

# The value asked for is not repeated: an answer about an object outside the caller's scope is then the very
# same as one about an object that does not exist.
_BY_NUMBER: dict[str, Any] = {
    "does_not_exist": "There is no {what} with that number.",
    "incorrect_type": "Give the {what} by its number.",
}
_BY_NAME: dict[str, Any] = {
    "does_not_exist": "There is no {what} by that name.",
    "invalid": "Give the {what} by its name, as text.",
}


def visible_to_caller(context: Mapping[str, Any], queryset: QuerySet[ModelT] | None) -> QuerySet[ModelT]:
    """``queryset`` narrowed to what the request's user may see; nothing without a request."""
    if queryset is None:
        raise TypeError("a field that looks objects up among the visible ones is declared with queryset=")
    request = context.get("request")
    if request is None:
        return queryset.none()
    return policy.restrict(queryset, request.user, policy.VIEW)


def _what(queryset: QuerySet[Any] | None) -> str:
    """The related model's name in words, for the refusal ("team", "cloud account")."""
    return str(queryset.model._meta.verbose_name) if queryset is not None else "object"


class VisiblePrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField[Any]):
    """An object given by its id, among those the caller may see."""

    default_error_messages = _BY_NUMBER

    def get_queryset(self) -> QuerySet[Any]:
        return visible_to_caller(self.context, super().get_queryset())

    def fail(self, key: str, **kwargs: Any) -> NoReturn:
        super().fail(key, what=_what(super().get_queryset()))


class VisibleSlugRelatedField(serializers.SlugRelatedField[Any]):
    """An object given by a unique name (``slug_field``), among those the caller may see."""

    default_error_messages = _BY_NAME

    def get_queryset(self) -> QuerySet[Any]:
        return visible_to_caller(self.context, super().get_queryset())

    def fail(self, key: str, **kwargs: Any) -> NoReturn:
        super().fail(key, what=_what(super().get_queryset()))
