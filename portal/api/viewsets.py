from __future__ import annotations

from typing import Any

from django.db import models
from rest_framework import viewsets

from access import policy


class ScopedReadOnlyViewSet(viewsets.ReadOnlyModelViewSet[Any]):
    """A read-only viewset whose queryset is always scoped by the policy."""

    def get_queryset(self) -> models.QuerySet[Any]:
        return policy.restrict(super().get_queryset(), self.request.user, policy.VIEW)
