"""The one authorisation entry point.

Every view, API viewset, htmx fragment, export and task asks :func:`can`
whether a user may perform an action, and scopes every list with
:func:`restrict`, so a list never shows what a detail page would refuse.
Objects outside a user's scope are reported as missing (404), not forbidden.

The rules here are the foundation's: any active, signed-in person may read
the platform inventory; platform administrators may do everything else. The
access issue replaces the rules with roles and scoped grants behind the same
two functions, so callers do not change.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib.auth.models import AnonymousUser
from django.db import models

from access.models import Persona, User

VIEW = "view"
ADD = "add"
CHANGE = "change"
DELETE = "delete"
ADMIN_SITE = "admin_site"

# Apps whose objects every signed-in person may read.
READABLE_BY_EVERYONE = frozenset({"regions", "access"})

ModelT = TypeVar("ModelT", bound=models.Model)


def is_platform_admin(user: User | AnonymousUser) -> bool:
    return bool(user.is_active and (user.is_superuser or getattr(user, "persona", None) == Persona.PLATFORM_ADMIN))


def can(user: User | AnonymousUser, action: str, obj: Any = None) -> bool:
    """Whether ``user`` may perform ``action`` on ``obj`` (a model instance, a model class or None)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if is_platform_admin(user):
        return True
    if action != VIEW:
        return False
    # Pages that are not about one object (the dashboard) are open to every signed-in person.
    return obj is None or _app_label(obj) in READABLE_BY_EVERYONE


def restrict(queryset: models.QuerySet[ModelT], user: User | AnonymousUser, action: str) -> models.QuerySet[ModelT]:
    """``queryset`` narrowed to the objects ``user`` may perform ``action`` on."""
    if can(user, action, queryset.model):
        return queryset
    return queryset.none()


def _app_label(obj: Any) -> str:
    meta = getattr(obj, "_meta", None)
    return str(meta.app_label) if meta is not None else ""
