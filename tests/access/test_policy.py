"""The one policy entry point: RBAC (roles), ABAC (limits), grants' lifetime, and its four functions agreeing."""

from __future__ import annotations

from datetime import timedelta
from itertools import product
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.http import Http404
from django.utils import timezone

from access import permissions, policy, services
from access.models import ApiToken, Grant, Role, Team, User
from access.permissions import BUILTIN_ROLES, BuiltinRole
from access.policy import Rule
from access.scoping import Scope
from regions.choices import ClusterStatus, ResidencyZone
from regions.models import CentreServer, Cluster, Namespace, NodePool, Region
from tests.factories import (
    CentreServerFactory,
    ClusterFactory,
    GrantFactory,
    MembershipFactory,
    NamespaceFactory,
    NodePoolFactory,
    RegionFactory,
    RoleFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ACTIONS = [policy.VIEW, policy.ADD, policy.CHANGE, policy.DELETE, policy.EXPORT, "approve", "review", "rollback"]


class Domain:
    """Stands for "some model of this domain" (environments, costs… have no model yet)."""

    def __init__(self, domain: str) -> None:
        self.policy_scope = Scope(domain)


def role(slug: str) -> Role:
    return Role.objects.get(slug=slug)


def user_with(*grants: dict[str, Any]) -> User:
    """A fresh user holding exactly these grants (each a dict of Grant fields, ``role`` included)."""
    user: User = UserFactory.create()
    for fields in grants:
        GrantFactory.create(user=user, **fields)
    return user


@pytest.fixture
def nobody_is_a_viewer_by_default() -> None:
    """Make the built-in viewer role an ordinary one, so a test's grants are all a user holds."""
    Role.objects.filter(everyone=True).update(everyone=False)


@pytest.fixture
def inventory() -> dict[str, Any]:
    """Two teams; an EU and a US region, each with a cluster, node pool, centre server and a namespace per team."""
    team_a, team_b = TeamFactory.create(slug="team-a"), TeamFactory.create(slug="team-b")
    world: dict[str, Any] = {"team_a": team_a, "team_b": team_b}
    for zone, code in (("eu", "eu-west-1"), ("us", "us-east-1")):
        region = RegionFactory.create(code=code)
        cluster = ClusterFactory.create(region=region, name=f"cluster-{zone}")
        world[f"region_{zone}"] = region
        world[f"cluster_{zone}"] = cluster
        world[f"pool_{zone}"] = NodePoolFactory.create(cluster=cluster)
        world[f"centre_{zone}"] = CentreServerFactory.create(region=region, cluster=cluster)
        world[f"namespace_{zone}_a"] = NamespaceFactory.create(cluster=cluster, team=team_a)
        world[f"namespace_{zone}_b"] = NamespaceFactory.create(cluster=cluster, team=team_b)
    return world


# --- RBAC: what each role gives ----------------------------------------------------


@pytest.mark.parametrize("definition", BUILTIN_ROLES, ids=lambda definition: definition.slug)
def test_each_builtin_role_gives_exactly_its_permissions(
    definition: permissions.RoleDefinition, nobody_is_a_viewer_by_default: None
) -> None:
    user = user_with({"role": role(definition.slug)})

    for permission in permissions.PERMISSIONS:
        domain, action = permission.split(".", 1)
        expected = "*" in definition.permissions or permission in definition.permissions
        assert policy.can(user, action, Domain(domain)) is expected, permission


def test_the_builtin_roles_match_who_uses_the_portal() -> None:
    """DESIGN.md: developers do not approve, managers export costs, auditors read the audit log and change nothing."""
    by_slug = {definition.slug: set(definition.permissions) for definition in BUILTIN_ROLES}

    assert "environments.approve" not in by_slug[BuiltinRole.DEVELOPER]
    assert "environments.approve" in by_slug[BuiltinRole.TEAM_LEAD]
    assert "costs.export" in by_slug[BuiltinRole.MANAGER]
    assert {"audit.view", "audit.export", "access.view"} <= by_slug[BuiltinRole.AUDITOR]
    assert not {p for p in by_slug[BuiltinRole.AUDITOR] if p.split(".")[1] in {"add", "change", "delete"}}
    assert by_slug[BuiltinRole.PLATFORM_ADMIN] == {"*"}


def test_every_active_user_is_a_viewer_without_any_grant(inventory: dict[str, Any]) -> None:
    user = UserFactory.create()

    assert policy.can(user, policy.VIEW, inventory["region_us"])
    assert policy.can(user, policy.VIEW, inventory["team_b"])
    assert not policy.can(user, policy.CHANGE, inventory["region_us"])
    assert not policy.can(user, policy.VIEW, Domain("costs"))
    assert not policy.can(user, policy.VIEW, Domain("audit"))
    assert policy.restrict(Region.objects.all(), user, policy.VIEW).count() == 2


def test_a_domain_wildcard_gives_every_action_of_that_domain_only() -> None:
    user = user_with({"role": RoleFactory.create(permissions=["costs.*"])})

    assert policy.can(user, policy.EXPORT, Domain("costs"))
    assert policy.can(user, policy.CHANGE, Domain("costs"))
    assert not policy.can(user, policy.CHANGE, Domain("environments"))


# --- ABAC: limits ------------------------------------------------------------------


def test_a_grant_limited_to_a_team_covers_that_teams_objects_only(inventory: dict[str, Any]) -> None:
    user = user_with({"role": RoleFactory.create(permissions=["inventory.change"]), "team": inventory["team_a"]})

    assert policy.can(user, policy.CHANGE, inventory["namespace_eu_a"])
    assert not policy.can(user, policy.CHANGE, inventory["namespace_eu_b"])
    # A region belongs to no team: a team-limited grant says nothing about it.
    assert not policy.can(user, policy.CHANGE, inventory["region_eu"])


def test_a_grant_limited_to_a_region_covers_what_is_in_that_region(inventory: dict[str, Any]) -> None:
    user = user_with({"role": RoleFactory.create(permissions=["inventory.change"]), "region": inventory["region_eu"]})

    for name in ("region_eu", "cluster_eu", "pool_eu", "centre_eu", "namespace_eu_a", "namespace_eu_b"):
        assert policy.can(user, policy.CHANGE, inventory[name]), name
    for name in ("region_us", "cluster_us", "pool_us", "centre_us", "namespace_us_a"):
        assert not policy.can(user, policy.CHANGE, inventory[name]), name
    assert not policy.can(user, policy.CHANGE, inventory["team_a"])


def test_a_grant_limited_to_a_zone_covers_that_residency_zone(inventory: dict[str, Any]) -> None:
    user = user_with({"role": RoleFactory.create(permissions=["inventory.change"]), "zone": ResidencyZone.US})

    assert policy.can(user, policy.CHANGE, inventory["cluster_us"])
    assert not policy.can(user, policy.CHANGE, inventory["cluster_eu"])


def test_limits_are_anded(inventory: dict[str, Any]) -> None:
    user = user_with(
        {
            "role": RoleFactory.create(permissions=["inventory.change"]),
            "team": inventory["team_a"],
            "zone": ResidencyZone.EU,
        }
    )

    assert policy.can(user, policy.CHANGE, inventory["namespace_eu_a"])
    assert not policy.can(user, policy.CHANGE, inventory["namespace_us_a"])
    assert not policy.can(user, policy.CHANGE, inventory["namespace_eu_b"])


def test_a_tier_limit_covers_objects_of_those_tiers_and_nothing_without_a_tier(inventory: dict[str, Any]) -> None:
    # No model has a tier yet, so a scope maps the tier attribute to a cluster's status for this test.
    tiered = Scope("inventory", tier="status")
    ready, degraded = inventory["cluster_eu"], inventory["cluster_us"]
    Cluster.objects.filter(pk=degraded.pk).update(status=ClusterStatus.DEGRADED)
    degraded.refresh_from_db()
    rule = Rule(frozenset({"inventory.change"}), tiers=frozenset({ClusterStatus.READY}))

    assert rule.covers(tiered, ready)
    assert not rule.covers(tiered, degraded)
    condition = rule.condition(tiered)
    assert condition is not None
    assert list(Cluster.objects.filter(condition)) == [ready]
    # The same rule on a model that declares no tier covers nothing.
    assert not rule.covers(Cluster.policy_scope, ready)  # type: ignore[attr-defined]
    assert rule.condition(Cluster.policy_scope) is None  # type: ignore[attr-defined]


def test_an_unsaved_object_is_judged_by_its_attributes(inventory: dict[str, Any]) -> None:
    user = user_with({"role": RoleFactory.create(permissions=["inventory.add"]), "region": inventory["region_eu"]})

    assert policy.can(user, policy.ADD, Cluster(region=inventory["region_eu"], name="new"))
    assert not policy.can(user, policy.ADD, Cluster(region=inventory["region_us"], name="new"))


# --- grants' holders and lifetime ------------------------------------------------------


def test_a_grant_to_a_team_applies_to_its_members_and_stops_when_one_leaves(inventory: dict[str, Any]) -> None:
    team = inventory["team_a"]
    member = UserFactory.create()
    MembershipFactory.create(team=team, user=member)
    outsider = UserFactory.create()
    GrantFactory.create(user=None, grantee_team=team, role=RoleFactory.create(permissions=["inventory.change"]))

    assert policy.can(member, policy.CHANGE, inventory["cluster_us"])
    assert not policy.can(outsider, policy.CHANGE, inventory["cluster_us"])

    services.membership_remove(actor=None, team=team, user=member)

    assert not policy.can(member, policy.CHANGE, inventory["cluster_us"])


@pytest.mark.parametrize(
    "ended",
    [
        {"expires_at": timezone.now() - timedelta(seconds=1)},
        {"revoked_at": timezone.now() - timedelta(seconds=1)},
    ],
    ids=["expired", "revoked"],
)
def test_an_ended_grant_gives_nothing(ended: dict[str, Any], inventory: dict[str, Any]) -> None:
    user = user_with({"role": RoleFactory.create(permissions=["inventory.change"]), **ended})

    assert not policy.can(user, policy.CHANGE, inventory["cluster_eu"])
    assert not policy.restrict(Cluster.objects.all(), user, policy.CHANGE).exists()


def test_a_grant_that_expires_later_gives_access_until_then(inventory: dict[str, Any]) -> None:
    user = user_with(
        {
            "role": RoleFactory.create(permissions=["inventory.change"]),
            "expires_at": timezone.now() + timedelta(hours=1),
        }
    )

    assert policy.can(user, policy.CHANGE, inventory["cluster_eu"])


# --- can and restrict agree -------------------------------------------------------------

LIMITS: dict[str, Any] = {
    "unlimited": lambda world: {},
    "team a": lambda world: {"team": world["team_a"]},
    "team b": lambda world: {"team": world["team_b"]},
    "eu region": lambda world: {"region": world["region_eu"]},
    "us zone": lambda world: {"zone": ResidencyZone.US},
    "au zone": lambda world: {"zone": ResidencyZone.AU},
    "team a in eu": lambda world: {"team": world["team_a"], "zone": ResidencyZone.EU},
    "team b in us region": lambda world: {"team": world["team_b"], "region": world["region_us"]},
    "tiers": lambda world: {"tiers": ["production"]},
}
PAIRS: list[tuple[str, str | None]] = [(first, None) for first in LIMITS] + [
    (first, second) for first, second in product(LIMITS, LIMITS) if first < second
]
GUARDED: list[type[models.Model]] = [Region, Cluster, NodePool, CentreServer, Namespace, Team]


@pytest.mark.parametrize(
    ("first", "second"),
    PAIRS,
)
def test_can_on_each_object_agrees_with_restrict_on_its_queryset(
    first: str, second: str | None, inventory: dict[str, Any]
) -> None:
    custom = RoleFactory.create(permissions=["inventory.change", "teams.change"])
    grants = [{"role": custom, **LIMITS[first](inventory)}]
    if second is not None:
        grants.append({"role": custom, **LIMITS[second](inventory)})
    user = user_with(*grants)

    for model in GUARDED:
        allowed = set(policy.restrict(model._default_manager.all(), user, policy.CHANGE).values_list("pk", flat=True))
        for obj in model._default_manager.all():
            assert policy.can(user, policy.CHANGE, obj) is (obj.pk in allowed), f"{model.__name__} {obj}"
        # On the model class: whether the user holds the permission at all (see the next test).
        permission = policy.permission_for(model, policy.CHANGE)
        held = any(permissions.allows(rule.permissions, permission) for rule in policy.rules_for(user))
        assert policy.can(user, policy.CHANGE, model) is held, model.__name__


def test_can_on_a_model_class_means_holding_the_permission_on_some_scope(inventory: dict[str, Any]) -> None:
    """A class-level "yes" opens the list (then scoped by restrict); objects outside the scope still answer 404.

    A team-limited grant therefore says "yes" for regions too, although no
    region has a team: the list is empty and every region's page a 404,
    rather than a 403 that would tell the kind of object apart from the rest.
    """
    team_limited = user_with(
        {"role": RoleFactory.create(permissions=["inventory.change"]), "team": inventory["team_a"]}
    )

    assert policy.can(team_limited, policy.CHANGE, Namespace)
    assert policy.can(team_limited, policy.CHANGE, Region)
    assert not policy.restrict(Region.objects.all(), team_limited, policy.CHANGE).exists()
    assert not policy.can(team_limited, policy.DELETE, Namespace)


# --- who: anonymous, inactive, superusers ----------------------------------------------


def test_any_active_user_may_view_pages_about_no_object_and_do_nothing_else_there() -> None:
    user = UserFactory.create()

    assert policy.can(user, policy.VIEW, None)
    assert not policy.can(user, policy.CHANGE, None)


def test_an_inactive_user_can_do_nothing_whatever_they_hold(inventory: dict[str, Any]) -> None:
    user = user_with({"role": role(BuiltinRole.PLATFORM_ADMIN)})
    user.is_active = False
    user.save()

    assert not policy.can(user, policy.VIEW, None)
    assert not policy.can(user, policy.VIEW, inventory["region_eu"])
    assert not policy.restrict(Region.objects.all(), user, policy.VIEW).exists()


def test_an_anonymous_visitor_can_do_nothing(inventory: dict[str, Any]) -> None:
    from django.contrib.auth.models import AnonymousUser

    assert not policy.can(AnonymousUser(), policy.VIEW, inventory["region_eu"])
    assert not policy.restrict(Region.objects.all(), AnonymousUser(), policy.VIEW).exists()


def test_a_superuser_may_do_everything_without_any_grant(
    inventory: dict[str, Any], nobody_is_a_viewer_by_default: None
) -> None:
    superuser = UserFactory.create(is_superuser=True)

    assert policy.can(superuser, policy.DELETE, inventory["region_us"])
    assert policy.can(superuser, policy.ADMIN_SITE)
    assert policy.restrict(Region.objects.all(), superuser, policy.DELETE).count() == 2


# --- counting as a platform admin -----------------------------------------------------------


def test_the_platform_admin_role_and_the_named_permission_make_a_platform_admin_and_nothing_else_does(
    inventory: dict[str, Any],
) -> None:
    template_editor = user_with({"role": RoleFactory.create(permissions=["templates.*", "environments.approve"])})
    named = user_with({"role": RoleFactory.create(permissions=["platform.admin"])})

    assert policy.can(user_with({"role": role(BuiltinRole.PLATFORM_ADMIN)}), policy.PLATFORM_ADMIN)
    assert policy.can(named, policy.PLATFORM_ADMIN)
    assert not policy.can(template_editor, policy.PLATFORM_ADMIN)
    for builtin in set(BuiltinRole) - {BuiltinRole.PLATFORM_ADMIN}:
        assert not policy.can(user_with({"role": role(builtin)}), policy.PLATFORM_ADMIN), builtin
    # The permission is about the platform, not a way to act on its objects.
    assert not policy.can(named, policy.CHANGE, inventory["region_eu"])


def test_a_platform_admin_grant_limited_to_a_team_or_a_zone_does_not_make_a_platform_admin(
    inventory: dict[str, Any],
) -> None:
    on_a_team = user_with({"role": role(BuiltinRole.PLATFORM_ADMIN), "team": inventory["team_a"]})
    in_a_zone = user_with({"role": role(BuiltinRole.PLATFORM_ADMIN), "zone": ResidencyZone.EU})

    assert not policy.can(on_a_team, policy.PLATFORM_ADMIN)
    assert not policy.can(in_a_zone, policy.PLATFORM_ADMIN)


def test_an_api_token_counts_as_a_platform_admin_only_when_its_role_and_its_owner_do(
    inventory: dict[str, Any],
) -> None:
    admin = user_with({"role": role(BuiltinRole.PLATFORM_ADMIN)})
    admin.api_token = token_for(admin, BuiltinRole.PLATFORM_ADMIN, inventory["team_a"])  # type: ignore[attr-defined]
    admins_viewer_token = user_with({"role": role(BuiltinRole.PLATFORM_ADMIN)})
    admins_viewer_token.api_token = token_for(  # type: ignore[attr-defined]
        admins_viewer_token, BuiltinRole.VIEWER, inventory["team_a"]
    )
    superuser = UserFactory.create(is_superuser=True)
    superuser.api_token = token_for(superuser, BuiltinRole.VIEWER, inventory["team_a"])

    assert policy.can(admin, policy.PLATFORM_ADMIN)
    assert not policy.can(admins_viewer_token, policy.PLATFORM_ADMIN)
    assert not policy.can(superuser, policy.PLATFORM_ADMIN)
    assert policy.can(UserFactory.create(is_superuser=True), policy.PLATFORM_ADMIN)


# --- require and get_for_update ------------------------------------------------------------


def test_require_refuses_with_403_what_the_user_sees_but_may_not_change(inventory: dict[str, Any]) -> None:
    viewer = UserFactory.create()

    with pytest.raises(PermissionDenied):
        policy.require(viewer, policy.CHANGE, inventory["region_eu"])


def test_require_answers_404_for_an_object_outside_the_users_scope(
    inventory: dict[str, Any], nobody_is_a_viewer_by_default: None
) -> None:
    eu_viewer = user_with({"role": role(BuiltinRole.VIEWER), "zone": ResidencyZone.EU})

    policy.require(eu_viewer, policy.VIEW, inventory["region_eu"])
    with pytest.raises(Http404):
        policy.require(eu_viewer, policy.VIEW, inventory["region_us"])
    with pytest.raises(Http404):
        policy.require(eu_viewer, policy.CHANGE, inventory["region_us"])


def test_get_for_update_honours_a_grant_revoked_a_moment_ago(inventory: dict[str, Any]) -> None:
    changer = RoleFactory.create(permissions=["inventory.change"])
    user = user_with({"role": changer})
    cluster = inventory["cluster_eu"]
    assert policy.can(user, policy.CHANGE, cluster)  # the rules are now cached on the user

    Grant.objects.filter(user=user).update(revoked_at=timezone.now())

    with transaction.atomic(), pytest.raises(Http404):
        policy.get_for_update(Cluster.objects.all(), user, policy.CHANGE, pk=cluster.pk)


def test_get_for_update_returns_the_locked_object_when_allowed(inventory: dict[str, Any]) -> None:
    user = user_with({"role": RoleFactory.create(permissions=["inventory.change"]), "zone": ResidencyZone.EU})

    with transaction.atomic():
        cluster = policy.get_for_update(Cluster.objects.all(), user, policy.CHANGE, pk=inventory["cluster_eu"].pk)
        assert cluster == inventory["cluster_eu"]
        with pytest.raises(Http404):
            policy.get_for_update(Cluster.objects.all(), user, policy.CHANGE, pk=inventory["cluster_us"].pk)


# --- grant escalation ------------------------------------------------------------------------


def test_nobody_grants_a_permission_they_do_not_hold(inventory: dict[str, Any]) -> None:
    granter = user_with({"role": RoleFactory.create(permissions=["access.add", "access.view"])})
    other = UserFactory.create()

    with pytest.raises(PermissionDenied):
        services.grant_create(actor=granter, role=role(BuiltinRole.DEVELOPER), user=other, reason="Please.")
    assert not Grant.objects.filter(user=other).exists()


def test_a_role_within_the_granters_own_permissions_may_be_granted(inventory: dict[str, Any]) -> None:
    granter = user_with({"role": RoleFactory.create(permissions=["access.*", "inventory.*", "teams.view"])})
    other = UserFactory.create()

    grant = services.grant_create(actor=granter, role=role(BuiltinRole.VIEWER), user=other, reason="Onboarding.")

    assert grant.granted_by == granter


def test_nobody_grants_a_permission_wider_than_where_they_hold_it(inventory: dict[str, Any]) -> None:
    """Holding developer on team A does not let someone grant developer on every team."""
    granter = user_with(
        {"role": RoleFactory.create(permissions=["access.add", "access.view"])},
        {"role": role(BuiltinRole.DEVELOPER), "team": inventory["team_a"]},
    )
    other = UserFactory.create()

    with pytest.raises(PermissionDenied):
        services.grant_create(actor=granter, role=role(BuiltinRole.DEVELOPER), user=other, reason="Everywhere.")
    with pytest.raises(PermissionDenied):
        services.grant_create(
            actor=granter, role=role(BuiltinRole.DEVELOPER), user=other, team=inventory["team_b"], reason="Team B."
        )
    grant = services.grant_create(
        actor=granter, role=role(BuiltinRole.DEVELOPER), user=other, team=inventory["team_a"], reason="Team A."
    )
    assert grant.team == inventory["team_a"]


def test_a_team_lead_cannot_grant_at_all(inventory: dict[str, Any]) -> None:
    lead = user_with({"role": role(BuiltinRole.TEAM_LEAD), "team": inventory["team_a"]})

    with pytest.raises((PermissionDenied, Http404)):
        services.grant_create(
            actor=lead, role=role(BuiltinRole.VIEWER), user=UserFactory.create(), team=inventory["team_a"], reason="x"
        )


# --- API tokens narrow what their owner may do -------------------------------------------------


def token_for(user: User, role_slug: str, team: Team) -> ApiToken:
    return ApiToken.objects.create(
        name="ci",
        owner=user,
        team=team,
        role=role(role_slug),
        prefix=f"pp_{user.pk}",
        secret_hash="not-a-real-hash",
        expires_at=timezone.now() + timedelta(days=1),
    )


def test_a_request_with_a_token_is_limited_to_the_tokens_role_on_the_tokens_team(inventory: dict[str, Any]) -> None:
    admin = user_with({"role": role(BuiltinRole.PLATFORM_ADMIN)})
    admin.api_token = token_for(admin, BuiltinRole.VIEWER, inventory["team_a"])  # type: ignore[attr-defined]

    assert policy.can(admin, policy.VIEW, inventory["namespace_eu_a"])
    assert not policy.can(admin, policy.VIEW, inventory["namespace_eu_b"])
    assert not policy.can(admin, policy.CHANGE, inventory["namespace_eu_a"])
    # A region belongs to no team: the token's team limit does not narrow it, its viewer role still does.
    assert policy.can(admin, policy.VIEW, inventory["region_eu"])
    assert not policy.can(admin, policy.CHANGE, inventory["region_eu"])
    assert set(policy.restrict(Region.objects.all(), admin, policy.VIEW)) == set(Region.objects.all())
    visible = set(policy.restrict(Namespace.objects.all(), admin, policy.VIEW))
    assert visible == {inventory["namespace_eu_a"], inventory["namespace_us_a"]}


def test_a_token_never_gives_more_than_its_owner_holds(inventory: dict[str, Any]) -> None:
    developer = user_with({"role": role(BuiltinRole.DEVELOPER), "team": inventory["team_a"]})
    developer.api_token = token_for(developer, BuiltinRole.PLATFORM_ADMIN, inventory["team_a"])  # type: ignore[attr-defined]

    assert not policy.can(developer, policy.CHANGE, inventory["namespace_eu_a"])
    assert not policy.restrict(Namespace.objects.all(), developer, policy.CHANGE).exists()


def test_a_superusers_token_carries_no_superuser_power(inventory: dict[str, Any]) -> None:
    superuser = UserFactory.create(is_superuser=True)
    superuser.api_token = token_for(superuser, BuiltinRole.PLATFORM_ADMIN, inventory["team_a"])

    assert not policy.can(superuser, policy.DELETE, inventory["namespace_eu_a"])
    assert not policy.can(superuser, policy.ADMIN_SITE)
    assert not policy.restrict(Namespace.objects.all(), superuser, policy.DELETE).exists()
