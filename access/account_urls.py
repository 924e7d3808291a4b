"""The parts of django-allauth the portal exposes, under ``accounts/``.

Only what sign-in needs: local sign-in and sign-out, re-authentication, MFA,
and the OpenID Connect hand-shake, served by the portal's own views
(:mod:`access.oidc`) under allauth's URL names: allauth's views would check
less. Left out on purpose: self sign-up's forms, e-mail management (an e-mail
a person could add themselves must never be trusted), password reset by
e-mail and setting a local password (an SSO user with a local password could
keep signing in after the IdP removed them), and linking or unlinking IdP
accounts (the connections page; the hand-shake refuses ``?process=connect``
too). Only a platform administrator links identities, in the admin. The
break-glass administrator's password is changed with ``manage.py changepassword``.
"""

from __future__ import annotations

from allauth.account import urls as account_urls
from allauth.socialaccount import urls as socialaccount_urls
from django.urls import URLPattern, URLResolver, include, path

from access import oidc

ACCOUNT_PAGES = {
    "account_login",
    "account_logout",
    "account_inactive",
    "account_reauthenticate",
    # allauth links to it; with sign-up closed it only says so.
    "account_signup",
}
SOCIALACCOUNT_PAGES = {"socialaccount_login_cancelled", "socialaccount_login_error", "socialaccount_signup"}


def _only(patterns: list[URLPattern | URLResolver], names: set[str]) -> list[URLPattern | URLResolver]:
    return [entry for entry in patterns if isinstance(entry, URLPattern) and entry.name in names]


urlpatterns: list[URLPattern | URLResolver] = [
    *_only(account_urls.urlpatterns, ACCOUNT_PAGES),
    path("2fa/", include("allauth.mfa.urls")),
    path("3rdparty/", include(_only(socialaccount_urls.urlpatterns, SOCIALACCOUNT_PAGES))),
    path("oidc/<str:provider_id>/login/", oidc.login, name="openid_connect_login"),
    path("oidc/<str:provider_id>/login/callback/", oidc.callback, name="openid_connect_callback"),
]
