"""Reads of the access app, always scoped by the policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from access import permissions, policy
from access.models import AccessReview, AccessReviewItem, ApiToken, Grant, Membership, Role, SsoRule, Team, User
from access.scoping import scope_of

AnyUser = User | AnonymousUser

GRANT_RELATED = ["role", "user", "grantee_team", "team", "region", "granted_by", "revoked_by", "sso_rule"]


# --- the signed-in user's own access ---------------------------------------------


@dataclass(frozen=True)
class HeldGrant:
    """One grant the user holds, and how: directly, or through a team they are in."""

    grant: Grant
    through_team: Team | None


@dataclass(frozen=True)
class MyAccess:
    grants: list[HeldGrant]
    everyone_roles: list[Role]
    memberships: list[Membership]


def my_access(*, user: User) -> MyAccess:
    """What the user holds now, in words the overview page shows. Everyone may read their own access."""
    memberships = list(Membership.objects.filter(user=user).select_related("team"))
    team_ids = [membership.team_id for membership in memberships]
    grants = (
        Grant.objects.active()
        .filter(Q(user=user) | Q(grantee_team_id__in=team_ids))
        .select_related("role", "grantee_team", "team", "region")
        .order_by("role__name", "pk")
    )
    return MyAccess(
        grants=[HeldGrant(grant, grant.grantee_team) for grant in grants],
        everyone_roles=list(Role.objects.filter(everyone=True)),
        memberships=memberships,
    )


# --- teams -------------------------------------------------------------------------


def team_list(*, user: AnyUser) -> QuerySet[Team]:
    """Teams the user may see, with member counts in the same query."""
    return (
        policy.restrict(Team.objects.all(), user, policy.VIEW)
        .annotate(member_count=Count("memberships", distinct=True))
        .order_by("name", "pk")
    )


def team_get(*, user: AnyUser, pk: int) -> Team:
    return get_object_or_404(team_list(user=user), pk=pk)


def team_members(*, team: Team) -> QuerySet[Membership]:
    return team.memberships.select_related("user", "sso_rule").order_by("-role", "user__username")


def grant_list(*, user: AnyUser) -> QuerySet[Grant]:
    """Grants the user may see (``access.view``), newest first, with everything the list shows."""
    return policy.restrict(Grant.objects.all(), user, policy.VIEW).select_related(*GRANT_RELATED)


def grant_get(*, user: AnyUser, pk: int) -> Grant:
    return get_object_or_404(grant_list(user=user), pk=pk)


def grant_status(grant: Grant) -> str:
    if grant.revoked_at is not None:
        return "revoked"
    if grant.expires_at is not None and grant.expires_at <= timezone.now():
        return "expired"
    return "active"


def users_for_choice() -> QuerySet[User]:
    return User.objects.filter(is_active=True).order_by("username")


# --- roles and SSO rules ---------------------------------------------------------


def role_list(*, user: AnyUser) -> QuerySet[Role]:
    in_use = Grant.objects.filter(role=OuterRef("pk"))
    return (
        policy.restrict(Role.objects.all(), user, policy.VIEW)
        .annotate(
            active_grant_count=Count(
                "grants",
                filter=Q(grants__revoked_at__isnull=True)
                & (Q(grants__expires_at__isnull=True) | Q(grants__expires_at__gt=timezone.now())),
                distinct=True,
            ),
            used=Exists(in_use),
        )
        .order_by("-builtin", "name")
    )


def role_get(*, user: AnyUser, pk: int) -> Role:
    return get_object_or_404(role_list(user=user), pk=pk)


def permission_words(role: Role) -> list[tuple[str, str]]:
    """The role's permissions with what each lets people do."""
    words: list[tuple[str, str]] = []
    for permission in role.permissions:
        if permission == "*":
            words.append((permission, "Everything, in every domain"))
        elif permission.endswith(".*"):
            words.append((permission, f"Everything about {permission.split('.', 1)[0]}"))
        else:
            words.append((permission, permissions.PERMISSIONS.get(permission, "Unknown permission")))
    return words


def sso_rule_list(*, user: AnyUser) -> QuerySet[SsoRule]:
    return policy.restrict(SsoRule.objects.all(), user, policy.VIEW).select_related(
        "team", "role", "scope_team", "scope_region"
    )


def sso_rule_get(*, user: AnyUser, pk: int) -> SsoRule:
    return get_object_or_404(sso_rule_list(user=user), pk=pk)


# --- who can do what on an object ---------------------------------------------


@dataclass
class WhoCanPermission:
    """Who holds one permission on the object: grants that cover it, roles everyone holds, superusers."""

    permission: str
    description: str
    grants: list[Grant] = field(default_factory=list)
    everyone_roles: list[Role] = field(default_factory=list)

    @property
    def nobody(self) -> bool:
        return not self.grants and not self.everyone_roles


@dataclass
class WhoCan:
    obj: Any
    permissions: list[WhoCanPermission]
    superusers: list[User]

    def user_ids(self, permission: str) -> set[int]:
        """Every active user who holds ``permission`` on the object (team grants expanded to members)."""
        entry = next(entry for entry in self.permissions if entry.permission == permission)
        active = User.objects.filter(is_active=True)
        if entry.everyone_roles:
            return set(active.values_list("pk", flat=True))
        users = {user.pk for user in self.superusers}
        users |= {grant.user.pk for grant in entry.grants if grant.user is not None and grant.user.is_active}
        teams = {grant.grantee_team_id for grant in entry.grants if grant.grantee_team_id is not None}
        users |= set(active.filter(memberships__team_id__in=teams).values_list("pk", flat=True))
        return users


def _rule_of(grant: Grant) -> policy.Rule:
    return policy.Rule(
        frozenset(grant.role.permissions),
        team=grant.team_id,
        region=grant.region_id,
        zone=grant.zone,
        tiers=frozenset(grant.tiers),
        grant_id=grant.pk,
    )


def who_can(obj: Any, *, viewer: AnyUser | None = None) -> WhoCan:
    """Per permission of the object's domain: the active grants whose role and limits cover ``obj``.

    Decided with the policy's own rule matching (:class:`access.policy.Rule`),
    so it agrees with :func:`access.policy.can`. With ``viewer``, only the
    grants the viewer may see (``access.view``) are listed.
    """
    scope = scope_of(obj) or policy.UNSCOPED
    domain_permissions = [
        (name, description)
        for name, description in permissions.PERMISSIONS.items()
        if name.startswith(f"{scope.domain}.")
    ]
    names = [name for name, _ in domain_permissions]
    grants_query: QuerySet[Grant] = (
        Grant.objects.active()
        # Only roles that can hold a permission of this domain; the limits are matched below.
        .filter(role__permissions__overlap=[*names, f"{scope.domain}.*", "*"])
        .select_related("role", "user", "grantee_team", "team", "region")
    )
    if viewer is not None:
        grants_query = policy.restrict(grants_query, viewer, policy.VIEW)
    grants = list(grants_query.order_by("role__name", "pk"))
    covering = [(grant, _rule_of(grant)) for grant in grants]
    covering = [(grant, rule) for grant, rule in covering if rule.covers(scope, obj)]
    everyone = list(Role.objects.filter(everyone=True))
    entries = []
    for name, description in domain_permissions:
        entries.append(
            WhoCanPermission(
                permission=name,
                description=description,
                grants=[grant for grant, rule in covering if permissions.allows(rule.permissions, name)],
                everyone_roles=[role for role in everyone if permissions.allows(role.permission_set, name)],
            )
        )
    superusers = list(User.objects.filter(is_superuser=True, is_active=True))
    return WhoCan(obj=obj, permissions=entries, superusers=superusers)


# --- access reviews ------------------------------------------------------------------


def review_list(*, user: AnyUser) -> QuerySet[AccessReview]:
    return (
        policy.restrict(AccessReview.objects.all(), user, policy.VIEW)
        .select_related("opened_by")
        .annotate(
            item_count=Count("items", distinct=True),
            pending_count=Count("items", filter=Q(items__decision=AccessReviewItem.Decision.PENDING), distinct=True),
        )
        .order_by("-opened_at", "-pk")
    )


def review_get(*, user: AnyUser, pk: int) -> AccessReview:
    return get_object_or_404(review_list(user=user), pk=pk)


@dataclass(frozen=True)
class TeamProgress:
    team: str
    total: int
    pending: int
    confirmed: int
    revoked: int
    expired: int

    @property
    def done_percent(self) -> int:
        return round(100 * (self.total - self.pending) / self.total) if self.total else 100


def review_progress(*, review: AccessReview, user: AnyUser) -> list[TeamProgress]:
    """Per team (the platform bucket included): how many items are decided, in one query."""
    decision = AccessReviewItem.Decision
    rows = (
        policy.restrict(review.items.all(), user, policy.VIEW)
        .values("team__name")
        .annotate(
            total=Count("pk"),
            pending=Count("pk", filter=Q(decision=decision.PENDING)),
            confirmed=Count("pk", filter=Q(decision=decision.CONFIRMED)),
            revoked=Count("pk", filter=Q(decision=decision.REVOKED)),
            expired=Count("pk", filter=Q(decision=decision.EXPIRED)),
        )
        .order_by("team__name")
    )
    return [
        TeamProgress(
            team=row["team__name"] or "Platform (grants on no team)",
            total=row["total"],
            pending=row["pending"],
            confirmed=row["confirmed"],
            revoked=row["revoked"],
            expired=row["expired"],
        )
        for row in rows
    ]


def review_items_to_decide(*, user: AnyUser) -> QuerySet[AccessReviewItem]:
    """Pending items of open reviews the user may decide, except items about the user's own grants."""
    items = policy.restrict(AccessReviewItem.objects.all(), user, permissions.REVIEW)
    if isinstance(user, User):
        items = items.exclude(grant__user=user)
    return (
        items.filter(decision=AccessReviewItem.Decision.PENDING, review__status=AccessReview.Status.OPEN)
        .select_related("review", "team", "grant", "grant__role", "grant__user", "grant__grantee_team")
        .order_by("review__deadline", "team__name", "pk")
    )


def review_item_list(*, review: AccessReview, user: AnyUser) -> QuerySet[AccessReviewItem]:
    return (
        policy.restrict(review.items.all(), user, policy.VIEW)
        .select_related("team", "decided_by")
        .order_by("team__name", "pk")
    )


# --- who is signed in, for API clients ----------------------------------------


@dataclass(frozen=True)
class TeamPlace:
    """A team someone works in: their place in it, and the roles a token of theirs may carry there."""

    team: Team
    membership: str
    token_roles: list[str]


@dataclass(frozen=True)
class Me:
    """Who is signed in, as a script needs to know: their teams and what a token of theirs may be."""

    user: User
    platform_admin: bool
    teams: list[TeamPlace]
    token: ApiToken | None


def me(*, user: User) -> Me:
    """``user`` and their teams (memberships), each with the roles a token may carry there (the roles whose every
    permission they hold on that team: what :func:`access.tokens.services.api_token_create` accepts)."""
    policy.forget(user)
    rules = policy.rules_for(user)
    roles = list(Role.objects.order_by("name"))
    memberships = Membership.objects.filter(user=user).select_related("team").order_by("team__name")
    teams = []
    for membership in memberships:
        on_team = [rule.permissions for rule in rules if rule.team in (None, membership.team_id)]
        offered = [
            role.slug
            for role in roles
            if user.is_superuser
            or all(any(permissions.allows(held, permission) for held in on_team) for permission in role.permissions)
        ]
        teams.append(TeamPlace(membership.team, membership.role, offered))
    token: ApiToken | None = getattr(user, "api_token", None)
    return Me(user=user, platform_admin=policy.can(user, policy.PLATFORM_ADMIN), teams=teams, token=token)
