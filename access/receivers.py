"""Sign-in, failed sign-in (a wrong password or two-factor code) and sign-out become audit events;
every SSO sign-in re-applies the SSO rules.

Connected in :meth:`access.apps.AccessConfig.ready`.
"""

from __future__ import annotations

from typing import Any

from allauth.account.signals import user_logged_in as allauth_user_logged_in
from allauth.mfa.signals import authentication_failed as mfa_authentication_failed
from allauth.socialaccount.models import SocialLogin
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_out, user_login_failed
from django.db import transaction
from django.db.models.signals import post_save
from django.http import HttpRequest

from access.audit import services as audit
from access.models import User
from access.oidc import sso_claims


def on_signed_in(*, request: HttpRequest, user: User, sociallogin: SocialLogin | None = None, **kwargs: Any) -> None:
    """Audit the sign-in; after an SSO sign-in make memberships and grants follow the IdP's groups."""
    from access.services import sso_apply

    with transaction.atomic():
        if sociallogin is None:
            audit.record(audit.SIGN_IN, user, actor=user, method="password")
            return
        provider_id = sociallogin.account.provider
        audit.record(
            audit.SIGN_IN, user, actor=user, method="sso", provider=provider_id, subject=sociallogin.account.uid
        )
        settings = sociallogin.account.get_provider(request).app.settings
        claims = sso_claims(sociallogin.account.extra_data)
        groups_claim = settings.get("groups_claim", "groups")
        if groups_claim != "groups":
            claims["groups"] = claims.get(groups_claim, [])
        sso_apply(user=user, provider=provider_id, claims=claims)


def on_sign_in_failed(*, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    """A wrong username or password: audited with the username tried, never the password."""
    with transaction.atomic():
        username = str(credentials.get("username", ""))
        audit.record(
            audit.SIGN_IN_FAILED, actor_label=username, object_repr=username, reason="wrong username or password"
        )


def on_second_factor_failed(*, user: User, reauthentication: bool = False, **kwargs: Any) -> None:
    """A wrong two-factor code, on the sign-in code page, on re-authentication, or with an API password."""
    with transaction.atomic():
        audit.record(
            audit.SIGN_IN_FAILED,
            user,
            actor_label=user.get_username(),
            object_repr=user.get_username(),
            reason="wrong two-factor code (re-authentication)" if reauthentication else "wrong two-factor code",
        )


def on_signed_out(*, request: HttpRequest, user: User | None, **kwargs: Any) -> None:
    if user is None or not user.is_authenticated:
        return
    with transaction.atomic():
        audit.record(audit.SIGN_OUT, user, actor=user)


_ADMIN_VERBS = {
    ADDITION: audit.ADMIN_OBJECT_ADDED,
    CHANGE: audit.ADMIN_OBJECT_CHANGED,
    DELETION: audit.ADMIN_OBJECT_DELETED,
}


def on_admin_change(*, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    """Every add, change and delete made in the Django admin, which writes a LogEntry for each in the
    same transaction as the change, becomes an audit event too (with the changed fields' names)."""
    verb = _ADMIN_VERBS.get(instance.action_flag)
    if not created or verb is None:
        return
    model = instance.content_type.model_class() if instance.content_type is not None else None
    audit.record(
        verb,
        actor=instance.user,
        object_repr=instance.object_repr,
        object_type=model._meta.label_lower if model is not None else "",
        object_id=str(instance.object_id or ""),
        change=instance.get_change_message(),
    )


def connect() -> None:
    post_save.connect(on_admin_change, sender=LogEntry, dispatch_uid="access.admin_change")
    allauth_user_logged_in.connect(on_signed_in, dispatch_uid="access.signed_in")
    user_login_failed.connect(on_sign_in_failed, dispatch_uid="access.sign_in_failed")
    mfa_authentication_failed.connect(on_second_factor_failed, dispatch_uid="access.second_factor_failed")
    user_logged_out.connect(on_signed_out, dispatch_uid="access.signed_out")
