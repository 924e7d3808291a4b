from __future__ import annotations

from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator


class ClaimsValidator(OAuth2Validator):
    """Asserts exactly the claims the test set for the user, in the ID token and at userinfo."""

    # Every claim, whatever the scope: the tests decide what the IdP says.
    oidc_claim_scope = None

    def get_claim_dict(self, request: Any) -> dict[str, Any]:
        identity = getattr(request.user, "identity", None)
        claims = dict(identity.claims) if identity is not None else {}
        claims.setdefault("sub", str(request.user.pk))
        return claims
