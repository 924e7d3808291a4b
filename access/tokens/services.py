"""Writes of API tokens: creating one (its secret returned once, never stored), revoking one, noting its use."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from access import permissions, policy
from access.audit import services as audit
from access.models import ApiToken, Role, Team, User
from access.tokens import selectors

API_TOKEN_PREFIX = "ppt_"  # noqa: S105 (the marker that names the kind of token, not a secret)
API_TOKEN_FIELDS = ["name", "team", "role", "prefix", "expires_at"]
# How often a token's "last used" is written: at most once a minute, not on every request.
API_TOKEN_USE_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewApiToken:
    """A token just created and its full secret, which exists only here and is shown once."""

    token: ApiToken
    secret: str


def api_token_hash(raw: str) -> str:
    """SHA-256 of the whole token. The secret holds 256 random bits, so a slow hash adds nothing."""
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_prefix_of(raw: str) -> str | None:
    """The prefix of a well-formed ``ppt_<prefix>_<secret>`` token, else None."""
    if not raw.startswith(API_TOKEN_PREFIX):
        return None
    prefix, separator, secret = raw.removeprefix(API_TOKEN_PREFIX).partition("_")
    if not separator or not secret or len(prefix) != 8:
        return None
    return prefix


def api_token_matches(token: ApiToken, raw: str) -> bool:
    return hmac.compare_digest(token.secret_hash, api_token_hash(raw))


def _refuse_token_role(owner: User, team: Team, role: Role) -> None:
    """A token acts for its owner, so it may only carry permissions the owner holds on that team."""
    if owner.is_superuser:
        return
    policy.forget(owner)
    on_team = [rule.permissions for rule in policy.rules_for(owner) if rule.team in (None, team.pk)]
    missing = [
        permission
        for permission in role.permissions
        if not any(permissions.allows(held, permission) for held in on_team)
    ]
    if missing:
        raise ValidationError(
            {
                "role": f"You cannot give a token the {role} role on {team}: a token acts for you, "
                f"and you do not hold {', '.join(sorted(missing))} on {team} yourself."
            }
        )


@transaction.atomic
def api_token_create(*, actor: User, name: str, team: Team, role: Role, expires_at: datetime | None) -> NewApiToken:
    """Create a token acting for ``actor`` with ``role`` on ``team``; the secret is returned once, never stored."""
    if getattr(actor, "api_token", None) is not None:
        raise PermissionDenied("An API token cannot create API tokens; sign in, or use a JWT.")
    name = name.strip()
    errors: dict[str, str] = {}
    now = timezone.now()
    longest = timedelta(days=settings.API_TOKEN_MAX_DAYS)
    if not name:
        errors["name"] = "Give the token a name that says what uses it, e.g. “deploy pipeline”."
    elif ApiToken.objects.filter(owner=actor, name=name).exists():
        errors["name"] = f"You already have a token named “{name}”; pick another name or revoke that one."
    if expires_at is None:
        errors["expires_at"] = "Every token expires: give an expiry date."
    elif expires_at <= now:
        errors["expires_at"] = "The expiry must be in the future."
    elif expires_at > now + longest:
        errors["expires_at"] = f"A token may live at most {settings.API_TOKEN_MAX_DAYS} days."
    if errors:
        raise ValidationError(errors)
    assert expires_at is not None  # noqa: S101 (checked above; tells the type checker)
    _refuse_token_role(actor, team, role)
    secret = secrets.token_urlsafe(32)
    for _attempt in range(5):
        prefix = secrets.token_hex(4)
        raw = f"{API_TOKEN_PREFIX}{prefix}_{secret}"
        token = ApiToken(
            name=name,
            owner=actor,
            team=team,
            role=role,
            prefix=prefix,
            secret_hash=api_token_hash(raw),
            expires_at=expires_at,
        )
        try:
            with transaction.atomic():
                token.save(force_insert=True)
        except IntegrityError as clash:
            if ApiToken.objects.filter(owner=actor, name=name).exists():  # a double submit won the race
                raise ValidationError({"name": f"You already have a token named “{name}”."}) from clash
            continue  # the random prefix is taken: draw another
        audit.record(audit.TOKEN_CREATED, token, actor=actor, after=audit.snapshot(token, API_TOKEN_FIELDS), team=team)
        return NewApiToken(token=token, secret=raw)
    raise RuntimeError("could not draw a free API token prefix")  # 5 clashes of 32 random bits: never


@transaction.atomic
def api_token_revoke(*, actor: User, token_id: int) -> ApiToken:
    """Revoke a token now. Revoking a revoked token changes nothing, so a double submit is safe.

    A token the actor may not revoke is reported as missing (404): its existence does not leak.
    """
    policy.forget(actor)
    token = ApiToken.objects.select_for_update().select_related("team", "role").filter(pk=token_id).first()
    if token is None or not selectors.api_token_may_revoke(actor=actor, token=token):
        raise Http404("No API token matches the given query.")
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit.record(
        audit.TOKEN_REVOKED,
        token,
        actor=actor,
        before={"revoked_at": None},
        after={"revoked_at": token.revoked_at},
        team=token.team,
    )
    return token


def api_token_mark_used(*, token: ApiToken, ip: str | None) -> None:
    """Record that ``token`` was used, at most once a minute: a conditional UPDATE, not a write per request."""
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < API_TOKEN_USE_RESOLUTION:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - API_TOKEN_USE_RESOLUTION)
    ApiToken.objects.filter(stale, pk=token.pk).update(last_used_at=now, last_used_ip=ip)
    token.last_used_at, token.last_used_ip = now, ip
