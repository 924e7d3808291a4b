"""SSO mapping rules applied at sign-in: what the claims give is exactly what the user holds through SSO."""

from __future__ import annotations

from typing import Any

import pytest

from access import services
from access.audit import services as audit
from access.models import AuditEvent, Grant, Membership, Role, SsoRule, Team, User
from access.permissions import BuiltinRole
from regions.choices import ResidencyZone
from tests.factories import GrantFactory, MembershipFactory, SsoRuleFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def role(slug: str) -> Role:
    return Role.objects.get(slug=slug)


@pytest.fixture
def team() -> Team:
    tutors: Team = TeamFactory.create(slug="tutors")
    return tutors


@pytest.fixture
def user() -> User:
    sam: User = UserFactory.create(username="sam")
    return sam


def sign_in(user: User, claims: dict[str, Any], provider: str = "entra") -> services.SsoOutcome:
    return services.sso_apply(user=user, provider=provider, claims=claims)


def sso_memberships(user: User) -> dict[str, str]:
    return dict(Membership.objects.filter(user=user).values_list("team__slug", "role"))


def sso_grants(user: User) -> set[tuple[str, str]]:
    return {
        (grant.role.slug, grant.scope_label)
        for grant in Grant.objects.active().filter(user=user, source=Grant.Source.SSO).select_related("role", "team")
    }


# --- matching --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "matches"),
    [
        ({"groups": ["staff", "tutors"]}, True),
        ({"groups": ("tutors",)}, True),
        ({"groups": "tutors"}, True),
        ({"groups": ["staff"]}, False),
        ({"groups": "tutors-old"}, False),
        ({"groups": []}, False),
        ({"groups": None}, False),
        ({}, False),
        ({"roles": ["tutors"]}, False),
    ],
)
def test_a_rule_matches_its_value_in_a_list_claim_or_as_a_scalar_claim(
    claims: dict[str, Any], matches: bool, team: Team
) -> None:
    rule = SsoRuleFactory.create(value="tutors", team=team)

    assert rule.matches("entra", claims) is matches


def test_a_numeric_claim_matches_its_text_value(team: Team) -> None:
    rule = SsoRuleFactory.create(claim="department", value="42", team=team)

    assert rule.matches("entra", {"department": 42})
    assert rule.matches("entra", {"department": [7, 42]})


def test_a_provider_specific_rule_matches_only_that_provider(team: Team, user: User) -> None:
    SsoRuleFactory.create(value="tutors", team=team, provider="google")

    sign_in(user, {"groups": ["tutors"]}, provider="entra")
    assert sso_memberships(user) == {}

    sign_in(user, {"groups": ["tutors"]}, provider="google")
    assert sso_memberships(user) == {"tutors": Membership.Role.MEMBER}


def test_a_disabled_rule_gives_nothing_and_what_it_gave_goes(team: Team, user: User) -> None:
    rule = SsoRuleFactory.create(value="tutors", team=team, role=role(BuiltinRole.DEVELOPER))
    sign_in(user, {"groups": ["tutors"]})
    assert sso_memberships(user)
    assert sso_grants(user)

    SsoRule.objects.filter(pk=rule.pk).update(enabled=False)
    sign_in(user, {"groups": ["tutors"]})

    assert sso_memberships(user) == {}
    assert sso_grants(user) == set()


@pytest.mark.parametrize("lead_first", [True, False])
def test_the_lead_role_wins_when_several_rules_put_someone_in_the_same_team(
    lead_first: bool, team: Team, user: User
) -> None:
    names = ("a lead rule", "b member rule") if lead_first else ("b lead rule", "a member rule")
    SsoRuleFactory.create(name=names[0], value="leads", team=team, membership_role=Membership.Role.LEAD)
    SsoRuleFactory.create(name=names[1], value="tutors", team=team, membership_role=Membership.Role.MEMBER)

    sign_in(user, {"groups": ["tutors", "leads"]})

    assert sso_memberships(user) == {"tutors": Membership.Role.LEAD}


def test_the_preview_tells_what_claims_would_give_and_changes_nothing(team: Team) -> None:
    SsoRuleFactory.create(value="tutors", team=team, role=role(BuiltinRole.DEVELOPER), scope_team=team)
    SsoRuleFactory.create(value="others", team=TeamFactory.create())
    events = AuditEvent.objects.count()

    outcome = services.sso_outcome("entra", {"groups": ["tutors"]})

    assert [(t.slug, membership_role) for t, membership_role, _ in outcome.memberships.values()] == [
        ("tutors", Membership.Role.MEMBER)
    ]
    assert [granted.slug for _, granted in outcome.grants] == [BuiltinRole.DEVELOPER]
    assert AuditEvent.objects.count() == events
    assert not Membership.objects.exists()


# --- applying: created, changed, removed ----------------------------------------------------


def test_claims_give_memberships_and_limited_grants(team: Team, user: User) -> None:
    SsoRuleFactory.create(value="tutors", team=team, membership_role=Membership.Role.LEAD)
    SsoRuleFactory.create(
        value="eu-devs",
        role=role(BuiltinRole.DEVELOPER),
        scope_team=team,
        scope_zone=ResidencyZone.EU,
        scope_tiers=["test", "development"],
    )

    sign_in(user, {"groups": ["tutors", "eu-devs"]})

    assert sso_memberships(user) == {"tutors": Membership.Role.LEAD}
    grant = Grant.objects.get(user=user)
    assert (grant.role.slug, grant.team, grant.zone, grant.tiers) == (
        BuiltinRole.DEVELOPER,
        team,
        ResidencyZone.EU,
        ["development", "test"],
    )
    assert grant.source == Grant.Source.SSO
    assert "eu-devs" in grant.reason


def test_what_the_claims_no_longer_give_is_removed_at_the_next_sign_in(team: Team, user: User) -> None:
    SsoRuleFactory.create(value="tutors", team=team)
    SsoRuleFactory.create(value="admins", role=role(BuiltinRole.PLATFORM_ADMIN))
    sign_in(user, {"groups": ["tutors", "admins"]})
    admin_grant = Grant.objects.get(user=user)

    sign_in(user, {"groups": ["tutors"]})

    assert sso_memberships(user) == {"tutors": Membership.Role.MEMBER}
    admin_grant.refresh_from_db()
    assert admin_grant.revoked_at is not None
    assert "no longer match" in admin_grant.revoke_reason

    sign_in(user, {"groups": []})
    assert sso_memberships(user) == {}


def test_a_role_change_in_the_claims_changes_the_membership_role(team: Team, user: User) -> None:
    SsoRuleFactory.create(value="tutors", team=team)
    SsoRuleFactory.create(value="leads", team=team, membership_role=Membership.Role.LEAD)
    sign_in(user, {"groups": ["tutors", "leads"]})

    sign_in(user, {"groups": ["tutors"]})

    assert sso_memberships(user) == {"tutors": Membership.Role.MEMBER}
    assert AuditEvent.objects.filter(verb=audit.MEMBER_CHANGED, actor_label="sso").count() == 1


def test_a_rule_that_now_grants_another_role_replaces_the_grant(user: User) -> None:
    rule = SsoRuleFactory.create(value="staff", role=role(BuiltinRole.VIEWER))
    sign_in(user, {"groups": ["staff"]})
    SsoRule.objects.filter(pk=rule.pk).update(role=role(BuiltinRole.DEVELOPER))

    sign_in(user, {"groups": ["staff"]})

    assert sso_grants(user) == {(BuiltinRole.DEVELOPER, "everything")}


def test_a_membership_moves_to_the_rule_that_now_gives_it_so_deleting_the_old_rule_keeps_it_sso_made(
    team: Team, user: User
) -> None:
    old = SsoRuleFactory.create(value="old-group", team=team)
    SsoRuleFactory.create(value="new-group", team=team)
    sign_in(user, {"groups": ["old-group"]})
    sign_in(user, {"groups": ["new-group"]})

    old.delete()
    sign_in(user, {"groups": []})

    assert sso_memberships(user) == {}, "the membership was taken for one made by hand"


def test_an_expired_sso_grant_is_given_again_while_the_claims_match(user: User) -> None:
    from datetime import timedelta

    from django.utils import timezone

    SsoRuleFactory.create(value="staff", role=role(BuiltinRole.DEVELOPER))
    sign_in(user, {"groups": ["staff"]})
    Grant.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(minutes=1))

    sign_in(user, {"groups": ["staff"]})

    assert sso_grants(user) == {(BuiltinRole.DEVELOPER, "everything")}


# --- what was given by hand is never touched ------------------------------------------------------


def test_memberships_and_grants_given_by_hand_are_never_touched(team: Team, user: User) -> None:
    other = TeamFactory.create(slug="other")
    MembershipFactory.create(team=team, user=user, role=Membership.Role.LEAD)
    MembershipFactory.create(team=other, user=user)
    manual = GrantFactory.create(user=user, role=role(BuiltinRole.DEVELOPER))
    SsoRuleFactory.create(value="tutors", team=team, membership_role=Membership.Role.MEMBER)
    SsoRuleFactory.create(value="devs", role=role(BuiltinRole.DEVELOPER))

    sign_in(user, {"groups": ["tutors", "devs"]})
    sign_in(user, {"groups": []})

    assert sso_memberships(user) == {"tutors": Membership.Role.LEAD, "other": Membership.Role.MEMBER}
    manual.refresh_from_db()
    assert manual.is_active
    assert not Membership.objects.filter(user=user, sso_rule__isnull=False).exists()


# --- idempotence and the audit trail -------------------------------------------------------------------


def test_signing_in_twice_with_the_same_claims_changes_nothing_and_records_nothing(team: Team, user: User) -> None:
    SsoRuleFactory.create(value="tutors", team=team, role=role(BuiltinRole.DEVELOPER), scope_team=team)
    sign_in(user, {"groups": ["tutors"]})
    events = AuditEvent.objects.count()
    grants = Grant.objects.count()

    sign_in(user, {"groups": ["tutors"]})

    assert AuditEvent.objects.count() == events
    assert Grant.objects.count() == grants


def test_every_change_made_by_sso_is_audited_as_sso(team: Team, user: User) -> None:
    SsoRuleFactory.create(value="tutors", team=team, role=role(BuiltinRole.DEVELOPER), scope_team=team)
    SsoRuleFactory.create(value="leads", team=team, membership_role=Membership.Role.LEAD)
    start = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    sign_in(user, {"groups": ["tutors"]})
    sign_in(user, {"groups": ["tutors", "leads"]})
    sign_in(user, {"groups": []})

    events = AuditEvent.objects.filter(pk__gt=start).order_by("pk")
    assert [event.verb for event in events] == [
        audit.MEMBER_ADDED,
        audit.GRANT_CREATED,
        audit.MEMBER_CHANGED,
        audit.MEMBER_REMOVED,
        audit.GRANT_REVOKED,
    ]
    assert {event.actor_label for event in events} == {"sso"}
    assert {event.team for event in events} == {team}
    assert audit.verify_chain().verified


# --- deleting a rule ---------------------------------------------------------------------


def test_deleting_a_rule_removes_the_membership_and_grant_it_gave_at_once_and_audits_it(team: Team, user: User) -> None:
    admin: User = UserFactory.create(username="root", is_superuser=True)
    rule = SsoRuleFactory.create(value="tutors", team=team, role=role(BuiltinRole.DEVELOPER), scope_team=team)
    hand_made = MembershipFactory.create(user=UserFactory.create(), team=team)
    sign_in(user, {"groups": ["tutors"]})
    assert sso_memberships(user) == {"tutors": Membership.Role.MEMBER}

    services.sso_rule_delete(actor=admin, rule_id=rule.pk)

    assert sso_memberships(user) == {}
    assert sso_grants(user) == set()
    assert Membership.objects.filter(pk=hand_made.pk).exists()
    removed = AuditEvent.objects.filter(actor=admin).values_list("verb", flat=True)
    assert sorted(removed) == sorted([audit.SSO_RULE_DELETED, audit.GRANT_REVOKED, audit.MEMBER_REMOVED])
