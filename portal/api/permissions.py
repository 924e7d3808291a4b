"""API permissions: each asks the one policy entry point.

Kept free of imports from ``rest_framework.views``: DRF loads this module
while defining ``APIView``.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, permissions
from rest_framework.request import Request

from access import policy

ACTION_BY_METHOD = {
    "GET": policy.VIEW,
    "HEAD": policy.VIEW,
    "OPTIONS": policy.VIEW,
    "POST": policy.ADD,
    "PUT": policy.CHANGE,
    "PATCH": policy.CHANGE,
    "DELETE": policy.DELETE,
}


def action_for(request: Request) -> str:
    return ACTION_BY_METHOD.get(request.method or "", policy.CHANGE)


class SignedIn(permissions.BasePermission):
    """Any active, signed-in person (for the schema and docs)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return policy.can(request.user, policy.VIEW)


class PolicyPermission(permissions.BasePermission):
    """Asks :func:`access.policy.can` about the view's model and about each object."""

    def has_permission(self, request: Request, view: Any) -> bool:
        model = getattr(getattr(view, "queryset", None), "model", None)
        return policy.can(request.user, action_for(request), model)

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if not policy.can(request.user, action_for(request), obj):
            # Out of scope reads as missing, so probing ids learns nothing.
            raise exceptions.NotFound()
        return True
