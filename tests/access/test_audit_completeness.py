"""Every privileged action writes its audit event: one, naming the actor and the object, in the action's transaction.

``TRIGGERS`` maps each verb of :mod:`access.audit` to the ways the portal
performs that action (through its service or its view). A verb in neither
``TRIGGERS`` nor ``PENDING`` fails the build, so a new verb cannot ship
without a test proving its action records it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from access import audit, services
from access.models import AuditEvent, Grant, Membership, Role, Team, User
from access.permissions import BuiltinRole
from portal.demo import Persona
from tests.factories import SsoRuleFactory, UserFactory


@dataclass(frozen=True)
class Expected:
    """Who the event must name as actor (None and a label for the system) and which object."""

    actor: User | None
    object_type: str
    object_id: str
    actor_label: str | None = None

    @classmethod
    def of(cls, actor: User | None, obj: Model, *, object_id: Any = None, actor_label: str | None = None) -> Expected:
        return cls(actor, obj._meta.label_lower, str(object_id if object_id is not None else obj.pk), actor_label)


Trigger = Callable[["World"], Expected]


@dataclass
class World:
    """The demo platform and its people, for triggers to act in."""

    persona: Callable[[Persona], User]

    @property
    def admin(self) -> User:
        return self.persona(Persona.PLATFORM_ADMIN)

    def team(self, slug: str = "tutor-tools") -> Team:
        return Team.objects.get(slug=slug)

    def newcomer(self) -> User:
        newcomer: User = UserFactory.create(username="newcomer")
        return newcomer

    def client(self, who: Persona) -> Client:
        client = Client()
        client.force_login(self.persona(who))
        return client


# --- the triggers ------------------------------------------------------------------


def grant_by_an_admin(world: World) -> Expected:
    grant = services.grant_create(
        actor=world.admin, role=Role.objects.get(slug=BuiltinRole.DEVELOPER), user=world.newcomer(), reason="Joins."
    )
    return Expected.of(world.admin, grant)


def grant_by_an_sso_rule(world: World) -> Expected:
    SsoRuleFactory.create(value="developers", role=Role.objects.get(slug=BuiltinRole.DEVELOPER))
    user = world.newcomer()
    services.sso_apply(user=user, provider="entra", claims={"groups": ["developers"]})
    return Expected.of(None, Grant.objects.get(user=user, source=Grant.Source.SSO), actor_label="sso")


def revoke_by_an_admin(world: World) -> Expected:
    grant = Grant.objects.create(
        role=Role.objects.get(slug=BuiltinRole.DEVELOPER), user=world.newcomer(), reason="Temporary."
    )
    services.grant_revoke(actor=world.admin, grant_id=grant.pk, reason="No longer needed.")
    return Expected.of(world.admin, grant)


def revoke_by_an_sso_sign_in_without_the_group(world: World) -> Expected:
    user = world.newcomer()
    grant = Grant.objects.create(
        role=Role.objects.get(slug=BuiltinRole.DEVELOPER),
        user=user,
        reason="SSO",
        source=Grant.Source.SSO,
        sso_rule=SsoRuleFactory.create(value="old-group", role=Role.objects.get(slug=BuiltinRole.DEVELOPER)),
    )
    services.sso_apply(user=user, provider="entra", claims={"groups": []})
    return Expected.of(None, grant, actor_label="sso")


def create_a_team(world: World) -> Expected:
    team = services.team_create(actor=world.admin, slug="new-team", name="New Team")
    return Expected.of(world.admin, team)


def add_a_member(world: World) -> Expected:
    membership = services.membership_set(actor=world.admin, team=world.team(), user=world.newcomer())
    return Expected.of(world.admin, membership)


def add_a_member_by_sso(world: World) -> Expected:
    SsoRuleFactory.create(value="tutors", team=world.team())
    user = world.newcomer()
    services.sso_apply(user=user, provider="google", claims={"groups": "tutors"})
    return Expected.of(None, Membership.objects.get(user=user), actor_label="sso")


def make_a_member_lead(world: World) -> Expected:
    membership = Membership.objects.create(team=world.team(), user=world.newcomer())
    services.membership_set(actor=world.admin, team=world.team(), user=membership.user, role=Membership.Role.LEAD)
    return Expected.of(world.admin, membership)


def remove_a_member(world: World) -> Expected:
    membership = Membership.objects.create(team=world.team(), user=world.newcomer())
    services.membership_remove(actor=world.admin, team=world.team(), user=membership.user)
    return Expected.of(world.admin, Membership(), object_id=membership.pk)


def remove_a_member_by_sso(world: World) -> Expected:
    rule = SsoRuleFactory.create(value="tutors", team=world.team())
    membership = Membership.objects.create(team=world.team(), user=world.newcomer(), sso_rule=rule)
    services.sso_apply(user=membership.user, provider="google", claims={"groups": ["someone-else"]})
    return Expected.of(None, Membership(), object_id=membership.pk, actor_label="sso")


def export_the_audit_log(world: World) -> Expected:
    response = world.client(Persona.AUDITOR).get(reverse("access:audit-export"))
    b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return Expected(world.persona(Persona.AUDITOR), "", "")


TRIGGERS: dict[str, list[Trigger]] = {
    audit.GRANT_CREATED: [grant_by_an_admin, grant_by_an_sso_rule],
    audit.GRANT_REVOKED: [revoke_by_an_admin, revoke_by_an_sso_sign_in_without_the_group],
    audit.TEAM_CREATED: [create_a_team],
    audit.MEMBER_ADDED: [add_a_member, add_a_member_by_sso],
    audit.MEMBER_CHANGED: [make_a_member_lead],
    audit.MEMBER_REMOVED: [remove_a_member, remove_a_member_by_sso],
    audit.AUDIT_EXPORTED: [export_the_audit_log],
}

# Verbs whose action is built on another branch of issue 3; each moves to TRIGGERS at merge.
PENDING = {
    # sign-in (django-allauth): successful, failed, sign-out
    audit.SIGN_IN,
    audit.SIGN_IN_FAILED,
    audit.SIGN_OUT,
    # access administration: roles, SSO rules, team details
    audit.ROLE_CREATED,
    audit.ROLE_CHANGED,
    audit.ROLE_DELETED,
    audit.SSO_RULE_CREATED,
    audit.SSO_RULE_CHANGED,
    audit.SSO_RULE_DELETED,
    audit.TEAM_CHANGED,
    # API tokens
    audit.TOKEN_CREATED,
    audit.TOKEN_REVOKED,
    # access reviews
    audit.REVIEW_OPENED,
    audit.REVIEW_DECIDED,
    audit.REVIEW_CLOSED,
}

CASES = [
    pytest.param(verb, trigger, id=f"{verb}-{trigger.__name__}")
    for verb, triggers in TRIGGERS.items()
    for trigger in triggers
]


# --- the tests ----------------------------------------------------------------------


def test_every_verb_has_a_trigger_or_is_declared_pending() -> None:
    verbs = set(audit.verbs().values())

    untested = verbs - set(TRIGGERS) - PENDING
    assert not untested, f"verbs with no trigger in TRIGGERS (and not PENDING): {sorted(untested)}"
    assert not (set(TRIGGERS) | PENDING) - verbs, "TRIGGERS or PENDING name a verb access.audit no longer has"
    assert not set(TRIGGERS) & PENDING, f"verbs both triggered and pending: {sorted(set(TRIGGERS) & PENDING)}"


@pytest.mark.parametrize(("verb", "trigger"), CASES)
def test_each_privileged_action_writes_exactly_one_event_in_its_transaction(
    verb: str, trigger: Trigger, persona: Callable[[Persona], User]
) -> None:
    world = World(persona)
    last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    with transaction.atomic():
        expected = trigger(world)
        events = list(AuditEvent.objects.filter(pk__gt=last, verb=verb))
        assert len(events) == 1, f"{verb}: {len(events)} events"
        (event,) = events
        assert event.actor == expected.actor
        assert event.actor_label == (expected.actor_label or (expected.actor.username if expected.actor else ""))
        assert (event.object_type, event.object_id) == (expected.object_type, expected.object_id)
        transaction.set_rollback(True)

    assert not AuditEvent.objects.filter(pk__gt=last).exists(), "the event outlived the transaction it belongs to"
