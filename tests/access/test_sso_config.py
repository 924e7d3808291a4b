"""SSO providers come from ``PORTAL_SSO_PROVIDERS`` (or a file), are checked at start-up, and keep their secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from marshmallow import ValidationError

from access.sso import allauth_apps, parse_providers
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
    ],
)
def test_a_malformed_provider_is_refused_naming_the_fault(entries: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_providers(entries)


def test_a_bad_provider_list_stops_the_start_with_a_configuration_error_and_no_secret() -> None:
    bad = json.dumps([{**OKTA, "server_url": "ftp://example.com"}])

    result = manage("check", environment={**PRODUCTION, "PORTAL_SSO_PROVIDERS": bad})

    assert_refused(result, "PORTAL_SSO_PROVIDERS: provider “okta”: “server_url” must be an http(s) URL.")
    assert SECRET not in result.stderr


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
