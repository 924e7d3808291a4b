"""The rules :mod:`access.oidc` applies to an identity provider's answer, case by case.

The end-to-end tests (``test_sso_id_tokens.py``) drive the real test IdP; these
pin the cases it cannot easily produce: other algorithms and key types, key
selection, each claim check, the discovery document and the RFC 9207 rules.
"""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.test import RequestFactory

from access.oidc import AnswerRefused, check_authorization_response_issuer, check_discovery, verify_id_token
from access.sso import PlainHttp

ISSUER = "https://idp.example.com"
CLIENT_ID = "portal"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwk(key: Any, **fields: Any) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
    return {**json.loads(algorithm.to_jwk(key.public_key())), **fields}


JWKS = {"keys": [jwk(RSA_KEY, kid="rsa-1", alg="RS256", use="sig"), jwk(EC_KEY, kid="ec-1", use="sig")]}


def token(*, key: Any = RSA_KEY, algorithm: str = "RS256", kid: str | None = "rsa-1", **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "person-1", "aud": CLIENT_ID, "iat": now, "exp": now + 300, **overrides}
    claims = {name: value for name, value in claims.items() if value is not None}
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def verify(id_token: str, keys: dict[str, Any] = JWKS) -> dict[str, Any]:
    return verify_id_token(id_token, keys=keys, issuer=ISSUER, client_id=CLIENT_ID)


def refused(id_token: str, keys: dict[str, Any] = JWKS) -> str:
    with pytest.raises(AnswerRefused) as refusal:
        verify(id_token, keys)
    return refusal.value.reason


# --- the ID token --------------------------------------------------------------------


def test_a_token_signed_with_a_published_rsa_key_gives_its_claims() -> None:
    assert verify(token())["sub"] == "person-1"


def test_a_token_signed_with_a_published_ec_key_gives_its_claims() -> None:
    assert verify(token(key=EC_KEY, algorithm="ES256", kid="ec-1"))["sub"] == "person-1"


def test_an_unsigned_token_is_refused() -> None:
    unsigned = jwt.encode({"iss": ISSUER, "sub": "x", "aud": CLIENT_ID}, key="", algorithm="none")

    assert refused(unsigned) == "the ID token is not signed with a key of the issuer (alg 'none')"


def test_a_token_signed_with_the_client_secret_is_refused() -> None:
    """HS256 proves only that someone knew the client secret; the portal wants the issuer's key."""
    assert "alg 'HS256'" in refused(token(key="test-idp-client-secret-long-enough-for-hs256", algorithm="HS256"))


def test_a_token_signed_with_another_key_under_a_published_kid_is_refused() -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    assert "signature does not verify with the issuer's key 'rsa-1'" in refused(token(key=stranger))


def test_a_token_naming_an_unpublished_kid_is_refused() -> None:
    assert refused(token(kid="rotated-away")) == "the ID token's key 'rotated-away' is not in the issuer's JWKS"


def test_a_token_without_kid_uses_the_issuers_only_signing_key() -> None:
    assert verify(token(kid=None), {"keys": [jwk(RSA_KEY)]})["sub"] == "person-1"


def test_a_token_without_kid_is_refused_when_the_issuer_publishes_several_keys() -> None:
    assert "matches 2 keys" in refused(token(kid=None))


def test_an_encryption_key_is_never_used_to_verify() -> None:
    assert "not in the issuer's JWKS" in refused(token(), {"keys": [jwk(RSA_KEY, kid="rsa-1", use="enc")]})


def test_a_token_whose_algorithm_differs_from_its_keys_is_refused() -> None:
    assert "is for 'RS256', the ID token says 'PS256'" in refused(token(algorithm="PS256"))


def test_a_key_of_another_type_than_the_algorithm_is_refused() -> None:
    assert "cannot verify 'RS256'" in refused(token(kid="ec-1"))


@pytest.mark.parametrize(
    ("overrides", "reason_words"),
    [
        pytest.param({"iss": "https://other.example.com"}, "Invalid issuer", id="issuer"),
        pytest.param({"aud": "another-client"}, "Audience doesn't match", id="audience"),
        pytest.param({"exp": int(time.time()) - 3600}, "Signature has expired", id="expired"),
        pytest.param({"iat": None}, 'missing the "iat" claim', id="no-issue-time"),
        pytest.param({"sub": None}, 'missing the "sub" claim', id="no-subject"),
    ],
)
def test_a_token_with_a_wrong_or_missing_claim_is_refused(overrides: dict[str, Any], reason_words: str) -> None:
    assert reason_words in refused(token(**overrides))


def test_a_token_issued_to_another_authorised_party_is_refused() -> None:
    assert "(azp), not to this portal" in refused(token(azp="another-client"))


def test_a_token_for_several_audiences_needs_the_portal_as_authorised_party() -> None:
    assert "several audiences and no authorised party" in refused(token(aud=[CLIENT_ID, "api"]))
    assert verify(token(aud=[CLIENT_ID, "api"], azp=CLIENT_ID))["azp"] == CLIENT_ID


# --- the discovery document ------------------------------------------------------------------


def discovery(**overrides: Any) -> dict[str, Any]:
    document = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/jwks",
        "userinfo_endpoint": f"{ISSUER}/userinfo",
        **overrides,
    }
    return {name: value for name, value in document.items() if value is not None}


@pytest.fixture
def https_only(settings: Any) -> None:
    settings.SSO_PLAIN_HTTP = PlainHttp.NEVER


def test_the_configured_issuers_discovery_document_passes(https_only: None) -> None:
    check_discovery(discovery(), issuer=ISSUER)
    check_discovery(discovery(issuer=f"{ISSUER}/", userinfo_endpoint=None), issuer=ISSUER)


@pytest.mark.parametrize(
    ("overrides", "reason_words"),
    [
        pytest.param(
            {"issuer": "https://evil.example.com"}, "names the issuer 'https://evil.example.com'", id="issuer"
        ),
        pytest.param({"jwks_uri": None}, "has no jwks_uri", id="no-jwks"),
        pytest.param({"token_endpoint": "http://idp.example.com/token"}, "token endpoint", id="http-token-endpoint"),
        pytest.param({"jwks_uri": "http://idp.example.com/jwks"}, "jwks uri", id="http-jwks"),
        pytest.param({"userinfo_endpoint": "http://idp.example.com/me"}, "userinfo endpoint", id="http-userinfo"),
    ],
)
def test_a_discovery_document_of_another_issuer_or_with_plain_http_endpoints_is_refused(
    https_only: None, overrides: dict[str, Any], reason_words: str
) -> None:
    with pytest.raises(AnswerRefused, match=reason_words):
        check_discovery(discovery(**overrides), issuer=ISSUER)


# --- the authorisation response's iss parameter (RFC 9207) --------------------------------


@pytest.mark.parametrize(
    ("query", "advertised", "refusal"),
    [
        pytest.param({"iss": ISSUER}, True, None, id="named-advertised"),
        pytest.param({"iss": ISSUER}, False, None, id="named-not-advertised"),
        pytest.param({}, False, None, id="absent-not-advertised"),
        pytest.param({}, True, "names no issuer", id="absent-advertised"),
        pytest.param({"iss": f"{ISSUER}/"}, True, "names the issuer", id="not-the-same-string"),
        pytest.param({"iss": "https://evil.example.com"}, False, "names the issuer", id="other-not-advertised"),
    ],
)
def test_the_authorisation_response_must_name_the_issuer_it_came_from(
    query: dict[str, str], advertised: bool, refusal: str | None
) -> None:
    request = RequestFactory().get("/accounts/oidc/idp/login/callback/", {"code": "c", "state": "s", **query})
    config = {"issuer": ISSUER, "authorization_response_iss_parameter_supported": advertised}

    if refusal:
        with pytest.raises(AnswerRefused, match=refusal):
            check_authorization_response_issuer(request, config)
    else:
        check_authorization_response_issuer(request, config)
