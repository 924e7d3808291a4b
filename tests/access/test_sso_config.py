"""SSO providers come from ``PORTAL_SSO_PROVIDERS`` (or a file), are checked at start-up, and keep their secrets."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from marshmallow import ValidationError

from access.sso import PlainHttp, allauth_apps, parse_providers
from tests.test_settings import PRODUCTION, assert_refused, manage

SECRET = "do-not-show-this-secret"

ENTRA = {
    "id": "entra",
    "name": "Microsoft",
    "kind": "entra",
    "tenant": "tenant-1",
    "client_id": "a",
    "client_secret": SECRET,
}
GOOGLE = {
    "id": "google",
    "kind": "google",
    "client_id": "b",
    "client_secret": SECRET,
    "allowed_domains": ["Example.com"],
}
OKTA = {
    "id": "okta",
    "kind": "oidc",
    "server_url": "https://example.okta.com/",
    "client_id": "c",
    "client_secret": SECRET,
}


def test_an_entra_provider_gets_its_tenants_issuer_and_only_that_tenant() -> None:
    [provider] = parse_providers([ENTRA])

    assert provider.server_url == "https://login.microsoftonline.com/tenant-1/v2.0"
    assert provider.allowed_tenants == ("tenant-1",)


def test_a_google_provider_uses_googles_issuer_and_lower_cases_the_domains() -> None:
    [provider] = parse_providers([GOOGLE])

    assert provider.server_url == "https://accounts.google.com"
    assert provider.allowed_domains == ("example.com",)


def test_an_oidc_provider_becomes_an_allauth_app_with_pkce() -> None:
    [app] = allauth_apps(parse_providers([OKTA]))

    assert app["provider_id"] == "okta"
    assert app["secret"] == SECRET
    assert app["settings"]["server_url"] == "https://example.okta.com"
    assert app["settings"]["oauth_pkce_enabled"] is True


def test_the_secret_stays_out_of_the_providers_repr() -> None:
    assert SECRET not in repr(parse_providers([ENTRA, GOOGLE, OKTA]))


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"id": "x"}, "must be a JSON list"),
        ([{**OKTA, "kind": "saml"}], "“kind” must be one of entra, google, oidc"),
        ([{**OKTA, "server_url": ""}], "needs “server_url”"),
        ([{**ENTRA, "tenant": ""}], "needs “tenant”"),
        ([{**ENTRA, "tenant": "common"}], "one directory id"),
        ([{**OKTA, "client_secret": ""}], "“client_secret” is required"),
        ([OKTA, OKTA], "the id is used twice"),
        ([{**OKTA, "clientid": "c"}], "unknown field(s) clientid"),
        ([{**OKTA, "id": "Has Spaces"}], "lower-case letters"),
        ([{**GOOGLE, "allowed_domains": "example.com"}], "must be a list"),
        ([{**OKTA, "server_url": "ftp://example.com"}], "“server_url” is not an https URL"),
        ([{**OKTA, "server_url": "https://"}], "“server_url” is not an https URL"),
        (
            [{**OKTA, "server_url": "https://example.okta.com/.well-known/openid-configuration"}],
            "must be the issuer URL itself",
        ),
        ([{**OKTA, "server_url": "https://example.okta.com/?tenant=a"}], "must be the issuer URL itself"),
    ],
)
def test_a_malformed_provider_is_refused_naming_the_fault(entries: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_providers(entries)


def test_a_bad_provider_list_stops_the_start_with_a_configuration_error_and_no_secret() -> None:
    bad = json.dumps([{**OKTA, "server_url": "ftp://example.com"}])

    result = manage("check", environment={**PRODUCTION, "PORTAL_SSO_PROVIDERS": bad})

    assert_refused(result, "PORTAL_SSO_PROVIDERS: provider “okta”: “server_url” is not an https URL.")
    assert SECRET not in result.stderr


# --- plain http issuers: development only, or on this machine when asked for ------------------

LOOPBACK_ISSUERS = [
    "http://127.0.0.1:8080/o",
    "http://127.9.9.9/o",
    "http://localhost:8080/realms/portal",
    "http://[::1]:8080",
]
REMOTE_HTTP_ISSUERS = ["http://example.okta.com", "http://10.0.0.5:8080/o", "http://127.0.0.1.example.com/o"]


@pytest.mark.parametrize("server_url", [*LOOPBACK_ISSUERS, *REMOTE_HTTP_ISSUERS])
def test_a_plain_http_issuer_is_refused_by_default(server_url: str) -> None:
    with pytest.raises(ValidationError, match="“server_url” is not https"):
        parse_providers([{**OKTA, "server_url": server_url}])


@pytest.mark.parametrize("server_url", LOOPBACK_ISSUERS)
def test_the_loopback_opt_in_allows_a_plain_http_issuer_on_this_machine(server_url: str) -> None:
    [provider] = parse_providers([{**OKTA, "server_url": server_url}], plain_http=PlainHttp.LOOPBACK)

    assert provider.server_url == server_url


@pytest.mark.parametrize("server_url", REMOTE_HTTP_ISSUERS)
def test_the_loopback_opt_in_still_refuses_a_plain_http_issuer_elsewhere(server_url: str) -> None:
    with pytest.raises(ValidationError, match="PORTAL_SSO_ALLOW_HTTP_LOOPBACK_ISSUERS"):
        parse_providers([{**OKTA, "server_url": server_url}], plain_http=PlainHttp.LOOPBACK)


def test_a_plain_http_issuer_stops_a_production_start_with_a_configuration_error() -> None:
    plain = json.dumps([{**OKTA, "server_url": "http://example.okta.com"}])

    result = manage("check", environment={**PRODUCTION, "PORTAL_SSO_PROVIDERS": plain})

    assert_refused(
        result,
        "PORTAL_SSO_PROVIDERS: provider “okta”: “server_url” is not https (plain http is allowed only with "
        "PORTAL_DEBUG, or for an issuer on this machine's loopback address with "
        "PORTAL_SSO_ALLOW_HTTP_LOOPBACK_ISSUERS).",
    )
    assert SECRET not in result.stderr


def _configured_issuers(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; "
        "print([app['settings']['server_url'] for app in settings.SOCIALACCOUNT_PROVIDERS['openid_connect']['APPS']])",
        environment=environment,
    )


def test_a_plain_http_issuer_is_allowed_in_debug() -> None:
    plain = json.dumps([{**OKTA, "server_url": "http://keycloak:8080/realms/portal"}])

    result = _configured_issuers({**PRODUCTION, "PORTAL_DEBUG": "true", "PORTAL_SSO_PROVIDERS": plain})

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['http://keycloak:8080/realms/portal']"


def test_the_loopback_opt_in_lets_production_use_a_plain_http_issuer_on_this_machine_only() -> None:
    opted_in = {**PRODUCTION, "PORTAL_SSO_ALLOW_HTTP_LOOPBACK_ISSUERS": "true"}
    loopback = json.dumps([{**OKTA, "server_url": "http://127.0.0.1:9000/o"}])
    remote = json.dumps([{**OKTA, "server_url": "http://idp.example.com/o"}])

    allowed = _configured_issuers({**opted_in, "PORTAL_SSO_PROVIDERS": loopback})
    refused = manage("check", environment={**opted_in, "PORTAL_SSO_PROVIDERS": remote})

    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.strip().splitlines()[-1] == "['http://127.0.0.1:9000/o']"
    assert_refused(refused, "PORTAL_SSO_PROVIDERS: provider “okta”: “server_url” is not https")


def test_providers_can_be_read_from_a_file(tmp_path: Path) -> None:
    providers = tmp_path / "sso.json"
    providers.write_text(json.dumps([ENTRA, OKTA]))

    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; "
        "print([app['provider_id'] for app in settings.SOCIALACCOUNT_PROVIDERS['openid_connect']['APPS']])",
        environment={**PRODUCTION, "PORTAL_SSO_PROVIDERS_FILE": str(providers)},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['entra', 'okta']"


@pytest.mark.django_db
def test_the_sign_in_page_offers_each_provider_by_name_and_never_shows_a_secret(client: Client, settings: Any) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"APPS": allauth_apps(parse_providers([ENTRA, OKTA]))}}

    content = client.get("/accounts/login/").content.decode()

    assert "Sign in with Microsoft" in content
    assert "Sign in with okta" in content
    assert 'action="/accounts/oidc/entra/login/?process=login"' in content
    assert 'action="/accounts/oidc/okta/login/?process=login"' in content
    assert SECRET not in content
