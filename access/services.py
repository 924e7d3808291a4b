"""Writes of the access app: every change is checked by the policy inside its
transaction and records its audit event in that same transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from access import audit, permissions, policy
from access.models import Grant, Membership, Role, SsoRule, Team, Tier, User
from access.permissions import ADD, BUILTIN_ROLES, CHANGE, DELETE
from regions.models import Region

GRANT_FIELDS = ["role", "user", "grantee_team", "team", "region", "zone", "tiers", "expires_at", "reason", "source"]


# --- roles --------------------------------------------------------------------


def builtin_roles_ensure() -> None:
    """Create or refresh the built-in roles (run by a migration and by the demo loader)."""
    for definition in BUILTIN_ROLES:
        Role.objects.update_or_create(
            slug=definition.slug,
            defaults={
                "name": definition.name,
                "description": definition.description,
                "permissions": list(definition.permissions),
                "builtin": True,
                "everyone": definition.everyone,
            },
        )


# --- grants -------------------------------------------------------------------


@transaction.atomic
def grant_create(
    *,
    actor: User | None,
    role: Role,
    reason: str,
    user: User | None = None,
    grantee_team: Team | None = None,
    team: Team | None = None,
    region: Region | None = None,
    zone: str = "",
    tiers: list[str] | None = None,
    expires_at: datetime | None = None,
    source: str = Grant.Source.MANUAL,
    sso_rule: SsoRule | None = None,
) -> Grant:
    """Grant ``role`` to a user or a team, limited as given. ``actor`` None: the system (an SSO rule)."""
    grant = Grant(
        role=role,
        user=user,
        grantee_team=grantee_team,
        team=team,
        region=region,
        zone=zone,
        tiers=sorted(set(tiers or [])),
        expires_at=expires_at,
        reason=reason.strip(),
        source=source,
        sso_rule=sso_rule,
        granted_by=actor,
    )
    if actor is not None:
        _check(actor, ADD, grant)
        _refuse_escalation(actor, role, grant)
    grant.full_clean(exclude=["granted_by", "revoked_by"])
    grant.save()
    audit.record(
        audit.GRANT_CREATED,
        grant,
        actor=actor,
        after=audit.snapshot(grant, GRANT_FIELDS),
        team=team,
        actor_label=None if actor is not None else _system_label(source),
    )
    _forget_affected(grant)
    return grant


@transaction.atomic
def grant_revoke(*, actor: User | None, grant_id: int, reason: str) -> Grant:
    """Revoke a grant now. Revoking an already revoked grant changes nothing (safe to repeat)."""
    if actor is not None:
        grant = policy.get_for_update(Grant.objects.all(), actor, DELETE, pk=grant_id)
    else:
        grant = Grant.objects.select_for_update().get(pk=grant_id)
    if grant.revoked_at is not None:
        return grant
    if not reason.strip():
        raise ValidationError({"reason": "Say why this access is revoked; the reason is kept as evidence."})
    before = audit.snapshot(grant, GRANT_FIELDS)
    grant.revoked_at = timezone.now()
    grant.revoked_by = actor
    grant.revoke_reason = reason.strip()
    grant.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
    audit.record(
        audit.GRANT_REVOKED,
        grant,
        actor=actor,
        before=before,
        after={"revoked": True, "reason": grant.revoke_reason},
        team=grant.team,
        actor_label=None if actor is not None else _system_label(grant.source),
    )
    _forget_affected(grant)
    return grant


def _system_label(source: str) -> str:
    return "sso" if source == Grant.Source.SSO else "system"


def _refuse_escalation(actor: User, role: Role, grant: Grant) -> None:
    """Nobody grants a permission they do not hold themselves on everything the grant covers (superusers excepted).

    A permission held only on team A (or only in the EU zone, or only on some
    tiers) may be granted on team A (in the EU, on those tiers), never wider.
    With an API token, the token's role must hold it too.
    """
    if actor.is_superuser and getattr(actor, "api_token", None) is None:
        return
    missing = [
        permission
        for permission in role.permissions
        if not all(
            any(permissions.allows(rule.permissions, permission) and _within(grant, rule) for rule in rules)
            for rules in policy.rule_sets(actor)
        )
    ]
    if missing:
        raise PermissionDenied(
            f"You cannot grant {role} on {grant.scope_label}: "
            f"you do not hold {', '.join(sorted(missing))} there yourself."
        )


def _within(grant: Grant, rule: policy.Rule) -> bool:
    """Whether everything ``grant`` covers is also covered by ``rule`` (the grant is at least as narrow)."""
    if rule.team is not None and grant.team_id != rule.team:
        return False
    if rule.region is not None and grant.region_id != rule.region:
        return False
    if rule.zone and grant.zone != rule.zone and (grant.region is None or grant.region.residency_zone != rule.zone):
        return False
    return not rule.tiers or (bool(grant.tiers) and set(grant.tiers) <= rule.tiers)


def _forget_affected(grant: Grant) -> None:
    if grant.user is not None:
        policy.forget(grant.user)


def _check(actor: User, action: str, obj: Any) -> None:
    """Re-check on fresh grants inside the transaction; refuse with PermissionDenied or Http404."""
    policy.forget(actor)
    policy.require(actor, action, obj)


# --- teams and memberships ---------------------------------------------------


@transaction.atomic
def team_create(*, actor: User, slug: str, name: str, description: str = "") -> Team:
    team = Team(slug=slug, name=name, description=description)
    _check(actor, ADD, team)
    team.full_clean()
    team.save()
    audit.record(audit.TEAM_CREATED, team, actor=actor, after=audit.snapshot(team, ["slug", "name", "description"]))
    return team


@transaction.atomic
def membership_set(
    *, actor: User | None, team: Team, user: User, role: str = Membership.Role.MEMBER, sso_rule: SsoRule | None = None
) -> Membership:
    """Put ``user`` in ``team`` with ``role`` (added, or role changed). Repeating it changes nothing."""
    if actor is not None:
        team = policy.get_for_update(Team.objects.all(), actor, CHANGE, pk=team.pk)
    membership = Membership.objects.select_for_update().filter(team=team, user=user).first()
    label = None if actor is not None else "sso"
    if membership is None:
        membership = Membership.objects.create(team=team, user=user, role=role, sso_rule=sso_rule)
        audit.record(audit.MEMBER_ADDED, membership, actor=actor, after={"role": role}, team=team, actor_label=label)
    elif membership.role != role:
        before = {"role": membership.role}
        membership.role = role
        membership.save(update_fields=["role"])
        audit.record(
            audit.MEMBER_CHANGED,
            membership,
            actor=actor,
            before=before,
            after={"role": role},
            team=team,
            actor_label=label,
        )
    if sso_rule is not None and membership.sso_rule_id not in (None, sso_rule.pk):
        # Another rule gives it now: follow it, so deleting the old rule does not make it look hand-made.
        membership.sso_rule = sso_rule
        membership.save(update_fields=["sso_rule"])
    policy.forget(user)
    return membership


@transaction.atomic
def membership_remove(*, actor: User | None, team: Team, user: User) -> None:
    """Take ``user`` out of ``team``. Removing someone who is not in it changes nothing."""
    if actor is not None:
        team = policy.get_for_update(Team.objects.all(), actor, CHANGE, pk=team.pk)
    membership = Membership.objects.select_for_update().filter(team=team, user=user).first()
    if membership is None:
        return
    audit.record(
        audit.MEMBER_REMOVED,
        membership,
        actor=actor,
        before={"role": membership.role},
        team=team,
        actor_label=None if actor is not None else "sso",
    )
    membership.delete()
    policy.forget(user)


# --- SSO mapping rules ---------------------------------------------------------


@dataclass
class SsoOutcome:
    """What a set of claims gives through the rules: memberships (team -> role) and grants."""

    memberships: dict[int, tuple[Team, str, SsoRule]] = field(default_factory=dict)
    grants: list[tuple[SsoRule, Role]] = field(default_factory=list)

    @property
    def matched_rules(self) -> list[SsoRule]:
        seen: dict[int, SsoRule] = {rule.pk: rule for _, _, rule in self.memberships.values()}
        seen.update({rule.pk: rule for rule, _ in self.grants})
        return list(seen.values())


def sso_outcome(provider: str, claims: dict[str, Any]) -> SsoOutcome:
    """What the enabled rules give for these claims (used at sign-in and by the rule preview)."""
    outcome = SsoOutcome()
    rules = SsoRule.objects.filter(enabled=True).select_related("team", "role", "scope_team", "scope_region")
    for rule in rules:
        if not rule.matches(provider, claims):
            continue
        if rule.team is not None:
            current = outcome.memberships.get(rule.team.pk)
            # Lead wins when several rules put the person in the same team.
            if current is None or rule.membership_role == Membership.Role.LEAD:
                outcome.memberships[rule.team.pk] = (rule.team, rule.membership_role, rule)
        if rule.role is not None:
            outcome.grants.append((rule, rule.role))
    return outcome


def _grant_key(rule: SsoRule) -> tuple[Any, ...]:
    return (
        rule.pk,
        rule.role_id,
        rule.scope_team_id,
        rule.scope_region_id,
        rule.scope_zone,
        tuple(sorted(rule.scope_tiers)),
    )


def _existing_key(grant: Grant) -> tuple[Any, ...]:
    return (grant.sso_rule_id, grant.role_id, grant.team_id, grant.region_id, grant.zone, tuple(sorted(grant.tiers)))


@transaction.atomic
def sso_apply(*, user: User, provider: str, claims: dict[str, Any]) -> SsoOutcome:
    """Make the user's SSO-made memberships and grants exactly what the rules give for ``claims``.

    Run at every SSO sign-in. Memberships and grants given by hand are never
    touched; those an SSO rule gave and no longer gives are removed (audited).
    """
    outcome = sso_outcome(provider, claims)
    User.objects.select_for_update().filter(pk=user.pk).first()  # one sign-in of a person at a time

    wanted_teams = outcome.memberships
    for membership in Membership.objects.filter(user=user).select_related("team"):
        if membership.team_id in wanted_teams:
            continue
        if membership.sso_rule_id is not None:
            membership_remove(actor=None, team=membership.team, user=user)
    for team, membership_role, team_rule in wanted_teams.values():
        existing = Membership.objects.filter(team=team, user=user).first()
        if existing is not None and existing.sso_rule_id is None:
            continue  # added by hand: the rules do not own it
        membership_set(actor=None, team=team, user=user, role=membership_role, sso_rule=team_rule)

    wanted = {_grant_key(rule): (rule, role) for rule, role in outcome.grants}
    for grant in Grant.objects.active().filter(user=user, source=Grant.Source.SSO):
        key = _existing_key(grant)
        if key in wanted:
            wanted.pop(key)
        else:
            grant_revoke(actor=None, grant_id=grant.pk, reason="The SSO claims no longer match the rule that gave it.")
    for rule, granted_role in wanted.values():
        grant_create(
            actor=None,
            role=granted_role,
            user=user,
            team=rule.scope_team,
            region=rule.scope_region,
            zone=rule.scope_zone,
            tiers=list(rule.scope_tiers),
            reason=f"SSO rule “{rule.name}”: {rule.claim} = {rule.value}",
            source=Grant.Source.SSO,
            sso_rule=rule,
        )
    policy.forget(user)
    return outcome


def tiers_label(tiers: list[str]) -> str:
    labels = dict(Tier.choices)
    return ", ".join(labels.get(tier, tier) for tier in tiers) or "all tiers"
