from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models
from rest_framework import viewsets


class ScopedReadOnlyViewSet(viewsets.ReadOnlyModelViewSet[Any]):
    """A read-only viewset that lists what its selector returns for the user.

    Selectors scope every queryset through :func:`access.policy.restrict`, so
    the API shows exactly what the pages show. ``queryset`` stays declared for
    the router, the schema and the model-level permission check.
    """

    selector: Callable[..., models.QuerySet[Any]]

    def get_queryset(self) -> models.QuerySet[Any]:
        return type(self).selector(user=self.request.user)
