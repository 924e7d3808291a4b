"""The portal's search: services, environments, deployments, clusters, regions, teams and people, by name.

Every kind starts from the queryset its own list page shows, scoped by the
policy (:func:`access.policy.restrict` with ``view``), so a person never finds
what that list would not show them.

Names match with PostgreSQL trigrams (pg_trgm): a row matches when one of its
name columns contains the text, case-insensitively, or has a word like it
(``%>``: "stud" finds "Student portal") or is like it as a whole (``%``:
"chekout" finds "Checkout"); the GIN trigram indexes on those columns serve
all three. Rows rank an exact name first, then a name that starts with the
text, then one that contains it, then by trigram similarity. Deployments are
found by version instead, a prefix match ("4.6" finds 4.6.0, 4.6.1 and
v4.6.0, not 14.6), the exact version first, then the newest.

Each kind is one query, whatever the number of matches: its first
:data:`PER_KIND` rows and, through a window, how many match in all.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.contrib.auth.models import AnonymousUser
from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.lookups import TrigramSimilar, TrigramWordSimilar
from django.contrib.postgres.search import TrigramSimilarity, TrigramWordSimilarity
from django.db import connection
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Lookup,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.expressions import Combinable
from django.db.models.functions import Greatest
from django.db.models.lookups import IContains, IExact, IStartsWith
from django.urls import reverse

from access import policy
from access import selectors as access_selectors
from access.models import Membership, Team, User, full_name
from deployments import selectors as deployment_selectors
from deployments.models import Deployment, Service
from environments import selectors as environment_selectors
from regions.models import Cluster, Region

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler, _AsSqlType

AnyUser = User | AnonymousUser

PER_KIND = 10


@dataclass(frozen=True)
class Hit:
    """One object found: its name, its page and a line that tells it apart (``when`` for deployments)."""

    title: str
    url: str
    detail: str
    when: datetime | None = None


@dataclass(frozen=True)
class Group:
    """The objects of one kind found, best first; ``total`` counts them all, ``more_url`` lists them when a list can."""

    kind: str
    label: str
    noun: str
    hits: list[Hit]
    total: int
    more_url: str = ""

    @property
    def more(self) -> int:
        return self.total - len(self.hits)


@dataclass(frozen=True)
class Results:
    text: str
    groups: list[Group]

    @property
    def total(self) -> int:
        return sum(group.total for group in self.groups)


class ILike(Lookup):
    """``column ILIKE pattern``, which a trigram GIN index on the column serves.

    Django's ``icontains`` compares ``UPPER(column)``, which such an index cannot serve.
    """

    lookup_name = "ilike"
    prepare_rhs = False

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> _AsSqlType:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", (*lhs_params, *rhs_params)


def _like_escaped(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern: its ``%``, ``_`` and ``\\`` match themselves."""
    return str(connection.ops.prep_for_like_query(text))


def _any(conditions: Sequence[Q]) -> Q:
    return reduce(operator.or_, conditions)


def _found(queryset: QuerySet[Any], text: str, columns: Sequence[str], *, then: Sequence[str]) -> tuple[list[Any], int]:
    """The first rows of ``queryset`` whose ``columns`` match ``text``, best first (ties by ``then``), and their count.

    ``columns`` are field names or aliases already on the queryset (a person's full name).
    """
    pattern = Value(f"%{_like_escaped(text)}%")
    matches = _any(
        [
            Q(ILike(F(column), pattern)) | Q(TrigramWordSimilar(F(column), text)) | Q(TrigramSimilar(F(column), text))
            for column in columns
        ]
    )
    rank = Case(
        When(_any([Q(IExact(F(column), text)) for column in columns]), then=Value(3)),
        When(_any([Q(IStartsWith(F(column), text)) for column in columns]), then=Value(2)),
        When(_any([Q(IContains(F(column), text)) for column in columns]), then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )
    similarities: list[Combinable] = [
        *(TrigramWordSimilarity(text, column) for column in columns),
        *(TrigramSimilarity(column, text) for column in columns),
    ]
    rows = list(
        queryset.filter(matches)
        .annotate(search_rank=rank, search_similarity=Greatest(*similarities), search_total=Window(Count("*")))
        .order_by("-search_rank", "-search_similarity", *then)[:PER_KIND]
    )
    return rows, rows[0].search_total if rows else 0


def _versions(queryset: QuerySet[Deployment], text: str) -> tuple[list[Any], int]:
    """Deployments whose version starts with ``text`` (or with ``v`` and ``text``): the exact version, then newest."""
    escaped = _like_escaped(text)
    matches = Q(ILike(F("version"), Value(f"{escaped}%"))) | Q(ILike(F("version"), Value(f"v{escaped}%")))
    exact = Q(version__iexact=text) | Q(version__iexact=f"v{text}")
    rows = list(
        queryset.filter(matches)
        .annotate(
            search_rank=Case(When(exact, then=Value(1)), default=Value(0), output_field=IntegerField()),
            search_total=Window(Count("*")),
        )
        .order_by("-search_rank", "-started_at", "-pk")[:PER_KIND]
    )
    return rows, rows[0].search_total if rows else 0


def _more(url_name: str, text: str) -> str:
    """A list page filtered by the same text (its own filter: a plain "contains", so it may list fewer)."""
    return f"{reverse(url_name)}?{urlencode({'q': text})}"


def _line(*parts: str) -> str:
    return " · ".join(part for part in parts if part)


# --- the kinds ---------------------------------------------------------------------------------------------


def _services(user: AnyUser, text: str) -> Group:
    rows, total = _found(deployment_selectors.service_list(user=user), text, ["name", "slug"], then=["name", "pk"])
    hits = [_service_hit(service) for service in rows]
    return Group("services", "Services", "services", hits, total, _more("deployments:services", text))


def _service_hit(service: Service) -> Hit:
    return Hit(
        service.name, reverse("deployments:service", args=[service.slug]), _line(service.team.name, service.slug)
    )


def _environments(user: AnyUser, text: str) -> Group:
    rows, total = _found(environment_selectors.environment_list(user=user), text, ["name"], then=["-created_at", "-pk"])
    hits = [
        Hit(
            environment.name,
            reverse("environments:detail", args=[environment.pk]),
            _line(environment.team.name, environment.cluster.name, environment.get_status_display()),
        )
        for environment in rows
    ]
    return Group("environments", "Environments", "environments", hits, total, _more("environments:list", text))


def _deployments(user: AnyUser, text: str) -> Group:
    rows, total = _versions(deployment_selectors.deployment_list(user=user), text)
    return Group("deployments", "Deployments", "deployments", [_deployment_hit(row) for row in rows], total)


def _deployment_hit(deployment: Deployment) -> Hit:
    what = deployment.service.name if deployment.service else (deployment.workload.name if deployment.workload else "")
    cluster = deployment.cluster.name if deployment.cluster else ""
    if deployment.environment is not None:
        where = f"{deployment.environment.name} on {cluster}" if cluster else deployment.environment.name
    else:
        where = "/".join(part for part in (cluster, deployment.namespace) if part)
    return Hit(
        f"{what} {deployment.version}" if what else deployment.version,
        reverse("deployments:detail", args=[deployment.pk]),
        _line(where, deployment.get_status_display()),
        when=deployment.started_at,
    )


def _clusters(user: AnyUser, text: str) -> Group:
    clusters = policy.restrict(Cluster.objects.all(), user, policy.VIEW).select_related("region")
    rows, total = _found(clusters, text, ["name"], then=["name", "pk"])
    hits = [
        Hit(
            cluster.name,
            reverse("regions:cluster", args=[cluster.region.provider, cluster.region.code, cluster.name]),
            _line(cluster.get_kind_display(), str(cluster.region), cluster.get_status_display()),
        )
        for cluster in rows
    ]
    return Group("clusters", "Clusters", "clusters", hits, total)


def _regions(user: AnyUser, text: str) -> Group:
    regions = policy.restrict(Region.objects.all(), user, policy.VIEW)
    rows, total = _found(regions, text, ["code", "display_name"], then=["code", "pk"])
    hits = [
        Hit(
            str(region),
            reverse("regions:detail", args=[region.provider, region.code]),
            _line(region.get_provider_display(), f"{region.residency_zone} zone", region.get_status_display()),
        )
        for region in rows
    ]
    return Group("regions", "Regions", "regions", hits, total, _more("regions:list", text))


def _teams(user: AnyUser, text: str) -> Group:
    rows, total = _found(access_selectors.team_list(user=user), text, ["name", "slug"], then=["name", "pk"])
    hits = [
        Hit(
            team.name,
            reverse("access:team", args=[team.pk]),
            _line(
                team.slug,
                f"{team.member_count} member{'' if team.member_count == 1 else 's'}",
                f"data stays in the {team.residency_zone} zone" if team.residency_zone else "",
            ),
        )
        for team in rows
    ]
    return Group("teams", "Teams", "teams", hits, total, _more("access:teams", text))


def _people(user: AnyUser, text: str) -> Group:
    # The teams a person is in, among those the searcher may see, named on the line and the first one linked.
    memberships = Membership.objects.filter(
        user=OuterRef("pk"), team__in=policy.restrict(Team.objects.all(), user, policy.VIEW)
    ).order_by("team__name", "team_id")
    people = (
        policy.restrict(User.objects.filter(is_active=True), user, policy.VIEW)
        .alias(full_name=full_name())
        .annotate(
            team_names=ArraySubquery(memberships.values("team__name")),
            home_team=Subquery(memberships.values("team_id")[:1]),
        )
    )
    rows, total = _found(people, text, ["username", "full_name"], then=["username", "pk"])
    hits = [
        Hit(
            person.display_name,
            f"{reverse('access:team', args=[person.home_team])}#member-{person.username}" if person.home_team else "",
            _line(person.username, ", ".join(person.team_names) or "in no team"),
        )
        for person in rows
    ]
    return Group("people", "People", "people", hits, total)


KINDS: list[Callable[[AnyUser, str], Group]] = [
    _services,
    _environments,
    _deployments,
    _clusters,
    _regions,
    _teams,
    _people,
]


def search(*, user: AnyUser, text: str) -> Results:
    """Every kind's matches for ``text`` (a :func:`search.query.read_query` text), in the order of :data:`KINDS`."""
    return Results(text, [find(user, text) for find in KINDS])
