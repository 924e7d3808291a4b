"""Filters of the access pages."""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from access import policy
from access.models import Grant, Role, Team
from regions.choices import ResidencyZone


class TeamFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")

    class Meta:
        model = Team
        fields = ["q"]

    def search(self, queryset: QuerySet[Team], name: str, value: str) -> QuerySet[Team]:
        return queryset.filter(Q(name__icontains=value) | Q(slug__icontains=value))


class GrantFilterSet(django_filters.FilterSet):
    STATUS_CHOICES = [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    q = django_filters.CharFilter(method="search", label="Grantee")
    status = django_filters.ChoiceFilter(choices=STATUS_CHOICES, method="by_status", label="Status")
    zone = django_filters.ChoiceFilter(choices=ResidencyZone.choices, label="Zone")
    source = django_filters.ChoiceFilter(choices=Grant.Source.choices, label="Source")
    team = django_filters.ModelChoiceFilter(queryset=Team.objects.all(), label="Team limit")

    class Meta:
        model = Grant
        fields = ["q", "role", "team", "zone", "status", "source"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = getattr(self.request, "user", None) or AnonymousUser()
        # The choices offer only what the user may see.
        self.filters["role"].queryset = policy.restrict(Role.objects.all(), user, policy.VIEW)
        self.filters["team"].queryset = policy.restrict(Team.objects.all(), user, policy.VIEW)

    def search(self, queryset: QuerySet[Grant], name: str, value: str) -> QuerySet[Grant]:
        return queryset.filter(
            Q(user__username__icontains=value)
            | Q(user__first_name__icontains=value)
            | Q(user__last_name__icontains=value)
            | Q(grantee_team__name__icontains=value)
        )

    def by_status(self, queryset: QuerySet[Grant], name: str, value: str) -> QuerySet[Grant]:
        now = timezone.now()
        if value == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if value == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        return queryset.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), revoked_at__isnull=True)
