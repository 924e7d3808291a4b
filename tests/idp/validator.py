from __future__ import annotations

import base64
import json
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from oauth2_provider.oauth2_validators import OAuth2Validator

from tests.idp.models import Behaviour

# A key of nobody's: what a forger signs with. Made once per IdP process; never in the JWKS.
STRANGER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
STRANGER_KID = "stranger"


def _segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def forge(id_token: str, how: str) -> str:
    """The ID token the IdP signed, re-issued as ``how`` says (see :class:`Behaviour.IdToken`)."""
    if how == Behaviour.IdToken.UNSIGNED:
        _header, payload, _signature = id_token.split(".")
        return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{payload}."
    claims = jwt.decode(id_token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(id_token)["kid"] if how == Behaviour.IdToken.STRANGER_KEY else STRANGER_KID
    return jwt.encode(claims, STRANGER_KEY, algorithm="RS256", headers={"kid": kid})


class ClaimsValidator(OAuth2Validator):
    """Asserts exactly the claims the test set for the user, in the ID token and at userinfo."""

    # Every claim, whatever the scope: the tests decide what the IdP says.
    oidc_claim_scope = None

    def get_claim_dict(self, request: Any) -> dict[str, Any]:
        identity = getattr(request.user, "identity", None)
        claims = dict(identity.claims) if identity is not None else {}
        claims.setdefault("sub", str(request.user.pk))
        return claims

    def finalize_id_token(self, id_token: Any, token: Any, token_handler: Any, request: Any) -> str:
        """The signed ID token, or the forgery the tests asked for (its claims unchanged)."""
        signed: str = super().finalize_id_token(id_token, token, token_handler, request)
        how = Behaviour.current().id_token
        return signed if how == Behaviour.IdToken.SIGNED else forge(signed, how)
