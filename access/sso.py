"""SSO providers from configuration: ``PORTAL_SSO_PROVIDERS`` (JSON) turned into allauth apps.

Read by :mod:`portal.settings` before the environment is sealed, so it imports
nothing from Django's models. A malformed provider list is reported with the
other configuration errors at start-up, naming the provider and the field.

Each provider is one OpenID Connect app of allauth's ``openid_connect``
provider; the portal's own fields (kind, allow-lists, groups claim) travel in
the app's ``settings`` and are read back by :mod:`access.adapters`.

Issuers are reached over https. Plain http is for development (``DEBUG``) and,
when asked for, for an issuer on this machine's loopback interface (the test
suite's IdP, a sidecar), whose traffic never crosses a network:
:class:`PlainHttp` says which, and the same rule is applied to every endpoint
the issuer's discovery document names (:mod:`access.oidc`).
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from marshmallow import ValidationError

KINDS = ("entra", "google", "oidc")
ENTRA_AUTHORITY = "https://login.microsoftonline.com"
GOOGLE_ISSUER = "https://accounts.google.com"
_PROVIDER_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
PLAIN_HTTP_HELP = (
    "plain http is allowed only with PORTAL_DEBUG, or for an issuer on this machine's loopback address "
    "with PORTAL_SSO_ALLOW_HTTP_LOOPBACK_ISSUERS"
)


class PlainHttp(enum.StrEnum):
    """Which identity-provider URLs may be plain http (the rest must be https)."""

    NEVER = "never"
    LOOPBACK = "loopback"  # 127.0.0.0/8, ::1 and localhost: traffic that never leaves the machine
    ANY = "any"  # development only (DEBUG)


def plain_http_policy(*, debug: bool, allow_loopback: bool) -> PlainHttp:
    return PlainHttp.ANY if debug else PlainHttp.LOOPBACK if allow_loopback else PlainHttp.NEVER


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def transport_refusal(url: str, plain_http: PlainHttp) -> str | None:
    """Why the portal must not talk to ``url`` (an issuer or one of its endpoints), or None if it may."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme != "http" or not parts.hostname:
        return "is not an https URL"
    if plain_http == PlainHttp.ANY or (plain_http == PlainHttp.LOOPBACK and _is_loopback(parts.hostname)):
        return None
    return f"is not https ({PLAIN_HTTP_HELP})"


_KNOWN_FIELDS = {
    "id",
    "name",
    "kind",
    "server_url",
    "tenant",
    "client_id",
    "client_secret",
    "allowed_tenants",
    "allowed_domains",
    "groups_claim",
    "scope",
}


@dataclass(frozen=True)
class SsoProvider:
    """One configured identity provider. ``client_secret`` is never logged, rendered or audited."""

    id: str
    name: str
    kind: str
    server_url: str
    client_id: str
    client_secret: str = field(repr=False)
    allowed_tenants: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    groups_claim: str = "groups"
    scope: tuple[str, ...] = ("openid", "profile", "email")


def _text(entry: dict[str, Any], name: str, where: str, *, required: bool = True) -> str:
    value = entry.get(name, "")
    if not isinstance(value, str):
        raise ValidationError(f"{where}: “{name}” must be a string.")
    value = value.strip()
    if required and not value:
        raise ValidationError(f"{where}: “{name}” is required.")
    return value


def _texts(entry: dict[str, Any], name: str, where: str) -> tuple[str, ...]:
    value = entry.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ValidationError(f"{where}: “{name}” must be a list of non-empty strings.")
    return tuple(item.strip() for item in value)


def _server_url(entry: dict[str, Any], kind: str, where: str) -> tuple[str, tuple[str, ...]]:
    """The issuer URL and, for Entra, the default tenant allow-list (the tenant itself)."""
    server_url = _text(entry, "server_url", where, required=False)
    tenant = _text(entry, "tenant", where, required=False)
    if kind == "entra":
        if not server_url and not tenant:
            raise ValidationError(f"{where}: an “entra” provider needs “tenant” (the directory/tenant id).")
        if tenant in {"common", "organizations", "consumers"}:
            raise ValidationError(
                f"{where}: “tenant” must be one directory id, not “{tenant}”; "
                "register one provider per tenant so the issuer can be checked."
            )
        return server_url or f"{ENTRA_AUTHORITY}/{tenant}/v2.0", (tenant,) if tenant else ()
    if kind == "google":
        return server_url or GOOGLE_ISSUER, ()
    if not server_url:
        raise ValidationError(f"{where}: an “oidc” provider needs “server_url” (its issuer URL).")
    return server_url, ()


def _check_issuer(server_url: str, where: str, plain_http: PlainHttp) -> None:
    """The issuer URL: https (see :class:`PlainHttp`), no query or fragment, not its discovery document's URL."""
    try:
        parts = urlsplit(server_url)
    except ValueError:
        raise ValidationError(f"{where}: “server_url” is not a valid URL.") from None
    refusal = transport_refusal(server_url, plain_http)
    if refusal is not None:
        raise ValidationError(f"{where}: “server_url” {refusal}.")
    if parts.query or parts.fragment or "/.well-known/" in f"{parts.path}/":
        raise ValidationError(
            f"{where}: “server_url” must be the issuer URL itself (no query, fragment or /.well-known/ part)."
        )


def parse_providers(raw: Any, *, plain_http: PlainHttp = PlainHttp.NEVER) -> list[SsoProvider]:
    """Validate the decoded ``PORTAL_SSO_PROVIDERS`` value; raise :class:`ValidationError` naming the fault.

    ``plain_http`` says which issuers may be plain http (:func:`plain_http_policy`); by default none.
    """
    if not isinstance(raw, list):
        raise ValidationError('must be a JSON list of providers, e.g. [{"id": "entra", …}].')
    providers: list[SsoProvider] = []
    for index, entry in enumerate(raw):
        where = f"provider {index + 1}"
        if not isinstance(entry, dict):
            raise ValidationError(f"{where}: must be a JSON object.")
        unknown = sorted(set(entry) - _KNOWN_FIELDS)
        if unknown:
            raise ValidationError(f"{where}: unknown field(s) {', '.join(unknown)}.")
        provider_id = _text(entry, "id", where)
        if not _PROVIDER_ID.match(provider_id):
            raise ValidationError(f"{where}: “id” must be lower-case letters, digits and dashes, like “entra”.")
        where = f"provider “{provider_id}”"
        if provider_id in {provider.id for provider in providers}:
            raise ValidationError(f"{where}: the id is used twice.")
        kind = _text(entry, "kind", where)
        if kind not in KINDS:
            raise ValidationError(f"{where}: “kind” must be one of {', '.join(KINDS)}.")
        server_url, default_tenants = _server_url(entry, kind, where)
        _check_issuer(server_url, where, plain_http)
        scope = _texts(entry, "scope", where) or ("openid", "profile", "email")
        providers.append(
            SsoProvider(
                id=provider_id,
                name=_text(entry, "name", where, required=False) or provider_id,
                kind=kind,
                server_url=server_url.rstrip("/"),
                client_id=_text(entry, "client_id", where),
                client_secret=_text(entry, "client_secret", where),
                allowed_tenants=_texts(entry, "allowed_tenants", where) or default_tenants,
                allowed_domains=tuple(domain.lower() for domain in _texts(entry, "allowed_domains", where)),
                groups_claim=_text(entry, "groups_claim", where, required=False) or "groups",
                scope=scope,
            )
        )
    return providers


def providers_validator(plain_http: PlainHttp) -> Any:
    """environs' validator for ``PORTAL_SSO_PROVIDERS``: errors join the start-up report."""

    def validate_providers(raw: Any) -> None:
        parse_providers(raw, plain_http=plain_http)

    return validate_providers


def allauth_apps(providers: list[SsoProvider]) -> list[dict[str, Any]]:
    """``SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"]`` for the configured providers."""
    return [
        {
            "provider_id": provider.id,
            "name": provider.name,
            "client_id": provider.client_id,
            "secret": provider.client_secret,
            "settings": {
                "server_url": provider.server_url,
                "kind": provider.kind,
                "allowed_tenants": list(provider.allowed_tenants),
                "allowed_domains": list(provider.allowed_domains),
                "groups_claim": provider.groups_claim,
                "scope": list(provider.scope),
                # PKCE on every flow: a stolen authorisation code is useless without the verifier.
                "oauth_pkce_enabled": True,
            },
        }
        for provider in providers
    ]


def form_action_origins(providers: list[SsoProvider]) -> list[str]:
    """The issuers' origins: signing in with a provider is a form POST answered by a redirect there,
    which a Content Security Policy's ``form-action`` must allow (the authorisation endpoint of
    Entra ID, Google, Okta and Keycloak lives on the issuer's host)."""
    origins: list[str] = []
    for provider in providers:
        url = urlsplit(provider.server_url)
        origin = f"{url.scheme}://{url.netloc}"
        if origin not in origins:
            origins.append(origin)
    return origins
