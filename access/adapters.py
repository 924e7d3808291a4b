"""How django-allauth signs people in here: the portal's trust rules for local and SSO accounts.

Local accounts (the break-glass administrator) sign in with username and
password; nobody signs themselves up. Everyone else comes through an OpenID
Connect provider configured in ``PORTAL_SSO_PROVIDERS`` (:mod:`access.sso`), and
:class:`SocialAccountAdapter` decides whom to trust:

- people are keyed on immutable claims: Entra's ``tid`` + ``oid``, otherwise
  ``sub``; never on ``email`` or ``preferred_username``, which an IdP admin can change;
- only an e-mail the IdP marks ``email_verified: true`` is trusted;
- a tenant (``tid``) or Workspace domain (``hd``) outside the provider's allow-list is refused;
- nobody is matched to an existing account by e-mail, and a new identity whose
  e-mail belongs to another account is refused (no account takeover);
- sign-in is the only flow: nobody links another IdP identity to their account
  (allauth's ``connect``), which would let that identity sign in, set the
  account's e-mail and drive its SSO grants; only a platform administrator
  links identities, in the admin, audited (:func:`access.services.identity_link`);
- the IdP's answer itself is checked by :mod:`access.oidc` (signed ID token, issuer, https).

Every refusal is a 403 page that says why, and an ``auth.sign_in_failed`` audit event.

Failed password sign-ins are counted per normalised username and per client
address (:func:`sign_in_key`), whichever way the password was tried: the sign-in
form, re-authentication, or the API's ``/api/auth/token/``
(:func:`access.services.api_sign_in`). Two-factor secrets are stored encrypted
with the portal's keys (:class:`MfaAdapter`).
"""

from __future__ import annotations

import unicodedata
from typing import Any

import requests
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from allauth.socialaccount.providers.base.constants import AuthProcess
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from access.audit import services as audit
from access.models import User
from access.oidc import AnswerRefused, LinkingRefused, PortalOpenIDConnectProvider, provider_for, sso_claims
from portal import crypto

LINKING_REFUSED_REASON = "linking another identity is refused"


def linking_refused_message() -> str:
    return _(
        "The portal does not link another identity provider account to yours. Sign in with the account you use "
        "here; if two accounts of yours need joining, ask a platform administrator."
    )


class SignInRefused(Exception):
    """An SSO sign-in the trust rules refuse; the message is shown to the person."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def refusal_page(request: HttpRequest, message: str) -> HttpResponse:
    return render(
        request,
        "error.html",
        {"status": 403, "title": _("Sign-in refused"), "message": message, "sign_in_again": True},
        status=403,
    )


def record_sign_in_failed(*, username: str, reason: str, **extra: Any) -> None:
    """Audit a refused sign-in: who tried (never the password) and why."""
    with transaction.atomic():
        audit.record(audit.SIGN_IN_FAILED, actor_label=username, object_repr=username, reason=reason, **extra)


def sign_in_key(username: str) -> str:
    """What failed sign-ins of ``username`` are counted under: the username as the account lookup sees it.

    Surrounding spaces dropped and case folded (allauth finds the account by the
    lower-cased username, so "Ada" and "ada " are the same account), Unicode
    compatibility forms folded too. Nothing from the request goes in: every
    spelling and every way in that reaches one account shares one count.
    """
    return unicodedata.normalize("NFKC", username.strip().lower()).casefold()


class AccountAdapter(DefaultAccountAdapter):
    """Local accounts: no self sign-up; refused and rate-limited attempts are audited."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        """The key of the per-username limit of ``ACCOUNT_RATE_LIMITS["login_failed"]``.

        allauth's own puts the site's domain in front, which without the sites
        framework is the request's ``Host`` header, port included: a client that
        changed the port got a fresh count, and a locked account signed in. The
        per-address part of the limit is allauth's, keyed on the client address.
        """
        return sign_in_key(str(credentials.get("username", "")))

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError:
            record_sign_in_failed(username=str(credentials.get("username", "")), reason="too many failed sign-ins")
            raise


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """SSO accounts: created by the first sign-in, trusted only under the rules in the module docstring."""

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return True

    def get_provider(self, request: HttpRequest, provider: str, client_id: str | None = None) -> Any:
        found = super().get_provider(request, provider, client_id=client_id)
        if isinstance(found, OpenIDConnectProvider) and not isinstance(found, PortalOpenIDConnectProvider):
            return provider_for(request, found.app)
        return found

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        settings = sociallogin.account.get_provider(request).app.settings
        claims = sso_claims(sociallogin.account.extra_data)
        provider_id = sociallogin.account.provider
        try:
            email = self._check(settings, claims, sociallogin)
        except SignInRefused as refusal:
            record_sign_in_failed(
                username=str(claims.get("email") or claims.get("sub") or ""),
                reason=refusal.reason,
                provider=provider_id,
                subject=sociallogin.account.uid,
            )
            raise ImmediateHttpResponse(refusal_page(request, refusal.message)) from None
        if sociallogin.is_existing:
            self._follow_email_change(sociallogin.user, email, provider_id)

    def _check(self, settings: dict[str, Any], claims: dict[str, Any], sociallogin: SocialLogin) -> str:
        """Apply the trust rules; return the verified e-mail."""
        # The login view refuses other flows before anyone goes to the IdP; whatever put one in the
        # session, it ends here, before allauth saves a link (allauth's maintainers point to this hook).
        if (sociallogin.state.get("process") or AuthProcess.LOGIN) != AuthProcess.LOGIN:
            raise SignInRefused(LINKING_REFUSED_REASON, linking_refused_message())
        kind = settings.get("kind", "oidc")
        if kind == "entra" and not (claims.get("tid") and claims.get("oid")):
            raise SignInRefused(
                "missing tid or oid",
                _("Your identity provider did not say which directory and account you are (tid and oid claims)."),
            )
        allowed_tenants = settings.get("allowed_tenants") or []
        if allowed_tenants and claims.get("tid") not in allowed_tenants:
            raise SignInRefused(
                f"tenant {claims.get('tid')!r} is not allowed",
                _("Your organisation's directory is not allowed to sign in here. Ask the platform team to add it."),
            )
        email = str(claims.get("email") or "").strip()
        if not email:
            raise SignInRefused(
                "no e-mail", _("Your identity provider did not send an e-mail address. Ask its administrator.")
            )
        # Entra ID does not send email_verified; its optional claim xms_edov says the same
        # (the e-mail's domain is verified by the tenant that owns it).
        vouched = claims.get("email_verified") is True or (
            kind == "entra" and claims.get("xms_edov") in (True, "1", "true")
        )
        if not vouched:
            raise SignInRefused(
                "e-mail not verified",
                _(
                    "Your identity provider does not vouch for your e-mail address (it is not verified). "
                    "Verify it there, or ask its administrator, then sign in again."
                ),
            )
        allowed_domains = settings.get("allowed_domains") or []
        if allowed_domains:
            domain = str(claims.get("hd") or "").lower() if kind == "google" else email.rpartition("@")[2].lower()
            if domain not in allowed_domains:
                raise SignInRefused(
                    f"domain {domain!r} is not allowed",
                    _("Accounts of your domain are not allowed to sign in here. Sign in with your work account."),
                )
        others = User.objects.filter(Q(email__iexact=email) | Q(emailaddress__email__iexact=email))
        if sociallogin.is_existing:
            others = others.exclude(pk=sociallogin.user.pk)
        if others.exists():
            raise SignInRefused(
                "e-mail belongs to another account",
                _(
                    "Another account here already uses your e-mail address, so this sign-in cannot be linked to it "
                    "automatically. Ask a platform administrator to sort the accounts out."
                ),
            )
        return email

    def _follow_email_change(self, user: User, email: str, provider_id: str) -> None:
        """Same subject, new e-mail: the same account, with its e-mail updated (audited)."""
        if user.email.lower() == email.lower():
            return
        before = user.email
        with transaction.atomic():
            User.objects.filter(pk=user.pk).update(email=email)
            user.email = email
            # allauth's own record of the person's addresses follows, so the old one is free again.
            EmailAddress.objects.filter(user=user).delete()
            EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
            audit.record(
                audit.USER_EMAIL_CHANGED,
                user,
                actor=user,
                before={"email": before},
                after={"email": email},
                provider=provider_id,
            )

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: Any = None,
        extra_context: Any = None,
    ) -> None:
        """Every SSO flow that ends without a sign-in: a clean 403 page saying why, audited.

        A refused flow (linking), an IdP answer the portal does not trust (:mod:`access.oidc`), an
        IdP that could not be reached, or a failed hand-shake (cancelled, replayed or forged ``state``).
        """
        provider_id = getattr(getattr(provider, "app", None), "provider_id", "") or getattr(provider, "id", "")
        if isinstance(exception, LinkingRefused):
            user = getattr(request, "user", None)
            record_sign_in_failed(
                username=user.get_username() if user is not None and user.is_authenticated else "",
                reason=LINKING_REFUSED_REASON,
                provider=provider_id,
                process=exception.process,
            )
            raise ImmediateHttpResponse(refusal_page(request, linking_refused_message()))
        if isinstance(exception, AnswerRefused):
            reason, message = (
                f"identity provider's answer refused: {exception.reason}",
                _(
                    "The portal could not verify your identity provider's answer, so you are not signed in. "
                    "Please try again; if it keeps happening, tell the platform team."
                ),
            )
        elif isinstance(exception, requests.RequestException):
            reason, message = (
                f"identity provider unreachable: {type(exception).__name__}",
                _("Your identity provider could not be reached. Please try again in a few minutes."),
            )
        else:
            reason, message = (
                f"SSO hand-shake failed: {error or 'unknown'}",
                _(
                    "The sign-in with your identity provider did not complete "
                    "(it may have expired or been used twice). Please sign in again."
                ),
            )
        record_sign_in_failed(
            username="",
            reason=reason,
            provider=provider_id,
            detail=type(exception).__name__ if exception is not None else "",
        )
        raise ImmediateHttpResponse(refusal_page(request, message))


class MfaAdapter(DefaultMFAAdapter):
    """Two-factor secrets at rest: the TOTP key and the recovery-code seed are Fernet-encrypted.

    allauth keeps them in ``Authenticator.data`` and passes them through these
    hooks; with the portal's keys (``PORTAL_ENCRYPTION_KEYS``, :mod:`portal.crypto`)
    a copy of the database alone cannot mint codes. ``manage.py reencrypt_secrets``
    rotates them with every other secret; rows from before encryption were
    encrypted by migration ``access.0007``, so a plain value here is refused.
    """

    def encrypt(self, text: str) -> str:
        return crypto.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return crypto.decrypt(encrypted_text)
