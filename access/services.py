"""Writes of the access app: every change is checked by the policy inside its
transaction and records its audit event in that same transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.core import context as allauth_context
from allauth.core import ratelimit as allauth_ratelimit
from allauth.mfa.base.forms import BaseAuthenticateForm
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from access import permissions, policy
from access.adapters import sign_in_key
from access.audit import services as audit
from access.models import AccessReview, AccessReviewItem, Grant, Membership, Role, SsoRule, Team, Tier, User
from access.permissions import ADD, BUILTIN_ROLES, CHANGE, DELETE, REVIEW
from portal import crypto
from regions.models import Region
from regions.residency import report as residency

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
def grant_revoke(*, actor: User | None, grant_id: int, reason: str, reviewer: User | None = None) -> Grant:
    """Revoke a grant now. Revoking an already revoked grant changes nothing (safe to repeat).

    ``reviewer``: the person whose access-review decision revokes it. The
    review service has checked their ``access.review`` on the item, which is
    the authority here (a team lead reviews grants on their team without
    holding ``access.delete``); the event names them as the actor.
    """
    if actor is not None:
        grant = policy.get_for_update(Grant.objects.all(), actor, DELETE, pk=grant_id)
    else:
        grant = Grant.objects.select_for_update().get(pk=grant_id)
        actor = reviewer
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


def _refuse_escalation(actor: User, role: Role, grant: Grant | None = None) -> None:
    """Nobody grants a permission they do not hold themselves on everything the grant covers (superusers excepted).

    Without a grant (defining a role), the permissions must be held everywhere.

    A permission held only on team A (or only in the EU zone, or only on some
    tiers) may be granted on team A (in the EU, on those tiers), never wider.
    With an API token, the token's role must hold it too.
    """
    if actor.is_superuser and getattr(actor, "api_token", None) is None:
        return
    grant = grant if grant is not None else Grant()
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


TEAM_FIELDS = ["slug", "name", "description", "residency_zone"]


def may_set_residency_zone(actor: User, team: Team) -> bool:
    """Whether ``actor`` may choose where ``team``'s data must stay.

    Those who may create teams (``teams.add``), not the team's own lead: the zone is a constraint on
    the team, and a constraint the constrained may lift would be none.
    """
    return policy.can(actor, ADD, team)


@transaction.atomic
def team_create(*, actor: User, slug: str, name: str, description: str = "", residency_zone: str = "") -> Team:
    team = Team(slug=slug, name=name, description=description, residency_zone=residency_zone)
    _check(actor, ADD, team)
    team.full_clean()
    team.save()
    audit.record(audit.TEAM_CREATED, team, actor=actor, after=audit.snapshot(team, TEAM_FIELDS))
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


# --- API sign-in with a password ----------------------------------------------


class ApiSignInRefusal(StrEnum):
    """Why a password sign-in for an API pair was refused; the value is the API error's code."""

    LOCKED = "sign_in_locked"
    WRONG_CREDENTIALS = "no_active_account"
    CODE_REQUIRED = "mfa_code_required"
    WRONG_CODE = "mfa_code_incorrect"
    PASSWORD_NOT_ALLOWED = "password_sign_in_not_allowed"  # noqa: S105 (an error code, not a password)


class ApiSignInRefused(Exception):
    """A refused password sign-in for an API pair; ``message`` tells the person what to do."""

    def __init__(self, refusal: ApiSignInRefusal, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.message = message


@dataclass(frozen=True)
class ApiSignIn:
    """Who signed in, and with which second factor ("totp", "recovery_codes"; "" for a password alone)."""

    user: User
    second_factor: str


def sign_in_lock_message() -> str:
    return (
        "Too many failed sign-ins for this account or from your address: sign-in is refused, even with the "
        f"right password, for up to {settings.SIGN_IN_LOCKOUT_MINUTES} minutes."
    )


def api_sign_in(*, request: HttpRequest, username: str, password: str, code: str = "") -> ApiSignIn:
    """Check a username and password, and the account's two-factor code if it has one, for an API pair.

    The checks are the sign-in form's own, through allauth: the failed sign-in
    limits (``ACCOUNT_RATE_LIMITS["login_failed"]``: one count per normalised
    username, one per client address, shared with the form), then the password,
    then the second factor. A wrong code counts as a failed sign-in and draws on
    the same per-account code limit as the form's code page. A superuser (the
    break-glass account) never gets a pair from a password, code or not: it signs
    in in the browser and asks with its session. Refusals are audited as the
    form's are: wrong passwords and lockouts by the adapter and the receivers, the
    rest here. Raises :class:`ApiSignInRefused`.
    """
    try:
        user = get_account_adapter(request).authenticate(request, username=username, password=password)
    except ValidationError:  # the failed sign-in limit (audited by access.adapters.AccountAdapter)
        raise ApiSignInRefused(ApiSignInRefusal.LOCKED, sign_in_lock_message()) from None
    if not isinstance(user, User) or not user.is_active:
        # A wrong password is counted and audited by then; an inactive account reads the same.
        raise ApiSignInRefused(
            ApiSignInRefusal.WRONG_CREDENTIALS, "No active account found with the given credentials."
        )
    if user.is_superuser:
        _api_sign_in_refused(user, "an administrator asked for API tokens with a password")
        raise ApiSignInRefused(
            ApiSignInRefusal.PASSWORD_NOT_ALLOWED,
            "An administrator account cannot get API tokens with a password. Sign in to the portal in the "
            "browser (with your two-factor code), then ask for a pair with that session: POST "
            "/api/auth/token/ with no body and the session's CSRF token.",
        )
    if not is_mfa_enabled(user):
        return ApiSignIn(user=user, second_factor="")
    if not code.strip():
        _api_sign_in_refused(user, "two-factor code missing")
        raise ApiSignInRefused(
            ApiSignInRefusal.CODE_REQUIRED,
            "This account uses two-factor authentication: send the current code from your authenticator app "
            '(or an unused recovery code) as "code", with the username and password.',
        )
    return ApiSignIn(user=user, second_factor=_second_factor_check(request=request, user=user, code=code))


def _second_factor_check(*, request: HttpRequest, user: User, code: str) -> str:
    """The type of the authenticator that accepts ``code``; else the code counts as a failed sign-in.

    allauth's own code check (the form of its code page): its per-account code
    limit, TOTP codes that work once, recovery codes that work once, and its
    ``authentication_failed`` signal, which the receivers audit.
    """
    with allauth_context.request_context(request):
        form = BaseAuthenticateForm(data={"code": code}, user=user)
        accepted = form.is_valid()
    if accepted:
        authenticator: Authenticator = form.authenticator
        authenticator.record_usage()
        return str(authenticator.type)
    problems = {problem.code for problem in form.errors.as_data().get("code", [])}
    if "too_many_login_attempts" in problems:
        _api_sign_in_refused(user, "too many wrong two-factor codes")
        raise ApiSignInRefused(ApiSignInRefusal.LOCKED, sign_in_lock_message())
    # A right password with a wrong code is a failed sign-in of the account, as a wrong password is.
    allauth_ratelimit.consume(request, action="login_failed", key=sign_in_key(user.get_username()))
    raise ApiSignInRefused(
        ApiSignInRefusal.WRONG_CODE,
        "The two-factor code is not correct, or was already used. Send the current code from your "
        "authenticator app, or an unused recovery code.",
    )


def _api_sign_in_refused(user: User, reason: str) -> None:
    with transaction.atomic():
        audit.record(
            audit.SIGN_IN_FAILED, user, actor_label=user.get_username(), object_repr=user.get_username(), reason=reason
        )


# --- two-factor secrets at rest -------------------------------------------------

# What allauth keeps in Authenticator.data through access.adapters.MfaAdapter's encrypt(): single values
# (the TOTP key, the recovery-code seed), and lists (recovery codes carried over from django-allauth-2fa).
MFA_SECRETS = ("secret", "seed")
MFA_SECRET_LISTS = ("migrated_codes",)


def mfa_secrets_reencrypt() -> int:
    """Re-encrypt every two-factor secret not yet under the newest key; returns how many were rewritten.

    Part of ``manage.py reencrypt_secrets`` (key rotation), inside its
    transaction: the rows are locked, so a code being checked meanwhile waits,
    and a secret no configured key opens (:class:`portal.crypto.DecryptionError`)
    leaves everything as it was.
    """
    rewritten = 0
    for authenticator in Authenticator.objects.select_for_update().order_by("pk"):
        data: dict[str, Any] = dict(authenticator.data)
        for name in MFA_SECRETS:
            value = data.get(name)
            if isinstance(value, str) and not crypto.is_current(value):
                data[name] = crypto.rotate(value)
                rewritten += 1
        for name in MFA_SECRET_LISTS:
            values = data.get(name)
            if isinstance(values, list) and not all(crypto.is_current(value) for value in values):
                data[name] = [crypto.rotate(value) for value in values]
                rewritten += len(values)
        if data != authenticator.data:
            # The data column alone: no save() that would rewrite the row from a stale instance.
            Authenticator.objects.filter(pk=authenticator.pk).update(data=data)
    return rewritten


# --- access administration (portal pages) -------------------------------------

ROLE_FIELDS = ["slug", "name", "description", "permissions"]
SSO_RULE_FIELDS = [
    "name",
    "provider",
    "claim",
    "value",
    "enabled",
    "team",
    "membership_role",
    "role",
    "scope_team",
    "scope_region",
    "scope_zone",
    "scope_tiers",
]


@transaction.atomic
def team_update(
    *, actor: User, team_id: int, name: str, description: str = "", residency_zone: str | None = None
) -> Team:
    """Rename a team, change its description or its residency zone (the slug is its stable key and stays).

    ``residency_zone`` None leaves the zone as it is; "" lifts it. Only those who may create teams
    change it (:func:`may_set_residency_zone`). The portal does not move environments, so binding
    the team to a zone is refused while it has live environments outside that zone (the refusal
    lists them: tear them down first); lifting the zone is always possible.
    """
    team = policy.get_for_update(Team.objects.all(), actor, CHANGE, pk=team_id)
    before = audit.snapshot(team, TEAM_FIELDS)
    team.name = name.strip()
    team.description = description.strip()
    if residency_zone is not None and residency_zone != team.residency_zone:
        if not may_set_residency_zone(actor, team):
            raise PermissionDenied(
                "Only those who may create teams (platform admins) change where a team's data must stay."
            )
        refusal = residency.team_zone_refusal(team=team, zone=residency_zone)
        if refusal is not None:
            raise ValidationError({"residency_zone": refusal})
        team.residency_zone = residency_zone
    team.full_clean()
    team.save(update_fields=["name", "description", "residency_zone"])
    audit.record(audit.TEAM_CHANGED, team, actor=actor, before=before, after=audit.snapshot(team, TEAM_FIELDS))
    return team


def _validate_permissions(chosen: list[str]) -> list[str]:
    unknown = sorted({permission for permission in chosen if not permissions.is_known(permission)})
    if unknown:
        raise ValidationError({"permissions": f"Unknown permissions: {', '.join(unknown)}."})
    return sorted(set(chosen))


@transaction.atomic
def role_create(*, actor: User, slug: str, name: str, description: str = "", permission_names: list[str]) -> Role:
    """Define a custom role. Nobody defines a role with permissions they do not hold themselves."""
    role = Role(slug=slug, name=name.strip(), description=description.strip(), builtin=False)
    _check(actor, ADD, role)
    role.permissions = _validate_permissions(permission_names)
    _refuse_escalation(actor, role)
    role.full_clean()
    role.save()
    audit.record(audit.ROLE_CREATED, role, actor=actor, after=audit.snapshot(role, ROLE_FIELDS))
    return role


def _custom_role_for_update(actor: User, action: str, role_id: int) -> Role:
    role = policy.get_for_update(Role.objects.all(), actor, action, pk=role_id)
    if role.builtin:
        raise PermissionDenied(f"{role} is a built-in role; its permissions are fixed.")
    return role


@transaction.atomic
def role_update(*, actor: User, role_id: int, name: str, description: str = "", permission_names: list[str]) -> Role:
    role = _custom_role_for_update(actor, CHANGE, role_id)
    before = audit.snapshot(role, ROLE_FIELDS)
    role.name = name.strip()
    role.description = description.strip()
    role.permissions = _validate_permissions(permission_names)
    _refuse_escalation(actor, role)
    role.full_clean()
    role.save(update_fields=["name", "description", "permissions"])
    audit.record(audit.ROLE_CHANGED, role, actor=actor, before=before, after=audit.snapshot(role, ROLE_FIELDS))
    policy.forget(actor)
    return role


@transaction.atomic
def role_delete(*, actor: User, role_id: int) -> None:
    """Delete a custom role that nothing uses (no grant, not even a revoked one, no SSO rule, no token)."""
    role = _custom_role_for_update(actor, DELETE, role_id)
    if role.grants.exists() or role.sso_rules.exists() or role.api_tokens.exists():
        raise ValidationError(
            f"{role} is in use (by grants, kept as evidence, SSO rules or API tokens), so it cannot be deleted."
        )
    audit.record(audit.ROLE_DELETED, role, actor=actor, before=audit.snapshot(role, ROLE_FIELDS))
    role.delete()


def identical_grant_key(
    *,
    role: Role,
    user: User | None,
    grantee_team: Team | None,
    team: Team | None,
    region: Region | None,
    zone: str,
    tiers: list[str],
    expires_at: datetime | None,
) -> dict[str, Any]:
    return {
        "role": role,
        "user": user,
        "grantee_team": grantee_team,
        "team": team,
        "region": region,
        "zone": zone,
        "tiers": sorted(set(tiers)),
        "expires_at": expires_at,
    }


@transaction.atomic
def grant_give(
    *,
    actor: User,
    role: Role,
    reason: str,
    user: User | None = None,
    grantee_team: Team | None = None,
    team: Team | None = None,
    region: Region | None = None,
    zone: str = "",
    tiers: list[str] | None = None,
    expires_at: datetime | None = None,
) -> tuple[Grant, bool]:
    """Grant by hand from the portal; a repeated identical request gives the existing grant.

    A double submit (or two admins granting the same thing at once) makes one
    grant: the grantee's row is locked, then an active manual grant with the
    same role, grantee, limits and expiry is returned instead of a new one.
    Returns the grant and whether it was created.
    """
    if user is not None:
        User.objects.select_for_update().filter(pk=user.pk).first()
    elif grantee_team is not None:
        Team.objects.select_for_update().filter(pk=grantee_team.pk).first()
    key = identical_grant_key(
        role=role,
        user=user,
        grantee_team=grantee_team,
        team=team,
        region=region,
        zone=zone,
        tiers=tiers or [],
        expires_at=expires_at,
    )
    existing = Grant.objects.active().filter(source=Grant.Source.MANUAL, **key).first()
    if existing is not None:
        return existing, False
    grant = grant_create(
        actor=actor,
        role=role,
        reason=reason,
        user=user,
        grantee_team=grantee_team,
        team=team,
        region=region,
        zone=zone,
        tiers=tiers,
        expires_at=expires_at,
    )
    return grant, True


# --- SSO mapping rules (administration) -----------------------------------------


def _sso_rule_refuse_escalation(actor: User, rule: SsoRule) -> None:
    """A rule gives its role with its limits to whoever matches: the author must hold it there."""
    if rule.role is not None:
        limits = Grant(team=rule.scope_team, region=rule.scope_region, zone=rule.scope_zone, tiers=rule.scope_tiers)
        _refuse_escalation(actor, rule.role, limits)


@transaction.atomic
def sso_rule_create(*, actor: User, **fields: Any) -> SsoRule:
    """Create a mapping rule; applied from the next sign-in of each person it matches."""
    rule = SsoRule(**fields)
    _check(actor, ADD, rule)
    _sso_rule_refuse_escalation(actor, rule)
    rule.full_clean()
    rule.save()
    audit.record(audit.SSO_RULE_CREATED, rule, actor=actor, after=audit.snapshot(rule, SSO_RULE_FIELDS))
    return rule


@transaction.atomic
def sso_rule_update(*, actor: User, rule_id: int, **fields: Any) -> SsoRule:
    """Change a rule (including enabling or disabling it). Unknown field names are refused."""
    rule = policy.get_for_update(SsoRule.objects.all(), actor, CHANGE, pk=rule_id)
    before = audit.snapshot(rule, SSO_RULE_FIELDS)
    for name, value in fields.items():
        if name not in SSO_RULE_FIELDS:
            raise TypeError(f"not an SSO rule field: {name}")
        setattr(rule, name, value)
    _sso_rule_refuse_escalation(actor, rule)
    rule.full_clean()
    rule.save()
    after = audit.snapshot(rule, SSO_RULE_FIELDS)
    if after != before:
        audit.record(audit.SSO_RULE_CHANGED, rule, actor=actor, before=before, after=after)
    return rule


@transaction.atomic
def sso_rule_delete(*, actor: User, rule_id: int) -> None:
    """Delete a rule and, at once, the memberships and grants it gave (each audited).

    Waiting for each person's next sign-in would leave the access in place for
    people who never sign in again, and a membership whose rule is gone could
    no longer be told apart from one added by hand. Someone another rule also
    matches gets the membership back at their next sign-in.
    """
    rule = policy.get_for_update(SsoRule.objects.all(), actor, DELETE, pk=rule_id)
    audit.record(audit.SSO_RULE_DELETED, rule, actor=actor, before=audit.snapshot(rule, SSO_RULE_FIELDS))
    reason = f"The SSO rule “{rule.name}” that gave it was deleted."
    for grant_id in Grant.objects.active().filter(sso_rule=rule).values_list("pk", flat=True):
        grant_revoke(actor=actor, grant_id=grant_id, reason=reason)
    for membership in Membership.objects.filter(sso_rule=rule).select_related("team", "user"):
        membership_remove(actor=actor, team=membership.team, user=membership.user)
    rule.delete()


# --- IdP identities -------------------------------------------------------------
#
# An IdP identity linked to an account signs into it, sets its e-mail and drives its
# SSO grants at every sign-in. People never link one themselves (the sign-in refuses
# allauth's connect flow); a platform administrator may, in the admin, to join an
# account to the identity its owner really has. Each link, move and unlink is audited
# with both accounts, the provider and the subject.


def _identity(account: SocialAccount) -> dict[str, str]:
    return {"user": account.user.get_username(), "provider": account.provider, "subject": account.uid}


@transaction.atomic
def identity_link(*, actor: User, account: SocialAccount) -> SocialAccount:
    """Save ``account`` (an IdP identity and the user it now belongs to): a new link, or a move to another user."""
    previous = (
        SocialAccount.objects.select_for_update().select_related("user").filter(pk=account.pk).first()
        if account.pk is not None
        else None
    )
    policy.require(actor, CHANGE if previous is not None else ADD, account)
    account.save()
    audit.record(
        audit.IDENTITY_LINKED,
        account,
        actor=actor,
        object_repr=f"{account.provider}:{account.uid}",
        before=_identity(previous) if previous is not None else None,
        after=_identity(account),
    )
    return account


@transaction.atomic
def identity_unlink(*, actor: User, account_id: int) -> None:
    """Delete an IdP identity's link: it signs into nothing until it signs in anew (a new account) or is linked."""
    account = policy.get_for_update(SocialAccount.objects.select_related("user"), actor, DELETE, pk=account_id)
    audit.record(
        audit.IDENTITY_UNLINKED,
        account,
        actor=actor,
        object_repr=f"{account.provider}:{account.uid}",
        before=_identity(account),
    )
    account.delete()


# --- access reviews (SOC2) --------------------------------------------------------
#
# Who reviews which grant: the team the grant concerns. That is the grant's
# team limit, else the team it is granted to, else (a grant to a person with
# no team limit) the person's team, first by name: their lead knows whether
# they still need it. A grant that concerns no team (a person in no team
# holding a role everywhere, such as the manager or the auditor) goes to the
# platform bucket (``team`` empty), which only people holding
# ``access.review`` on everything (platform admins) may decide.
# Nobody decides an item about a grant made to themselves.

REVIEWABLE_SOURCES = [Grant.Source.MANUAL, Grant.Source.SSO]
_REVIEW_OPEN_LOCK = 0x726576696577  # "review": serialises the opening of campaigns


def _grant_evidence(grant: Grant) -> dict[str, Any]:
    return {
        "grant_id": grant.pk,
        "grantee": grant.grantee_label,
        "role": grant.role.name,
        "scope": grant.scope_label,
        "source": grant.source,
        "reason": grant.reason,
        "granted_at": grant.created_at.isoformat(),
        "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
    }


@transaction.atomic
def access_review_open(*, actor: User, name: str, deadline: datetime) -> AccessReview:
    """Open a campaign: every active manual and SSO grant becomes an item for its team to confirm or revoke.

    Opening an open campaign's name again returns that campaign (a double submit opens one).
    """
    review = AccessReview(name=name.strip(), opened_by=actor, deadline=deadline)
    _check(actor, ADD, review)
    if deadline <= timezone.now():
        raise ValidationError({"deadline": "The deadline must be in the future."})
    review.full_clean()
    # One campaign opener at a time, so a double submit finds the campaign the first one opened.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_REVIEW_OPEN_LOCK])
    existing = AccessReview.objects.filter(name=review.name, status=AccessReview.Status.OPEN).first()
    if existing is not None:
        return existing
    review.save()
    grants = list(
        Grant.objects.active()
        .filter(source__in=REVIEWABLE_SOURCES)
        .select_related("role", "user", "grantee_team", "team", "region")
        .order_by("pk")
    )
    home_team: dict[int, int] = {}
    people = {grant.user_id for grant in grants if grant.user_id is not None}
    for user_id, team_id in (
        Membership.objects.filter(user_id__in=people).order_by("-team__name").values_list("user_id", "team_id")
    ):
        home_team[user_id] = team_id  # the last written is the first by name
    items = [
        AccessReviewItem(
            review=review,
            grant=grant,
            team_id=grant.team_id or grant.grantee_team_id or home_team.get(grant.user_id or 0),
            snapshot=_grant_evidence(grant),
        )
        for grant in grants
    ]
    AccessReviewItem.objects.bulk_create(items)
    audit.record(
        audit.REVIEW_OPENED,
        review,
        actor=actor,
        after={"name": review.name, "deadline": review.deadline, "items": len(items)},
    )
    return review


@transaction.atomic
def access_review_decide(*, actor: User, item_id: int, decision: str, note: str = "") -> AccessReviewItem:
    """Confirm or revoke one grant of an open review. Repeating the same decision changes nothing."""
    item = policy.get_for_update(AccessReviewItem.objects.all(), actor, REVIEW, pk=item_id)
    review = AccessReview.objects.select_for_update().get(pk=item.review_id)
    grant = Grant.objects.get(pk=item.grant_id)
    if decision not in {AccessReviewItem.Decision.CONFIRMED, AccessReviewItem.Decision.REVOKED}:
        raise ValidationError({"decision": "Choose confirm or revoke."})
    if item.decision == decision:
        return item
    if review.status != AccessReview.Status.OPEN:
        raise ValidationError("This review is closed; its decisions are kept as evidence and no longer change.")
    if item.decision != AccessReviewItem.Decision.PENDING:
        raise ValidationError(f"This grant was already {item.get_decision_display().lower()} in this review.")
    if grant.user_id == actor.pk:
        raise PermissionDenied("Nobody reviews their own access: another reviewer must decide this grant.")
    if decision == AccessReviewItem.Decision.REVOKED and not note.strip():
        raise ValidationError({"note": "Say why this access is revoked; the note is kept as evidence."})
    item.decision = decision
    item.decided_by = actor
    item.decided_at = timezone.now()
    item.note = note.strip()
    item.save(update_fields=["decision", "decided_by", "decided_at", "note"])
    if decision == AccessReviewItem.Decision.REVOKED:
        grant_revoke(
            actor=None, grant_id=grant.pk, reason=f"Access review “{review.name}”: {item.note}", reviewer=actor
        )
    audit.record(
        audit.REVIEW_DECIDED,
        item,
        actor=actor,
        after={"decision": decision, "note": item.note, "grant": item.grant_id},
        team=item.team,
    )
    return item


def _review_outcome(review: AccessReview, closed_by: User | None) -> dict[str, Any]:
    items = review.items.select_related("team", "decided_by").order_by("team__name", "pk")
    counts = dict.fromkeys(AccessReviewItem.Decision.values, 0)
    decisions = []
    for item in items:
        counts[item.decision] += 1
        decisions.append(
            {
                "item": item.pk,
                **item.snapshot,
                "team": item.team.name if item.team else "platform",
                "decision": item.decision,
                "decided_by": item.decided_by.get_username() if item.decided_by else "system",
                "decided_at": item.decided_at.isoformat() if item.decided_at else None,
                "note": item.note,
            }
        )
    return {
        "closed_at": review.closed_at.isoformat() if review.closed_at else None,
        "closed_by": closed_by.get_username() if closed_by else "system (deadline passed)",
        "deadline": review.deadline.isoformat(),
        "counts": counts,
        "decisions": decisions,
    }


@transaction.atomic
def access_review_close(*, actor: User | None, review_id: int) -> AccessReview:
    """Close a review: every still-pending item's grant is revoked ("unreviewed by the deadline"),
    and the outcome (counts and every decision with who and when) is frozen into ``outcome``.

    ``actor`` None: the deadline task. Closing a closed review changes nothing.
    """
    if actor is not None:
        review = policy.get_for_update(AccessReview.objects.all(), actor, CHANGE, pk=review_id)
    else:
        review = AccessReview.objects.select_for_update().get(pk=review_id)
    if review.status == AccessReview.Status.CLOSED:
        return review
    now = timezone.now()
    # Ordered by pk: the default ordering joins the (nullable) team, which FOR UPDATE refuses.
    pending = review.items.select_for_update().filter(decision=AccessReviewItem.Decision.PENDING).order_by("pk")
    for item in pending:
        grant_revoke(
            actor=None, grant_id=item.grant_id, reason=f"Unreviewed by the deadline of access review “{review.name}”."
        )
        item.decision = AccessReviewItem.Decision.EXPIRED
        item.decided_at = now
        item.save(update_fields=["decision", "decided_at"])
    review.status = AccessReview.Status.CLOSED
    review.closed_at = now
    review.outcome = _review_outcome(review, actor)
    review.save(update_fields=["status", "closed_at", "outcome"])
    audit.record(
        audit.REVIEW_CLOSED,
        review,
        actor=actor,
        after={"counts": review.outcome["counts"]},
        actor_label=None if actor is not None else "system",
    )
    return review


def access_reviews_expire_overdue(*, now: datetime | None = None) -> list[int]:
    """Close every open review whose deadline has passed (run by the beat task). Returns their ids."""
    now = now or timezone.now()
    overdue = list(
        AccessReview.objects.filter(status=AccessReview.Status.OPEN, deadline__lte=now).values_list("pk", flat=True)
    )
    for review_id in overdue:
        access_review_close(actor=None, review_id=review_id)
    return overdue
