"""Filters of the audit log page and its CSV export."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import django_filters
from django import forms
from django.apps import apps
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from access import policy
from access.audit import services as audit
from access.audit.selectors import object_type_label
from access.models import AuditEvent, Team


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def verb_choices() -> list[tuple[str, str]]:
    """Every verb, named in words, alphabetically by its words."""
    return sorted(((verb, audit.verb_label(verb)) for verb in audit.verbs().values()), key=lambda choice: choice[1])


def object_type_choices() -> list[tuple[str, str]]:
    """Every model of the portal, as ``app_label.modelname`` (what events record), named in words with its app."""
    return sorted(
        (
            (
                model._meta.label_lower,
                f"{object_type_label(model._meta.label_lower)} ({model._meta.app_config.verbose_name})",
            )
            for model in apps.get_models()
        ),
        key=lambda choice: choice[1].lower(),
    )


def visible_teams(request: HttpRequest | None) -> QuerySet[Team]:
    user = getattr(request, "user", None)
    if user is None:
        return Team.objects.none()
    return policy.restrict(Team.objects.all(), user, policy.VIEW)


class AuditEventFilterSet(django_filters.FilterSet):  # type: ignore[misc]  # django-filter ships no types
    """Who, what, which object, which team, when, which request, and free text over object and actor."""

    q = django_filters.CharFilter(method="search", label="Search", max_length=200)
    actor = django_filters.CharFilter(method="by_actor", label="Actor", max_length=200)
    verb = django_filters.ChoiceFilter(choices=verb_choices, label="Action")
    object_type = django_filters.ChoiceFilter(choices=object_type_choices, label="Object type")
    object_id = django_filters.CharFilter(label="Object id", max_length=64)
    team = django_filters.ModelChoiceFilter(queryset=visible_teams, label="Team")
    # Two plain date fields (rather than one range widget) so each input has its own label.
    occurred_after = django_filters.DateFilter(
        method="since", label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    occurred_before = django_filters.DateFilter(
        method="until", label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    request_id = django_filters.CharFilter(label="Request id", max_length=64)

    class Meta:
        model = AuditEvent
        fields = [
            "q",
            "actor",
            "verb",
            "object_type",
            "object_id",
            "team",
            "occurred_after",
            "occurred_before",
            "request_id",
        ]

    def search(self, queryset: QuerySet[AuditEvent], name: str, value: str) -> QuerySet[AuditEvent]:
        return queryset.filter(
            Q(object_repr__icontains=value)
            | Q(object_id=value)
            | Q(actor_label__icontains=value)
            | Q(object_type__icontains=value)
        )

    def since(self, queryset: QuerySet[AuditEvent], name: str, value: date) -> QuerySet[AuditEvent]:
        """From the start of that day in the portal's time zone."""
        return queryset.filter(occurred_at__gte=_start_of(value))

    def until(self, queryset: QuerySet[AuditEvent], name: str, value: date) -> QuerySet[AuditEvent]:
        """To the end of that day in the portal's time zone."""
        return queryset.filter(occurred_at__lt=_start_of(value + timedelta(days=1)))

    def by_actor(self, queryset: QuerySet[AuditEvent], name: str, value: str) -> QuerySet[AuditEvent]:
        return queryset.filter(Q(actor_label__iexact=value) | Q(actor__username__iexact=value))

    def used(self) -> dict[str, Any]:
        """The filters in force, as the form cleaned them (kept in the export's audit event)."""
        if not self.is_bound or not self.is_valid():
            return {}
        used: dict[str, Any] = {}
        for name, value in self.form.cleaned_data.items():
            if value in (None, "", []):
                continue
            if isinstance(value, Team):
                value = {"id": value.pk, "slug": value.slug}
            used[name] = value
        return used
