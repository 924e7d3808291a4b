"""Building budget and anomaly tests: people with their grants, and a month of cost loaded through the store."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django.test import Client
from rest_framework.test import APIClient

from access.models import Grant, Membership, Role, Team, User
from access.permissions import BuiltinRole
from costs.choices import SourceKind
from costs.focus import read_focus
from costs.models import CostSource
from costs.store import load_period
from tests.costs.focus_files import focus_csv, focus_row
from tests.factories import TeamFactory, make_user


def make_team(slug: str) -> Team:
    return Team.objects.get(pk=TeamFactory(slug=slug).pk)  # type: ignore[attr-defined]


def person(username: str, *, team: Team | None = None, role: str = BuiltinRole.DEVELOPER, lead: bool = False) -> User:
    """A user holding ``role`` limited to ``team`` (unlimited without one), a member (or lead) of it."""
    user = make_user(username=username)
    if team is not None:
        Membership.objects.create(team=team, user=user, role=Membership.Role.LEAD if lead else Membership.Role.MEMBER)
    Grant.objects.create(role=Role.objects.get(slug=role), user=user, team=team, reason="Test persona.")
    return user


def signed_in(user: User) -> Client:
    """A browser signed in as ``user``."""
    client = Client()
    client.force_login(user)
    return client


def api(user: User) -> APIClient:
    """An API client authenticated as ``user``."""
    client = APIClient()
    client.force_authenticate(user)
    return client


def days(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


class Ledger:
    """The cost rows of one source; adding rows reloads each month they touch (a load replaces its month)."""

    def __init__(self, name: str = "bill") -> None:
        self.source = CostSource.objects.create(name=name, kind=SourceKind.UPLOAD)
        self.rows: dict[date, list[dict[str, str]]] = defaultdict(list)

    def spend(
        self,
        on: list[date],
        cost: str | Decimal,
        *,
        team: Team | None = None,
        service: str = "",
        environment: int | None = None,
        currency: str = "USD",
        cloud_service: str = "Amazon Elastic Compute Cloud",
        region: str = "eu-west-1",
    ) -> Ledger:
        tags: dict[str, str] = {}
        if team is not None:
            tags["portal:team"] = team.slug
        if service:
            tags["portal:service"] = service
        if environment is not None:
            tags["portal:environment-id"] = str(environment)
        touched = set()
        for day in on:
            month = day.replace(day=1)
            self.rows[month].append(
                focus_row(
                    day.isoformat(),
                    str(cost),
                    BillingCurrency=currency,
                    ServiceName=cloud_service,
                    RegionId=region,
                    Tags=tags,
                )
            )
            touched.add(month)
        for month in sorted(touched):
            parsed = read_focus(focus_csv(self.rows[month]))
            assert parsed.ok, parsed.errors
            load_period(self.source, month, parsed.rows)
        return self
