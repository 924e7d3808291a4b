"""The one authorisation entry point.

Every view, API viewset, htmx fragment, export and task asks :func:`can`
whether a user may perform an action, and scopes every list with
:func:`restrict`, so a list never shows what a detail page would refuse.
Objects outside a user's scope are reported as missing (404), not forbidden.
Writes re-check inside their transaction with :func:`get_for_update`.

The decision is RBAC + ABAC: a user holds the permissions of the roles
granted to them or to a team they are in (and of the roles every user
holds), each limited by the grant's attributes (team, region, residency zone,
environment tiers), which are matched against the attributes the object's
model declares with :func:`access.scoping.scoped`. Superusers (the
break-glass local administrator) may do everything. A request made with an
API token is further limited to the token's role on the token's team.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard, TypeVar

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import connection, models
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from access import permissions
from access.models import ApiToken, User
from access.permissions import (
    ADD,
    ADMIN_SITE,
    APPROVE,
    CHANGE,
    DELETE,
    EXPORT,
    PLATFORM_ADMIN,
    PLATFORM_PERMISSIONS,
    RESIDENCY,
    VIEW,
)
from access.scoping import Scope, scope_of

__all__ = [
    "ADD",
    "ADMIN_SITE",
    "APPROVE",
    "CHANGE",
    "DELETE",
    "EXPORT",
    "PLATFORM_ADMIN",
    "RESIDENCY",
    "VIEW",
    "can",
    "get_for_update",
    "require",
    "restrict",
]

ModelT = TypeVar("ModelT", bound=models.Model)
AnyUser = User | AnonymousUser

_CACHE_ATTRIBUTE = "_policy_rules"


@dataclass(frozen=True)
class Rule:
    """One grant as the policy evaluates it: the permissions it gives and its limits."""

    permissions: frozenset[str]
    team: int | None = None
    region: int | None = None
    zone: str = ""
    tiers: frozenset[str] = frozenset()
    grant_id: int | None = None
    # A grant's limit excludes objects that lack the attribute. An API token's team limit only
    # narrows what has a team: a team's CI token still reads the shared inventory its owner may.
    only_where_present: bool = False

    @property
    def unlimited(self) -> bool:
        return self.team is None and self.region is None and not self.zone and not self.tiers

    @property
    def covers_the_platform(self) -> bool:
        """Whether the rule reaches the platform as a whole, which has no team, region, zone or tier.

        So a grant limited to one team (region, zone, tiers) never makes its holder a platform admin; an API
        token's team limit, which only narrows what has a team, leaves its owner's standing as it is.
        """
        return self.unlimited or self.only_where_present

    def limits(self) -> dict[str, Any]:
        return {"team": self.team, "region": self.region, "zone": self.zone, "tier": self.tiers}

    def covers(self, scope: Scope, obj: models.Model) -> bool:
        for attribute, limit in self.limits().items():
            if not limit or (self.only_where_present and scope.lookup(attribute) is None):
                continue
            value = scope.value_of(obj, attribute)
            if value is None or (value not in limit if attribute == "tier" else value != limit):
                return False
        return True

    def condition(self, scope: Scope) -> Q | None:
        """The rule's limits as a filter on the scope's model; None when the model cannot match them."""
        condition = Q()
        for attribute, limit in self.limits().items():
            if not limit:
                continue
            lookup = scope.lookup(attribute)
            if lookup is None:
                if self.only_where_present:
                    continue
                return None
            condition &= Q(**{f"{lookup}__in": sorted(limit)}) if attribute == "tier" else Q(**{lookup: limit})
        return condition


def rules_for(user: User) -> list[Rule]:
    """The rules a user holds now, read once per request (cached on the user object)."""
    cached: list[Rule] | None = getattr(user, _CACHE_ATTRIBUTE, None)
    if cached is None:
        cached = _load_rules(user)
        setattr(user, _CACHE_ATTRIBUTE, cached)
    return cached


def forget(user: AnyUser) -> None:
    """Drop the cached rules, e.g. after a grant changed or inside a write's transaction."""
    if hasattr(user, _CACHE_ATTRIBUTE):
        delattr(user, _CACHE_ATTRIBUTE)


# A user's active grants (their own and their teams') and the roles everyone holds. Written out once rather than
# composed through the ORM on every request: composing the union cost more than PostgreSQL takes to answer it.
RULES_SQL = """
SELECT grant_.id, role.permissions, grant_.team_id, grant_.region_id, grant_.zone, grant_.tiers
FROM access_grant grant_ JOIN access_role role ON role.id = grant_.role_id
WHERE grant_.revoked_at IS NULL
  AND (grant_.expires_at IS NULL OR grant_.expires_at > %(now)s)
  AND (grant_.user_id = %(user)s
       OR grant_.grantee_team_id IN (SELECT team_id FROM access_membership WHERE user_id = %(user)s))
UNION ALL
SELECT NULL, permissions, NULL, NULL, '', '{}'::varchar[] FROM access_role WHERE everyone
"""


def _load_rules(user: User) -> list[Rule]:
    """The user's active grants and the roles everyone holds, in one query (:data:`RULES_SQL`)."""
    with connection.cursor() as cursor:
        cursor.execute(RULES_SQL, {"now": timezone.now(), "user": user.pk})
        found = cursor.fetchall()
    return [
        Rule(frozenset(permissions_), team=team, region=region, zone=zone, tiers=frozenset(tiers), grant_id=grant_id)
        for grant_id, permissions_, team, region, zone, tiers in found
    ]


def _token_rule(token: ApiToken) -> Rule:
    return Rule(frozenset(token.role.permissions), team=token.team_id, only_where_present=True)


def rule_sets(user: User) -> list[list[Rule]]:
    """The rule sets that must all allow an action: the user's, and the API token's when one is used."""
    sets = [rules_for(user)]
    token: ApiToken | None = getattr(user, "api_token", None)
    if token is not None:
        sets.append([_token_rule(token)])
    return sets


def _signed_in(user: AnyUser) -> TypeGuard[User]:
    return isinstance(user, User) and user.is_active


def _is_superuser(user: AnyUser) -> bool:
    # An API token never carries superuser power: it is limited to its role.
    return bool(user.is_superuser and getattr(user, "api_token", None) is None)


# Models that declare no scope (Django's and libraries' own, seen in the admin) belong to
# platform administration: only a role holding "admin.*" or "*" may touch them.
UNSCOPED = Scope("admin")


def _scope(obj: Any) -> Scope:
    return scope_of(obj) or UNSCOPED


def permission_for(obj: Any, action: str) -> str:
    if action in PLATFORM_PERMISSIONS:
        return PLATFORM_PERMISSIONS[action]
    return f"{_scope(obj).domain}.{action}"


def can(user: AnyUser, action: str, obj: Any = None) -> bool:
    """Whether ``user`` may perform ``action`` on ``obj``.

    ``obj`` is a model instance (saved, or unsaved to ask about creating it),
    a model class ("on some objects of this kind", for navigation and buttons)
    or None: pages about no object, such as the dashboard (viewing only), and
    the actions about the platform as a whole (:data:`ADMIN_SITE`, and
    :data:`PLATFORM_ADMIN`: whether the user counts as a platform admin).
    """
    if not _signed_in(user):
        return False
    if _is_superuser(user):
        return True
    if obj is None and action not in PLATFORM_PERMISSIONS:
        return action == VIEW
    permission = permission_for(obj, action)
    scope = _scope(obj)
    is_instance = isinstance(obj, models.Model)
    for rules in rule_sets(user):
        held = (rule for rule in rules if permissions.allows(rule.permissions, permission))
        if is_instance:
            if not any(rule.covers(scope, obj) for rule in held):
                return False
        elif action == PLATFORM_ADMIN:
            if not any(rule.covers_the_platform for rule in held):
                return False
        elif not any(True for _ in held):
            return False
    return True


def restrict(queryset: models.QuerySet[ModelT], user: AnyUser, action: str) -> models.QuerySet[ModelT]:
    """``queryset`` narrowed to the objects ``user`` may perform ``action`` on."""
    if not _signed_in(user):
        return queryset.none()
    if _is_superuser(user):
        return queryset
    scope = _scope(queryset.model)
    permission = permission_for(queryset.model, action)
    for rules in rule_sets(user):
        condition = _condition(rules, scope, permission)
        if condition is None:
            return queryset.none()
        if condition is not True:
            queryset = queryset.filter(condition)
    return queryset


def _condition(rules: list[Rule], scope: Scope, permission: str) -> Q | bool | None:
    """True: everything; None: nothing; else the filter matching what the rules cover."""
    conditions: list[Q] = []
    for rule in rules:
        if not permissions.allows(rule.permissions, permission):
            continue
        if rule.unlimited:
            return True
        condition = rule.condition(scope)
        if condition is not None:
            conditions.append(condition)
    if not conditions:
        return None
    combined = conditions[0]
    for condition in conditions[1:]:
        combined |= condition
    return combined


def get_for_update(queryset: models.QuerySet[ModelT], user: AnyUser, action: str, **lookup: Any) -> ModelT:
    """Inside a write's transaction: lock the object and re-check ``action`` on fresh grants.

    Raises Http404 when the object is missing or outside the user's scope, so
    a grant revoked a moment ago is honoured and nothing about the object leaks.
    """
    forget(user)
    try:
        return restrict(queryset, user, action).select_for_update(of=("self",)).get(**lookup)
    except ObjectDoesNotExist as missing:
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.") from missing


def require(user: AnyUser, action: str, obj: Any) -> None:
    """Refuse unless ``user`` may perform ``action`` on ``obj``.

    An object the user may see but not act on is a 403; one outside their
    scope is a 404, so its existence does not leak.
    """
    if can(user, action, obj):
        return
    if action != VIEW and can(user, VIEW, obj):
        raise PermissionDenied(f"You may not {action} this {_name(obj)}.")
    raise Http404("Not found.")


def _name(obj: Any) -> str:
    meta = getattr(obj, "_meta", None)
    return str(meta.verbose_name) if meta is not None else "object"
