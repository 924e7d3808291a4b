"""A real OpenID Connect provider (tests/idp) in its own process, and a browser-less way to sign in through it."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import psycopg
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from access.sso import allauth_apps, parse_providers
from portal.devstack import free_port, listens, stop
from tests.helpers import database_url

ROOT = Path(__file__).resolve().parent.parent.parent
PROVIDER_ID = "test-idp"
CLIENT_ID = "portal"


@dataclass
class IdentityProvider:
    """The running identity provider: its issuer URL and its control endpoints."""

    url: str
    control_token: str = field(repr=False)

    @property
    def issuer(self) -> str:
        return f"{self.url}/o"

    def control(self, what: str, body: dict[str, Any]) -> None:
        response = requests.post(
            f"{self.url}/control/{what}", json=body, headers={"X-Control-Token": self.control_token}, timeout=10
        )
        response.raise_for_status()

    def behave(self, **behaviour: Any) -> None:
        """How the IdP answers from now on (``tests.idp.models.Behaviour``); nothing given: by the protocol."""
        self.control("behaviour", behaviour)

    def person(self, **claims: Any) -> IdpPerson:
        """A new IdP user asserting ``claims`` (``sub`` defaults to a fresh id)."""
        username = f"person-{uuid.uuid4().hex[:10]}"
        person = IdpPerson(idp=self, username=username, password=secrets.token_urlsafe(12), claims={})
        person.set_claims(**{"sub": uuid.uuid4().hex, **claims})
        return person


@dataclass
class IdpPerson:
    idp: IdentityProvider
    username: str
    password: str
    claims: dict[str, Any]

    def set_claims(self, **claims: Any) -> None:
        """What the IdP says about this person from now on (its administrator changed something)."""
        self.claims = claims
        self.idp.control("identities", {"username": self.username, "password": self.password, "claims": claims})

    def update_claims(self, **changes: Any) -> None:
        self.set_claims(**{**self.claims, **changes})


def _fresh_database(name: str) -> str:
    with psycopg.connect(database_url("postgres"), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return database_url(name)


def _rsa_private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="session")
def idp(django_db_setup: None, django_db_blocker: Any) -> Iterator[IdentityProvider]:
    """The test IdP, once per xdist worker: own PostgreSQL database, fresh RS256 key, loopback port."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    database_name = f"test_idp_{worker}"
    with django_db_blocker.unblock():
        idp_database_url = _fresh_database(database_name)
    control_token = secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.idp.settings",
        "IDP_DATABASE_URL": idp_database_url,
        "IDP_SECRET_KEY": secrets.token_urlsafe(40),
        "IDP_CONTROL_TOKEN": control_token,
        "IDP_RSA_PRIVATE_KEY": _rsa_private_key(),
    }
    subprocess.run([sys.executable, "-m", "django", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "tests.idp.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--threads",
            "4",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        if not listens(port, process, timeout=30):
            pytest.fail("the test identity provider did not start")
        yield IdentityProvider(url=f"http://127.0.0.1:{port}", control_token=control_token)
    finally:
        stop([process])
        with django_db_blocker.unblock(), psycopg.connect(database_url("postgres"), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)')


def provider_config(idp: IdentityProvider, **overrides: Any) -> dict[str, Any]:
    """One ``PORTAL_SSO_PROVIDERS`` entry for the test IdP (an "oidc" one unless overridden)."""
    return {
        "id": PROVIDER_ID,
        "name": "Test IdP",
        "kind": "oidc",
        "server_url": idp.issuer,
        "client_id": CLIENT_ID,
        "client_secret": "test-idp-client-secret",
        **overrides,
    }


@pytest.fixture
def sso(idp: IdentityProvider, live_server: Any, settings: Any) -> SsoPortal:
    """The portal under test (``live_server``) with the test IdP as its one SSO provider."""
    portal = SsoPortal(idp=idp, url=live_server.url, settings=settings)
    portal.configure()
    idp.behave()
    return portal


@dataclass
class SsoPortal:
    idp: IdentityProvider
    url: str
    settings: Any

    def configure(self, **overrides: Any) -> None:
        config = provider_config(self.idp, **overrides)
        # The test IdP speaks plain http on 127.0.0.1, which the test settings allow (a loopback issuer).
        providers = parse_providers([config], plain_http=self.settings.SSO_PLAIN_HTTP)
        self.settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"APPS": allauth_apps(providers)}}
        self.idp.control(
            "clients",
            {
                "client_id": config["client_id"],
                "client_secret": config["client_secret"],
                "redirect_uris": [f"{self.url}/accounts/oidc/{PROVIDER_ID}/login/callback/"],
            },
        )

    def start_sign_in(self, person: IdpPerson) -> tuple[requests.Session, str]:
        """Click "Sign in with Test IdP" and sign in at the IdP; return the callback URL it sends us back to."""
        browser = requests.Session()
        browser.get(f"{self.url}/accounts/login/", timeout=10).raise_for_status()
        response = self.click_sign_in(browser)
        response.raise_for_status()
        assert response.url.startswith(f"{self.idp.url}/login/"), response.url
        return browser, self.sign_in_at_the_idp(browser, response, person)

    def click_sign_in(self, browser: requests.Session, *, process: str = "login") -> requests.Response:
        """POST the portal's "Sign in with Test IdP" form (``process`` as its URL says); follows redirects."""
        return browser.post(
            f"{self.url}/accounts/oidc/{PROVIDER_ID}/login/?process={process}",
            data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]},
            timeout=10,
        )

    def sign_in_at_the_idp(self, browser: requests.Session, login_page: requests.Response, person: IdpPerson) -> str:
        """Fill in the IdP's sign-in page as ``person``; return the callback URL the IdP sends us back to."""
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text)
        next_url = re.search(r'name="next" value="([^"]+)"', login_page.text)
        assert token is not None, login_page.text
        assert next_url is not None, login_page.text
        response = browser.post(
            f"{self.idp.url}/login/",
            data={
                "csrfmiddlewaretoken": token.group(1),
                "username": person.username,
                "password": person.password,
                "next": next_url.group(1).replace("&amp;", "&"),
            },
            allow_redirects=False,
            timeout=10,
        )
        # Follow the IdP's own redirects by hand, up to the one that leaves for the portal.
        while response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(self.url):
                return location
            response = browser.get(location, allow_redirects=False, timeout=10)
        raise AssertionError(
            f"the IdP did not send us back to the portal: {response.status_code} {response.text[:500]}"
        )

    def sign_out_at_the_idp(self, browser: requests.Session) -> None:
        """Drop the IdP's session cookies, so the IdP asks again who is signing in (the portal's stay)."""
        idp_host = urlsplit(self.idp.url).hostname
        for cookie in [cookie for cookie in browser.cookies if cookie.domain == idp_host]:
            browser.cookies.clear(cookie.domain, cookie.path, cookie.name)

    def link(self, browser: requests.Session, person: IdpPerson) -> requests.Response:
        """As the person signed in to ``browser``, ask to link ``person``'s IdP identity to their account
        (allauth's ``?process=connect``); if the portal sends us to the IdP, sign in there as ``person`` and
        come back. The last page the portal shows."""
        self.sign_out_at_the_idp(browser)
        response = self.click_sign_in(browser, process="connect")
        went_to_the_idp = response.url.startswith(f"{self.idp.url}/login/")
        if went_to_the_idp:
            response = browser.get(self.sign_in_at_the_idp(browser, response, person), timeout=30)
        response.went_to_the_idp = went_to_the_idp  # type: ignore[attr-defined]
        return response

    def sign_in_locally(self, username: str, password: str) -> requests.Session:
        """A browser signed in with a local account's username and password."""
        browser = requests.Session()
        browser.get(f"{self.url}/accounts/login/", timeout=10).raise_for_status()
        response = browser.post(
            f"{self.url}/accounts/login/",
            data={"csrfmiddlewaretoken": browser.cookies["csrftoken"], "login": username, "password": password},
            timeout=10,
        )
        assert response.status_code == 200, response.text[:500]
        assert response.url == f"{self.url}/", response.url
        return browser

    def sign_in(self, person: IdpPerson) -> requests.Response:
        """The whole SSO sign-in as a browser does it; the last page the portal shows."""
        browser, callback = self.start_sign_in(person)
        response = browser.get(callback, timeout=30)
        response.browser = browser  # type: ignore[attr-defined]
        return response
