"""OpenID Connect as the portal speaks it: allauth's ``openid_connect`` provider, with every check the specs ask for.

allauth decodes the ID token that comes back from the token endpoint without
checking its signature (OpenID Connect Core 1.0 §3.1.3.7 allows it when TLS
protects the token endpoint), so an ``alg: none`` token, or one signed with
anybody's key, signed people in whenever that channel was not what it should
be. The portal's adapter (:class:`OpenIDConnectAdapter`) trusts an answer only
when:

- the discovery document names the configured issuer, and it and every endpoint
  it names are https (:func:`access.sso.transport_refusal`);
- the authorisation response's RFC 9207 ``iss`` parameter, when present, is that
  issuer, and is present when the provider advertises
  ``authorization_response_iss_parameter_supported``;
- the ID token is signed with a key of the issuer's JWKS (asymmetric algorithms
  only: never ``none``, never a shared secret) and its issuer, audience,
  ``azp``, expiry and issue time are right;
- userinfo, when fetched, is about the ID token's subject (§5.3.2).

Any other answer raises :class:`AnswerRefused`; allauth hands it to the social
adapter's ``on_authentication_error`` (:mod:`access.adapters`), which audits it
and shows a 403 page, never a 500.

Sign-in is the only flow: allauth's ``?process=connect`` would link the identity
someone signs in with at the IdP to the account signed in here, so the login
view refuses every other process (:class:`LinkingRefused`) before anything is
stashed, and ignores scopes and authorisation parameters a link could smuggle
in. allauth's own views build its stock adapter, so the portal routes
``accounts/oidc/<id>/login/`` and ``…/callback/`` to :func:`login` and
:func:`callback` under allauth's URL names (:mod:`access.account_urls`).
"""

from __future__ import annotations

from typing import Any

import jwt
import requests
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.models import SocialApp, SocialLogin, SocialToken
from allauth.socialaccount.providers.base.constants import AuthProcess
from allauth.socialaccount.providers.oauth2.client import OAuth2Client, OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from allauth.utils import get_request_param
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse

from access.sso import transport_refusal

# Signature algorithms of public keys a JWKS can publish (RFC 7518 §3.1, RFC 8037).
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# How far the IdP's clock may be ahead of or behind the portal's for exp and iat.
CLOCK_SKEW_SECONDS = 60
REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat"]


class AnswerRefused(OAuth2Error):
    """An answer of the identity provider the portal does not trust. ``reason`` is audited, never shown."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LinkingRefused(OAuth2Error):
    """A flow other than sign-in (allauth's ``connect`` or ``redirect``): the portal links no identities."""

    def __init__(self, process: str) -> None:
        super().__init__(f"process {process!r}")
        self.process = process


def sso_claims(data: dict[str, Any]) -> dict[str, Any]:
    """The IdP's claims about the person: the ID token's, completed (and overridden) by userinfo's."""
    id_token = data.get("id_token") or {}
    userinfo = data.get("userinfo") or {}
    if not id_token and not userinfo:
        return dict(data)
    return {**id_token, **userinfo}


# --- the checks -------------------------------------------------------------------


def check_discovery(config: dict[str, Any], *, issuer: str) -> None:
    """Refuse a discovery document that is not the configured issuer's, or that sends the portal over http.

    OpenID Connect Discovery §4.3: its ``issuer`` is the URL it was fetched under
    (the portal keeps issuers without their trailing slash, so that is the only
    difference allowed). A token endpoint over http would carry the client secret
    and the code in the clear, whatever the issuer's own scheme.
    """
    named = config.get("issuer")
    if not isinstance(named, str) or named.rstrip("/") != issuer.rstrip("/"):
        raise AnswerRefused(f"the discovery document names the issuer {named!r}, not {issuer!r}")
    for name in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
        url = config.get(name)
        if url is None and name == "userinfo_endpoint":
            continue
        if not isinstance(url, str) or not url:
            raise AnswerRefused(f"the discovery document has no {name}")
        refusal = transport_refusal(url, settings.SSO_PLAIN_HTTP)
        if refusal is not None:
            raise AnswerRefused(f"the {name.replace('_', ' ')} {url} {refusal}")


def check_authorization_response_issuer(request: HttpRequest, config: dict[str, Any]) -> None:
    """RFC 9207 §2.4: the ``iss`` of the authorisation response is the issuer the request went to.

    A provider that advertises the parameter must send it; one that does not may
    leave it out, but a wrong one is refused whatever it advertises.
    """
    if "iss" in request.GET:
        named = request.GET["iss"]
    elif "iss" in request.POST:
        named = request.POST["iss"]
    else:
        if config.get("authorization_response_iss_parameter_supported") is True:
            raise AnswerRefused(
                "the authorisation response names no issuer, although the provider advertises that it always does "
                "(RFC 9207)"
            )
        return
    if named != config["issuer"]:
        raise AnswerRefused(f"the authorisation response names the issuer {named!r}, not {config['issuer']!r}")


def _signing_key(keys: dict[str, Any], *, kid: Any, algorithm: str) -> jwt.PyJWK:
    """The key of the issuer's JWKS that the token header names (or its only signing key when it names none)."""
    published = keys.get("keys")
    if not isinstance(published, list):
        raise AnswerRefused("the issuer's JWKS lists no keys")
    candidates = [
        entry
        for entry in published
        if isinstance(entry, dict) and entry.get("use", "sig") == "sig" and (kid is None or entry.get("kid") == kid)
    ]
    if not candidates:
        raise AnswerRefused(f"the ID token's key {kid!r} is not in the issuer's JWKS")
    if len(candidates) > 1:
        # OpenID Connect Core §10.1: with several keys, the header must say which one (and only one may match).
        raise AnswerRefused(f"the ID token's key {kid!r} matches {len(candidates)} keys of the issuer's JWKS")
    entry = candidates[0]
    if entry.get("alg", algorithm) != algorithm:
        raise AnswerRefused(f"the issuer's key {kid!r} is for {entry.get('alg')!r}, the ID token says {algorithm!r}")
    try:
        return jwt.PyJWK(entry, algorithm=algorithm)
    except jwt.PyJWTError:
        raise AnswerRefused(f"the issuer's key {kid!r} cannot verify {algorithm!r} signatures") from None


def verify_id_token(id_token: str, *, keys: dict[str, Any], issuer: str, client_id: str) -> dict[str, Any]:
    """The ID token's claims, once its signature (by a key of ``keys``, the issuer's JWKS) and claims check out."""
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError:
        raise AnswerRefused("the ID token is not a signed JWT") from None
    algorithm = header.get("alg")
    if algorithm not in ASYMMETRIC_ALGORITHMS:
        raise AnswerRefused(f"the ID token is not signed with a key of the issuer (alg {algorithm!r})")
    key = _signing_key(keys, kid=header.get("kid"), algorithm=algorithm)
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key.key,
            algorithms=[algorithm],
            audience=client_id,
            issuer=issuer,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.InvalidSignatureError:
        raise AnswerRefused(f"the ID token's signature does not verify with the issuer's key {key.key_id!r}") from None
    except jwt.PyJWTError as error:
        raise AnswerRefused(f"the ID token is not valid: {error}") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    authorized_party = claims.get("azp")
    # OpenID Connect Core §3.1.3.7, items 4 and 5.
    if authorized_party is not None and authorized_party != client_id:
        raise AnswerRefused(f"the ID token was issued to {authorized_party!r} (azp), not to this portal")
    if len(audiences) > 1 and authorized_party is None:
        raise AnswerRefused("the ID token names several audiences and no authorised party (azp)")
    return claims


# --- allauth's provider and adapter, with the checks -------------------------------------


class OpenIDConnectAdapter(OpenIDConnectOAuth2Adapter):
    """allauth's OpenID Connect adapter with the checks of the module docstring."""

    def __init__(self, request: HttpRequest, provider_id: str) -> None:
        super().__init__(request, provider_id)
        self._discovery_checked = False

    @property
    def openid_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().openid_config
        if not self._discovery_checked:
            check_discovery(config, issuer=self.get_provider().app.settings["server_url"])
            self._discovery_checked = True
        return config

    def get_access_token_data(
        self, request: HttpRequest, app: SocialApp, client: OAuth2Client, pkce_code_verifier: str | None = None
    ) -> dict[str, Any]:
        # Before the code is spent at the token endpoint (RFC 9207 §2.4).
        check_authorization_response_issuer(request, self.openid_config)
        data: dict[str, Any] = super().get_access_token_data(
            request, app, client, pkce_code_verifier=pkce_code_verifier
        )
        return data

    def complete_login(self, request: HttpRequest, app: SocialApp, token: SocialToken, **kwargs: Any) -> SocialLogin:
        id_token = (kwargs.get("response") or {}).get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise AnswerRefused("the token response carries no ID token")
        config = self.openid_config
        claims = verify_id_token(
            id_token, keys=self._fetch_json(config["jwks_uri"]), issuer=config["issuer"], client_id=app.client_id
        )
        data: dict[str, Any] = {"id_token": claims}
        if app.settings.get("fetch_userinfo", True) and config.get("userinfo_endpoint"):
            userinfo = self._fetch_json(config["userinfo_endpoint"], access_token=token.token)
            if userinfo.get("sub") != claims["sub"]:
                raise AnswerRefused("userinfo is about another subject than the ID token")
            data["userinfo"] = userinfo
        login: SocialLogin = self.get_provider().sociallogin_from_response(request, data)
        return login

    def _fetch_json(self, url: str, *, access_token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
        with get_adapter().get_requests_session() as session:
            response = session.get(url, headers=headers)
            response.raise_for_status()
            document = response.json()
        if not isinstance(document, dict):
            raise AnswerRefused(f"{url} did not answer with a JSON object")
        return document


class PortalOpenIDConnectProvider(OpenIDConnectProvider):
    """allauth's OpenID Connect provider, through :class:`OpenIDConnectAdapter`, asking only what is configured."""

    oauth2_adapter_class = OpenIDConnectAdapter
    # Signing in by posting an ID token (allauth's headless token flow) is not offered.
    supports_token_authentication = False

    def get_scope_from_request(self, request: HttpRequest) -> list[str]:
        # allauth would add any ?scope= of the sign-in link; the configured scopes are the only ones asked for.
        scope: list[str] = self.get_scope()
        return scope

    def get_auth_params_from_request(self, request: HttpRequest, action: str) -> dict[str, Any]:
        # allauth would copy any ?auth_params= of the sign-in link (response_type, redirect_uri…) into the request.
        params: dict[str, Any] = self.get_auth_params()
        return params


class EntraProvider(PortalOpenIDConnectProvider):
    """Microsoft Entra ID: a person is ``tid:oid`` (tenant and object id), both immutable.

    Entra's ``sub`` is pairwise per application, and ``email``/``upn`` can be
    changed by a tenant administrator; ``oid`` is the directory object itself.
    """

    def extract_uid(self, data: dict[str, Any]) -> str:
        claims = sso_claims(data)
        tenant, object_id = claims.get("tid"), claims.get("oid")
        if not tenant or not object_id:
            # Refused in pre_social_login; a uid that can match nobody keeps the lookup harmless.
            return f"missing-tid-or-oid:{claims.get('sub', '')}"
        return f"{tenant}:{object_id}"


def provider_for(request: HttpRequest, app: SocialApp) -> PortalOpenIDConnectProvider:
    """The portal's provider for one configured OpenID Connect app."""
    provider_class = EntraProvider if app.settings.get("kind") == "entra" else PortalOpenIDConnectProvider
    return provider_class(request, app=app)


# --- the two views of the hand-shake ------------------------------------------------


class LoginView(OAuth2LoginView):
    """The "Sign in with …" button's target: sign-in only, and an unreachable or untrusted issuer is a clean page."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        provider = self.get_provider()
        process = get_request_param(request, "process") or AuthProcess.LOGIN
        if process != AuthProcess.LOGIN:
            response: HttpResponse = render_authentication_error(
                request, provider, exception=LinkingRefused(str(process))
            )
            return response
        try:
            response = super().dispatch(request, *args, **kwargs)
        except (OAuth2Error, requests.RequestException) as error:
            # Reading the discovery document, before anyone is sent to the IdP.
            response = render_authentication_error(request, provider, exception=error)
        return response


class CallbackView(OAuth2CallbackView):
    """Where the IdP sends people back: every failure, including reading discovery, is a clean page."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response: HttpResponse = super().dispatch(request, *args, **kwargs)
        except (OAuth2Error, requests.RequestException) as error:
            # allauth catches these around the token exchange only, not around reading discovery.
            response = render_authentication_error(request, self.adapter.get_provider(), exception=error)
        return response


@login_not_required
def login(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        response: HttpResponse = LoginView.adapter_view(OpenIDConnectAdapter(request, provider_id))(request)
    except SocialApp.DoesNotExist:
        raise Http404("No such identity provider.") from None
    return response


@login_not_required
def callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        response: HttpResponse = CallbackView.adapter_view(OpenIDConnectAdapter(request, provider_id))(request)
    except SocialApp.DoesNotExist:
        raise Http404("No such identity provider.") from None
    return response
