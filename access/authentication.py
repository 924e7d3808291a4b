"""How API callers prove who they are: named API tokens and JWTs (the browser session is DRF's own).

Both are ``Authorization: Bearer`` tokens. API tokens start with ``ppt_``;
:class:`ApiTokenAuthentication` claims those and leaves every other bearer
token to :class:`JwtAuthentication`. Kept free of imports from
``rest_framework.views``: DRF loads this module while defining ``APIView``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework_simplejwt import exceptions as jwt_exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from access.audit.services import client_ip
from access.models import ApiToken, User
from access.tokens import selectors, services

REALM = 'Bearer realm="api"'


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer ppt_<prefix>_<secret>``: a named API token acting for its owner.

    The request's user is the owner with ``user.api_token`` set, which
    :mod:`access.policy` reads to limit every decision to the token's role on
    the token's team (never more than the owner holds).
    """

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bearer":
            return None
        raw = parts[1].decode("latin-1")
        if not raw.startswith(services.API_TOKEN_PREFIX):
            return None
        prefix = services.api_token_prefix_of(raw)
        token = selectors.api_token_by_prefix(prefix=prefix) if prefix else None
        if token is None or not services.api_token_matches(token, raw):
            raise exceptions.AuthenticationFailed("The API token is not valid.", code="token_not_valid")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("The API token was revoked.", code="token_revoked")
        if token.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed("The API token has expired.", code="token_expired")
        owner = token.owner
        if not owner.is_active:
            raise exceptions.AuthenticationFailed("The API token's owner is deactivated.", code="user_inactive")
        services.api_token_mark_used(token=token, ip=client_ip(request._request))
        owner.api_token = token  # type: ignore[attr-defined]  # read by access.policy
        return owner, token

    def authenticate_header(self, request: Request) -> str:
        return REALM


def plain_failure(error: jwt_exceptions.AuthenticationFailed) -> exceptions.AuthenticationFailed:
    """simplejwt's failures carry a dict as their detail; the API error shape wants a message and a code."""
    detail = error.detail if isinstance(error.detail, dict) else {}
    message = str(detail.get("detail", "The token is not valid."))
    if isinstance(error, jwt_exceptions.InvalidToken) and not detail.get("messages"):
        message = f"The token is not valid: {message}."
    return exceptions.AuthenticationFailed(message, code=str(detail.get("code", "token_not_valid")))


class JwtAuthentication(JWTAuthentication):
    """simplejwt's access-token check, with its errors in the portal's API error shape."""

    def authenticate(self, request: Request) -> Any:
        try:
            return super().authenticate(request)
        except jwt_exceptions.InvalidToken as invalid:
            raise exceptions.AuthenticationFailed(
                "The access token is not valid or has expired; get a new one from /api/auth/token/refresh/.",
                code="token_not_valid",
            ) from invalid
        except jwt_exceptions.AuthenticationFailed as failed:
            raise plain_failure(failed) from failed


def blacklist_refresh_tokens(*, user: User) -> int:
    """Blacklist every refresh token of ``user`` that is still outstanding; returns how many."""
    outstanding = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now()).exclude(
        blacklistedtoken__isnull=False
    )
    created = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    return len(created)


@receiver(user_logged_out, dispatch_uid="access.authentication.end_api_sessions")
def _end_api_sessions_on_sign_out(sender: Any, request: Any, user: User | None, **kwargs: Any) -> None:
    """Signing out of the browser signs the person's API clients out too (their refresh tokens)."""
    if user is not None:
        blacklist_refresh_tokens(user=user)
