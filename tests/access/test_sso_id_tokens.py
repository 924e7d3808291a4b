"""What the portal trusts in an identity provider's answer: a verified ID token, from its issuer, over https.

The ID token arrives from the token endpoint; allauth would skip its signature
there. The portal verifies every ID token against the issuer's published keys
(JWKS), so an unsigned or forged one signs nobody in, and it checks the RFC
9207 ``iss`` parameter of the authorisation response. The IdP is the real
OpenID Connect provider process of the tests (``tests/idp``), told by its
control endpoint to answer as a broken or hostile one would.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
import requests
from allauth.socialaccount.models import SocialAccount

from access.audit import services as audit
from access.models import AuditEvent, User
from access.sso import PlainHttp
from tests.access.conftest import IdentityProvider, SsoPortal

pytestmark = pytest.mark.django_db(transaction=True)

NOT_VERIFIED = "could not verify your identity provider"


def assert_answer_refused(response: requests.Response, reason_words: str) -> None:
    """A clear page, nobody signed in or created, and the audit log saying why."""
    assert response.status_code == 403, (response.status_code, response.url, response.text[:500])
    assert NOT_VERIFIED in response.text
    assert "Traceback" not in response.text
    assert not User.objects.exists()
    assert not SocialAccount.objects.exists()
    assert not AuditEvent.objects.filter(verb=audit.SIGN_IN).exists()
    failed = AuditEvent.objects.filter(verb=audit.SIGN_IN_FAILED).latest("pk")
    assert reason_words in failed.extra["reason"], failed.extra["reason"]


def sign_in(sso: SsoPortal, idp: IdentityProvider, **claims: Any) -> requests.Response:
    return sso.sign_in(idp.person(email="pat@example.com", email_verified=True, **claims))


def test_an_id_token_signed_with_the_issuers_published_key_signs_in(sso: SsoPortal, idp: IdentityProvider) -> None:
    browser, callback = sso.start_sign_in(idp.person(email="pat@example.com", email_verified=True))
    assert f"iss={quote(idp.issuer, safe='')}" in callback, "the IdP names itself (RFC 9207)"

    response = browser.get(callback, timeout=30)

    assert response.status_code == 200
    assert response.url == f"{sso.url}/"
    assert SocialAccount.objects.get().user.email == "pat@example.com"


@pytest.mark.parametrize(
    ("forgery", "reason_words"),
    [
        pytest.param("unsigned", "alg 'none'", id="alg-none"),
        pytest.param("stranger-key", "signature does not verify", id="other-key-under-the-issuers-kid"),
        pytest.param("stranger-kid", "not in the issuer's JWKS", id="other-key-under-its-own-kid"),
    ],
)
def test_an_id_token_not_signed_by_the_issuer_is_refused(
    sso: SsoPortal, idp: IdentityProvider, forgery: str, reason_words: str
) -> None:
    idp.behave(id_token=forgery)

    response = sign_in(sso, idp)

    assert_answer_refused(response, reason_words)


def test_an_authorisation_response_naming_another_issuer_is_refused(sso: SsoPortal, idp: IdentityProvider) -> None:
    idp.behave(iss_parameter="other")

    response = sign_in(sso, idp)

    assert_answer_refused(response, "names the issuer 'https://other-issuer.example'")


def test_a_wrong_issuer_is_refused_even_from_a_provider_that_does_not_advertise_the_parameter(
    sso: SsoPortal, idp: IdentityProvider
) -> None:
    idp.behave(iss_parameter="other", advertises_iss_parameter=False)

    response = sign_in(sso, idp)

    assert_answer_refused(response, "names the issuer 'https://other-issuer.example'")


def test_a_provider_that_advertises_the_iss_parameter_must_send_it(sso: SsoPortal, idp: IdentityProvider) -> None:
    idp.behave(iss_parameter="absent")

    response = sign_in(sso, idp)

    assert_answer_refused(response, "names no issuer")


def test_a_provider_that_does_not_advertise_the_iss_parameter_may_leave_it_out(
    sso: SsoPortal, idp: IdentityProvider
) -> None:
    idp.behave(iss_parameter="absent", advertises_iss_parameter=False)

    response = sign_in(sso, idp)

    assert response.status_code == 200
    assert SocialAccount.objects.exists()


def test_a_plain_http_issuer_is_refused_before_anyone_is_sent_to_it(
    sso: SsoPortal, idp: IdentityProvider, settings: Any
) -> None:
    """The settings check refuses it at start; this is the same rule for an app allauth finds elsewhere."""
    settings.SSO_PLAIN_HTTP = PlainHttp.NEVER
    browser = requests.Session()
    browser.get(f"{sso.url}/accounts/login/", timeout=10)

    response = sso.click_sign_in(browser)

    assert not response.url.startswith(idp.url), "the portal sent the browser to a plain-http issuer"
    assert_answer_refused(response, "is not https")
