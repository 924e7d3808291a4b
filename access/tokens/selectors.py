"""Reads of API tokens: a person's own, the one a presented secret names, and who may revoke one."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from access import policy
from access.models import ApiToken, Grant, User


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first. A token is its owner's: nobody else lists it."""
    return ApiToken.objects.filter(owner=user).select_related("team", "role")


def api_token_by_prefix(*, prefix: str) -> ApiToken | None:
    """The token a presented secret claims to be, with what authentication checks next."""
    return ApiToken.objects.select_related("owner", "team", "role").filter(prefix=prefix).first()


def api_token_may_revoke(*, actor: User, token: ApiToken) -> bool:
    """The owner, or whoever may revoke access (``access.delete``) on the token's team."""
    if token.owner_id == actor.pk:
        return True
    return policy.can(actor, policy.DELETE, Grant(team_id=token.team_id))


def api_token_revocable(*, user: User, pk: int) -> ApiToken:
    """The token if ``user`` may revoke it; otherwise 404, so another person's token does not leak."""
    token = ApiToken.objects.select_related("team", "role", "owner").filter(pk=pk).first()
    if token is None or not api_token_may_revoke(actor=user, token=token):
        raise Http404("No API token matches the given query.")
    return token
